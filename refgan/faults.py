"""Deliberately wrong implementations of the penalties: the known faults of penalty code.

Each fault computes the same outputs as refgan.conformance.compute_case, with one mistake
that public implementations have made (a per-sample norm taken over the batch, the gradient of
sigmoid(v) instead of the logit, gamma instead of gamma/2, ...). `diagnose` names the faults
whose outputs reproduce an implementation's numbers; `refgan verify` uses it to say what is
wrong, not only that something is.

Nothing in refgan's correct path imports this module. Each fault is a `Recipe`: the correct
computation, written out once below with every piece a fault can change, with one piece
changed. Recipe() itself reproduces compute_case (tests/test_faults.py checks it).
"""
from dataclasses import dataclass, replace
from typing import Callable, Tuple

import autograd.numpy as np
import numpy as onp
from autograd import make_vjp
from autograd.tracer import getval

from .conformance import (FLOOR, KINDS, OUTPUT_FIELDS, RTOL, check_kind, compute_case,
                          critic_for, flat_values, output_scales, param_grads,
                          read_inputs, within_tolerance)
from .divergences import get_divergence, sigmoid, softplus

EPSILON = 1e-12  # the value most often added inside sqrt(sum g^2 + eps) in public code


def half(gamma):
    return 0.5 * gamma


@dataclass(frozen=True)
class Recipe:
    """How an implementation computes the outputs; the defaults are the correct choices.

    differentiate   what is differentiated with respect to x: 'logit' v, 'sigmoid' D(v),
                    'activation' g_f(v), or 'loss' (the batch-mean loss term of each sample)
    first_only      only the first sample's output is differentiated
    norm            'sample' (one |g_i|^2 per sample over all non-batch axes), 'batch' (one
                    squared norm of the whole batch's gradient), 'sum' (|sum_i g_i|^2), or
                    'channels' (sum over axis 1 only, then the mean over the remaining axes)
    epsilon         added inside the norm: sqrt(|g|^2 + eps)^2
    via_sqrt        |g|^2 computed as sqrt(|g|^2)^2 (a NaN gradient where g = 0)
    js_weights      'paper' ((1-D)^2 on P, D^2 on Q), 'swapped', or 'direct' (D(1-D) on both)
    other_set       R1 / R2 / Omega_f evaluated on the other batch
    broadcast       (n, 1) weights times (n,) norms: the mean of an (n, n) matrix
    detach          |g|^2 treated as a constant when differentiating with respect to params
    coefficient     the penalty's factor in the loss, a function of gamma
    conjugate       'stable' f*(g_f(v)), 'naive' (the table's formulas composed), or 'raw'
                    (f* applied to the logit v itself)
    sign            g_f(sign * v): -1 is the activation with the wrong sign
    """
    differentiate: str = "logit"
    first_only: bool = False
    norm: str = "sample"
    epsilon: float = 0.0
    via_sqrt: bool = False
    js_weights: str = "paper"
    other_set: bool = False
    broadcast: bool = False
    detach: bool = False
    coefficient: Callable = half
    conjugate: str = "stable"
    sign: float = 1.0


GAN_KINDS = ("js", "r1", "r2")  # their loss is the standard GAN discriminator loss


def _naive_conjugate(div, t):
    """f*(t) by the textbook formula; for the GAN row the unstable -log(1 - exp t)."""
    if div.name == "gan":
        return -np.log(1.0 - np.exp(t))
    return div.conjugate(t)


def _penalty_terms(kind, r):
    """[(batch, weight(v))]: the penalty is the sum over terms of mean(weight(v) * |g|^2)."""
    if kind == "js":
        real, fake = (lambda v: sigmoid(-v) ** 2), (lambda v: sigmoid(v) ** 2)
        if r.js_weights == "swapped":
            real, fake = fake, real
        elif r.js_weights == "direct":
            real = fake = lambda v: sigmoid(v) * sigmoid(-v)
        return [("real", real), ("fake", fake)]
    if kind in ("r1", "r2"):
        terms = [("real" if kind == "r1" else "fake", lambda v: np.ones(np.shape(v)))]
    else:
        div = get_divergence(kind[2:])
        terms = [("fake", lambda v: div.penalty_weight(r.sign * v))]
    if r.other_set:
        terms = [("fake" if side == "real" else "real", w) for side, w in terms]
    return terms


def _differentiated(kind, r, side, n):
    """h with grad_x h(v(x_i)) the 'input gradient' the implementation takes."""
    if r.differentiate == "logit":
        return lambda v: v
    if r.differentiate == "sigmoid":
        return sigmoid
    if kind in GAN_KINDS:  # loss terms of -log D(x_real) and -log(1 - D(x_fake))
        if r.differentiate != "loss":
            raise ValueError(f"differentiate: {r.differentiate!r} needs an f-GAN kind")
        return (lambda v: softplus(-v) / n) if side == "real" else (lambda v: softplus(v) / n)
    div = get_divergence(kind[2:])
    if r.differentiate == "activation":
        return lambda v: div.activation(r.sign * v)
    if side == "real":  # loss terms of -g_f(v) on P and f*(g_f(v)) on Q
        return lambda v: -div.activation(r.sign * v) / n
    return lambda v: div.conjugate_of_activation(r.sign * v) / n


def _input_gradients(critic, params, x, h, first_only):
    n = np.shape(x)[0]
    vjp, _ = make_vjp(lambda x_: h(critic(params, x_)))(x)
    cotangent = onp.eye(n)[0] if first_only else onp.ones(n)
    return vjp(cotangent)


def _squared_norms(g, r):
    n = np.shape(g)[0]
    flat = np.reshape(g, (n, -1))
    if r.norm == "batch":
        s = np.sum(flat ** 2) * onp.ones(n)
    elif r.norm == "sum":
        s = np.sum(np.sum(flat, axis=0) ** 2) * onp.ones(n)
    elif r.norm == "channels" and np.ndim(g) > 2:
        s = np.mean(np.reshape(np.sum(g ** 2, axis=1), (n, -1)), axis=1)
    else:
        s = np.sum(flat ** 2, axis=1)
    if r.via_sqrt:
        s = np.sqrt(s) ** 2
    return s + r.epsilon


def run(recipe, kind, inputs, shared=None):
    """The outputs of compute_case as an implementation following `recipe` computes them.
    `shared`, a dict, keeps the penalty part between recipes that differ only in the loss
    (the coefficient or the conjugate) for the same kind and inputs."""
    kind = check_kind(kind)
    params, x_real, x_fake, gamma, activation = read_inputs(inputs)
    critic = critic_for(activation)
    xs = {"real": x_real, "fake": x_fake}
    terms = _penalty_terms(kind, recipe)

    def forward(p, sides=("real", "fake")):
        v = {side: critic(p, xs[side]) for side in sides}
        g = {side: _input_gradients(critic, p, xs[side],
                                    _differentiated(kind, recipe, side, len(xs[side])),
                                    recipe.first_only) for side in sides}
        return v, g, {side: _squared_norms(g[side], recipe) for side in sides}

    def penalty(p):
        v, _, s = forward(p, {side for side, _ in terms})  # only the batches it uses
        total = 0.0
        for side, weight in terms:
            w, s_side = weight(v[side]), getval(s[side]) if recipe.detach else s[side]
            total = total + (np.mean(w[:, None] * s_side[None, :]) if recipe.broadcast
                             else np.mean(w * s_side))
        return total

    def base_loss(p):
        v_r, v_f = critic(p, x_real), critic(p, x_fake)
        if kind in GAN_KINDS:
            return np.mean(softplus(-v_r)) + np.mean(softplus(v_f))
        div = get_divergence(kind[2:])
        t_r, t_f = recipe.sign * v_r, recipe.sign * v_f
        if recipe.conjugate == "naive":
            fake = _naive_conjugate(div, div.activation(t_f))
        elif recipe.conjugate == "raw":
            fake = div.conjugate(t_f)
        else:
            fake = div.conjugate_of_activation(t_f)
        return -(np.mean(div.activation(t_r)) - np.mean(fake))

    with onp.errstate(all="ignore"):  # a fault may produce NaN; that is what it is there for
        key = replace(recipe, coefficient=half, conjugate="stable")
        part = None if shared is None else shared.get(key)
        if part is None:
            part = forward(params), param_grads(penalty, params)
            if shared is not None:
                shared[key] = part
        (v, g, s), (penalty_value, penalty_grad) = part
        base_value, base_grad = param_grads(base_loss, params)
    # loss = base + c * penalty: its gradient by linearity, without a second nested pass
    c = recipe.coefficient(gamma)
    loss_value = base_value + c * penalty_value
    loss_grad = [(bW + c * pW, bb + c * pb) for (bW, bb), (pW, pb) in zip(base_grad, penalty_grad)]
    return {"logits_real": onp.asarray(v["real"]), "logits_fake": onp.asarray(v["fake"]),
            "input_grad_real": onp.asarray(g["real"]), "input_grad_fake": onp.asarray(g["fake"]),
            "grad_sq_real": onp.asarray(s["real"]), "grad_sq_fake": onp.asarray(s["fake"]),
            "penalty": onp.float64(penalty_value), "loss": onp.float64(loss_value),
            "penalty_grad": penalty_grad, "loss_grad": loss_grad}


@dataclass(frozen=True)
class Fault:
    """A named wrong variant. compute(kind, inputs) -> outputs like compute_case."""
    name: str
    description: str
    kinds: Tuple[str, ...]
    recipe: Recipe

    def compute(self, kind, inputs, shared=None):
        kind = check_kind(kind)
        if kind not in self.kinds:
            raise ValueError(f"kind: fault {self.name!r} does not apply to {kind!r}; "
                             f"it applies to {', '.join(self.kinds)}")
        return run(self.recipe, kind, inputs, shared)


F_KINDS = tuple(k for k in KINDS if k.startswith("f:"))
# rows whose g_f is not the identity, and whose penalty weight is not constant
NONLINEAR_ACTIVATION = tuple(f"f:{n}" for n in ("reverse_kl", "neyman", "hellinger", "js",
                                                 "gan", "tv"))
VARYING_WEIGHT = ("js",) + tuple(f"f:{n}" for n in ("kl", "neyman", "hellinger", "js", "gan"))
WITH_PENALTY = tuple(k for k in KINDS if k != "f:tv")  # Omega_TV is identically zero

_FAULTS = [
    Fault("batch_norm", "one gradient norm over the whole batch instead of one per sample",
          KINDS, Recipe(norm="batch")),
    Fault("sum_before_norm", "input gradients summed over the batch before the norm",
          KINDS, Recipe(norm="sum")),
    Fault("wrong_axis", "the norm taken over axis 1 (the channels) only and averaged over the "
          "other axes, instead of over all non-batch axes", KINDS, Recipe(norm="channels")),
    Fault("first_sample_only", "only the first sample's logit differentiated (the other "
          "samples get a zero input gradient)", KINDS, Recipe(first_only=True)),
    Fault("second_order_missing", "the input gradient treated as a constant (detached, no "
          "graph kept): right penalty value, parameter gradient missing its second-order part",
          WITH_PENALTY, Recipe(detach=True)),
    Fault("sigmoid_gradient", "the gradient of D = sigmoid(v) used instead of the gradient of "
          "the logit v", GAN_KINDS, Recipe(differentiate="sigmoid")),
    Fault("activation_gradient", "the gradient of the critic output g_f(v) used instead of the "
          "gradient of the logit v", NONLINEAR_ACTIVATION, Recipe(differentiate="activation")),
    Fault("loss_gradient", "the input gradient of the (batch-mean) loss used instead of the "
          "gradient of the logit v", KINDS, Recipe(differentiate="loss")),
    Fault("js_weights_swapped", "the (1-D)^2 and D^2 weights swapped (D^2 on real samples, "
          "(1-D)^2 on fake ones)", ("js",), Recipe(js_weights="swapped")),
    Fault("js_weights_direct", "the weight D(1-D) on both batches (the GAN objective expanded "
          "directly; equal to Omega_JS only at the optimal discriminator)", ("js",),
          Recipe(js_weights="direct")),
    Fault("wrong_sample_set", "the penalty evaluated on the other batch (R1 on fake samples, "
          "R2 or Omega_f on real samples)", tuple(k for k in WITH_PENALTY if k != "js"),
          Recipe(other_set=True)),
    Fault("gamma_not_halved", "gamma used where gamma/2 belongs: loss = -F + gamma * penalty",
          WITH_PENALTY, Recipe(coefficient=lambda gamma: gamma)),
    Fault("sigma_for_gamma", "sqrt(gamma), the noise standard deviation, used where the "
          "variance gamma belongs", WITH_PENALTY,
          Recipe(coefficient=lambda gamma: 0.5 * onp.sqrt(gamma))),
    Fault("penalty_subtracted", "the penalty subtracted from the critic loss instead of added",
          WITH_PENALTY, Recipe(coefficient=lambda gamma: -0.5 * gamma)),
    Fault("epsilon_in_norm", f"an epsilon inside the norm: sqrt(|g|^2 + {EPSILON:g})^2 "
          "instead of |g|^2", KINDS, Recipe(epsilon=EPSILON)),
    Fault("nan_at_zero_gradient", "|g|^2 computed as sqrt(|g|^2)^2: a NaN parameter gradient "
          "where an input gradient is exactly zero", KINDS, Recipe(via_sqrt=True)),
    Fault("broadcast_n_by_n", "(n, 1) weights times (n,) squared norms broadcast into an "
          "(n, n) matrix before the mean", VARYING_WEIGHT, Recipe(broadcast=True)),
    Fault("conjugate_raw_logit", "the conjugate f* applied to the raw logit v instead of to "
          "g_f(v)", NONLINEAR_ACTIVATION, Recipe(conjugate="raw")),
    Fault("wrong_activation_sign", "the output activation g_f applied to -v (the sign of the "
          "logit flipped in g_f)", F_KINDS, Recipe(sign=-1.0)),
    Fault("naive_conjugate", "f*(g_f(v)) composed from the textbook formulas (e.g. "
          "-log(1 - exp t)), which lose digits at large logits",
          tuple(f"f:{n}" for n in ("neyman", "hellinger", "js", "gan")),
          Recipe(conjugate="naive")),
]
FAULTS = {fault.name: fault for fault in _FAULTS}


def fault_outputs(kind, inputs, names=None):
    """{fault name: outputs} for every fault that applies to `kind` (or those in `names`)."""
    kind = check_kind(kind)
    shared = {}
    return {f.name: f.compute(kind, inputs, shared) for f in FAULTS.values()
            if kind in f.kinds and (names is None or f.name in names)}


def _fits(observed, outputs, fields, rtol, atol, reference=None, scales=None):
    """Every field within tolerance, measured against the field's scale (the size of the
    terms summed to make it, refgan.conformance.output_scales). Against a fault, the
    tolerance is rtol times the larger of that, the fault's and the reference's magnitude:
    a fault that shrinks a quantity to ~1e-15 still matches an implementation whose
    rounding noise there is ~1e-20."""
    def atol_for(k):
        scale = 0.0 if scales is None else float(scales.get(k, 0.0))
        if reference is not None:
            scale = max(scale, float(onp.max(onp.abs(flat_values(reference[k])), initial=0.0)))
        return max(atol, rtol * scale)
    return all(within_tolerance(observed[k], outputs[k], rtol, atol_for(k)) for k in fields)


def diagnose(kind, inputs, observed, rtol=RTOL, atol=RTOL * FLOOR, reference=None,
             candidates=None, scales=None):
    """The faults whose outputs match every field present in `observed` (a dict with any
    subset of compute_case's keys) when the reference does not: a list of (name,
    description) in the order of FAULTS; [] when the reference matches or no fault does.

    A field matches the reference when max |observed - expected| <= max(rtol * max |expected|,
    atol), and a fault when the same holds with the larger of the fault's and the
    reference's magnitude; NaN matches NaN only. Both are measured against the field's
    scale (refgan.conformance.output_scales, computed when not given), so an output that is
    0 by cancellation does not fail on rounding. `reference`, `candidates` ({fault name:
    outputs}, as from fault_outputs) and `scales` may be passed in to avoid recomputing
    them."""
    kind = check_kind(kind)
    fields = [k for k in OUTPUT_FIELDS if k in observed]
    unknown = sorted(set(observed) - set(OUTPUT_FIELDS))
    if unknown:
        raise ValueError(f"observed: unknown field(s) {', '.join(unknown)}; "
                         f"valid: {', '.join(OUTPUT_FIELDS)}")
    reference = compute_case(kind, inputs) if reference is None else reference
    scales = output_scales(kind, inputs) if scales is None else scales
    if _fits(observed, reference, fields, rtol, atol, scales=scales):
        return []
    candidates = fault_outputs(kind, inputs) if candidates is None else candidates
    return [(name, FAULTS[name].description) for name in FAULTS
            if name in candidates
            and _fits(observed, candidates[name], fields, rtol, atol, reference, scales)]
