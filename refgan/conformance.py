"""Conformance cases: what a correct implementation of each penalty must output, in float64.

A case is a penalty kind, a small MLP critic and two batches:

    kind        "js"        Omega_JS(P, Q; v), loss = GAN discriminator loss + (gamma/2) Omega_JS
                "r1", "r2"  R1 = mean_P |grad_x v|^2, R2 = mean_Q |grad_x v|^2,
                            loss = GAN discriminator loss + (gamma/2) R
                "f:<row>"   Omega_f(Q; g_f(v)) for a row of refgan.DIVERGENCES,
                            loss = -F(P, Q; g_f(v)) + (gamma/2) Omega_f
    inputs      params [(W, b), ...] with W (fan_in, fan_out) and layers x @ W + b, the
                hidden `activation`, a linear last layer with one output; x_real (n, ...),
                x_fake (m, ...) flattened row-major to (n, d); gamma >= 0 (a variance).

`compute_case` gives the outputs (OUTPUT_FIELDS) from refgan's public functions only;
`build_cases` lists the committed set and `write_vectors` writes it as JSON (docs/VECTORS.md).
"""
import json
import os
import tempfile
import warnings

import autograd.numpy as np
import numpy as onp
from autograd import elementwise_grad, value_and_grad

from . import checks
from .divergences import DIVERGENCES, get_divergence, sigmoid, softplus
from .nets import ACTIVATIONS, logits_and_input_gradients, mlp, squared_norms
from .objectives import gan_discriminator_loss
from .regularisers import (f_gan_critic_loss, gan_critic_loss, omega_f, omega_js, r1_penalty,
                           r2_penalty)

KINDS = ("js", "r1", "r2") + tuple(f"f:{name}" for name in DIVERGENCES)

PER_SAMPLE_FIELDS = ("logits_real", "logits_fake", "input_grad_real", "input_grad_fake",
                     "grad_sq_real", "grad_sq_fake")
SCALAR_FIELDS = ("penalty", "loss")
GRADIENT_FIELDS = ("penalty_grad", "loss_grad")
OUTPUT_FIELDS = PER_SAMPLE_FIELDS + SCALAR_FIELDS + GRADIENT_FIELDS

FORMAT = "refgan-conformance"
VERSION = 1
VECTORS_FILE = "conformance.json"
RTOL = 1e-9     # float64 implementations agree to ~1e-13; 1e-9 leaves room for conditioning
FLOOR = 1e-12   # the smallest scale an error is measured against (docs/VECTORS.md)


# -- inputs -----------------------------------------------------------------------------

def check_kind(kind):
    """A kind of KINDS; 'f:KL' and 'f:reverse-kl' are accepted and normalised."""
    if isinstance(kind, str) and kind.startswith("f:"):
        try:
            return "f:" + get_divergence(kind[2:]).name
        except ValueError:
            pass
    if kind not in KINDS:
        raise ValueError(f"kind: unknown {kind!r}; valid: {', '.join(KINDS)}")
    return kind


def _float_array(name, value, ndim=None):
    try:
        a = onp.asarray(value, dtype=onp.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected an array of real numbers") from None
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} axes, got shape {a.shape}")
    if not onp.all(onp.isfinite(a)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    return a


def read_inputs(inputs):
    """Validate a case's inputs; return (params, x_real, x_fake, gamma, activation) with
    params a list of (W, b) float64 pairs chaining from the flattened input size to 1."""
    if not isinstance(inputs, dict):
        raise TypeError(f"inputs: expected a dict, got {type(inputs).__name__}")
    missing = [k for k in ("params", "activation", "x_real", "x_fake", "gamma") if k not in inputs]
    if missing:
        raise ValueError(f"inputs: missing key(s) {', '.join(missing)}")
    x_real = checks.as_samples("x_real", _float_array("x_real", inputs["x_real"]))
    x_fake = checks.as_samples("x_fake", _float_array("x_fake", inputs["x_fake"]))
    checks.same_feature_shape("x_real", x_real, "x_fake", x_fake)
    gamma = checks.nonnegative("gamma", inputs["gamma"])
    activation = inputs["activation"]
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation: unknown {activation!r}; valid: {', '.join(ACTIVATIONS)}")
    raw = inputs["params"]
    if not isinstance(raw, (list, tuple)) or not raw:
        raise TypeError("params: expected a non-empty list of (W, b) pairs")
    params, fan_in = [], int(onp.prod(x_real.shape[1:]))
    for i, layer in enumerate(raw):
        if not isinstance(layer, (list, tuple)) or len(layer) != 2:
            raise TypeError(f"params[{i}]: expected a (W, b) pair")
        W = _float_array(f"params[{i}] W", layer[0], ndim=2)
        b = _float_array(f"params[{i}] b", layer[1], ndim=1)
        if W.shape[0] != fan_in or b.shape != (W.shape[1],):
            raise ValueError(f"params[{i}]: expected W of shape ({fan_in}, k) and b of shape "
                             f"(k,), got W {W.shape} and b {b.shape}")
        params.append((W, b))
        fan_in = W.shape[1]
    if fan_in != 1:
        raise ValueError(f"params: the last layer must have 1 output (the logit), got {fan_in}")
    return params, x_real, x_fake, gamma, activation


def critic_for(activation):
    """critic(params, x) -> v (n,): refgan.mlp with the given hidden activation."""
    def critic(params, x):
        return mlp(params, x, activation)
    return critic


# -- the reference --------------------------------------------------------------------------

def objective_functions(kind, critic, x_real, x_fake, gamma):
    """(penalty(params), loss(params)) for a kind: the reference penalty and regularised
    critic loss as functions of the parameters alone, built from refgan's public functions."""
    kind = check_kind(kind)
    if kind == "js":
        return (lambda p: omega_js(critic, p, x_real, x_fake),
                lambda p: gan_critic_loss(critic, p, x_real, x_fake, gamma))
    if kind in ("r1", "r2"):
        def penalty(p):
            if kind == "r1":
                return r1_penalty(critic, p, x_real)
            return r2_penalty(critic, p, x_fake)

        def loss(p):
            return (gan_discriminator_loss(critic(p, x_real), critic(p, x_fake))
                    + 0.5 * gamma * penalty(p))
        return penalty, loss
    name = kind[2:]
    return (lambda p: omega_f(name, critic, p, x_fake),
            lambda p: f_gan_critic_loss(name, critic, p, x_real, x_fake, gamma))


def param_grads(fn, params):
    """(fn(params), d fn / d params as a list of (dW, db) float64 arrays)."""
    with warnings.catch_warnings():
        # Omega_TV is identically zero: its gradient is zero, which is right, not a warning
        warnings.filterwarnings("ignore", "Output seems independent of input")
        value, grads = value_and_grad(fn)(params)
    return float(value), [(onp.asarray(dW, dtype=onp.float64), onp.asarray(db, dtype=onp.float64))
                          for dW, db in grads]


def compute_case(kind, inputs):
    """The reference outputs of one case: a dict of float64 arrays

        logits_real (n,), logits_fake (m,)          v = critic(params, x)
        input_grad_real (shape of x_real), ..._fake  grad_x v(x_i), one row per sample
        grad_sq_real (n,), grad_sq_fake (m,)         |grad_x v(x_i)|^2 over all non-batch axes
        penalty, loss (scalars)                      see the module docstring
        penalty_grad, loss_grad                      lists of (dW, db) shaped like params
    """
    kind = check_kind(kind)
    params, x_real, x_fake, gamma, activation = read_inputs(inputs)
    critic = critic_for(activation)
    v_r, g_r = logits_and_input_gradients(critic, params, x_real)
    v_f, g_f = logits_and_input_gradients(critic, params, x_fake)
    penalty_fn, loss_fn = objective_functions(kind, critic, x_real, x_fake, gamma)
    penalty, penalty_grad = param_grads(penalty_fn, params)
    loss, loss_grad = param_grads(loss_fn, params)
    return {
        "logits_real": onp.asarray(v_r), "logits_fake": onp.asarray(v_f),
        "input_grad_real": onp.asarray(g_r), "input_grad_fake": onp.asarray(g_f),
        "grad_sq_real": onp.asarray(squared_norms(g_r)),
        "grad_sq_fake": onp.asarray(squared_norms(g_f)),
        "penalty": onp.float64(penalty), "loss": onp.float64(loss),
        "penalty_grad": penalty_grad, "loss_grad": loss_grad,
    }


# -- the committed set --------------------------------------------------------------------

def _layers(rng, sizes, scale):
    """Weights N(0, scale^2) and biases N(0, 0.1^2), so that no bias is trivially zero."""
    return [(scale * rng.standard_normal((a, b)), 0.1 * rng.standard_normal(b))
            for a, b in zip(sizes[:-1], sizes[1:])]


def _shapes():
    """The critics and batches every kind is checked on: {name: (activation, params, x_real,
    x_fake, gamma)}. Seeds are fixed, so the set is reproducible bit for bit."""
    rng = onp.random.default_rng(20170531)
    shapes = {}
    # hand-checkable: a linear critic v = x w + b has grad_x v = w for every sample
    shapes["linear_1d"] = ("linear", [(onp.array([[1.5]]), onp.array([-0.25]))],
                           onp.array([[0.5], [-1.0], [2.0]]), onp.array([[0.0], [1.0]]), 0.1)
    shapes["linear_3d"] = ("linear", [(onp.array([[0.5], [-1.0], [2.0]]), onp.array([0.3]))],
                           rng.standard_normal((2, 3)), rng.standard_normal((4, 3)), 0.7)
    shapes["mlp_2d_tanh"] = ("tanh", _layers(rng, (2, 5, 1), 0.8),
                             rng.standard_normal((4, 2)), rng.standard_normal((3, 2)), 0.1)
    shapes["mlp_3d_softplus"] = ("softplus", _layers(rng, (3, 4, 3, 1), 0.8),
                                 rng.standard_normal((3, 3)), rng.standard_normal((5, 3)), 2.0)
    shapes["image_2x4x4_tanh"] = ("tanh", _layers(rng, (32, 3, 1), 0.4),
                                  rng.standard_normal((2, 2, 4, 4)),
                                  rng.standard_normal((3, 2, 4, 4)), 0.3)
    # first layer exactly zero: the input gradient is exactly 0 (|g|^2 must have gradient 0)
    zero = _layers(rng, (2, 3, 1), 0.8)
    zero[0] = (onp.zeros((2, 3)), zero[0][1])
    shapes["zero_input_gradient"] = ("tanh", zero, rng.standard_normal((3, 2)),
                                     rng.standard_normal((2, 2)), 0.1)
    for sign, label in ((1.0, "plus"), (-1.0, "minus")):
        near = _layers(rng, (2, 3, 1), 0.5)
        near[-1] = (near[-1][0], onp.array([sign * 30.0]))
        shapes[f"logits_near_{label}_30"] = ("tanh", near, rng.standard_normal((3, 2)),
                                             rng.standard_normal((2, 2)), 0.1)
    shapes["batch_size_1"] = ("softplus", _layers(rng, (2, 4, 1), 0.8),
                              rng.standard_normal((1, 2)), rng.standard_normal((1, 2)), 0.1)
    points = rng.standard_normal((2, 2))
    shapes["repeated_points"] = ("tanh", _layers(rng, (2, 4, 1), 0.8),
                                 points[[0, 0, 1, 0]], points[[1, 1, 0]], 0.1)
    return shapes


def build_cases():
    """The committed conformance set: a list of (name, kind, inputs), name 'KIND/SHAPE'."""
    cases = []
    for kind in KINDS:
        for shape, (activation, params, x_real, x_fake, gamma) in _shapes().items():
            inputs = {"params": params, "activation": activation, "x_real": x_real,
                      "x_fake": x_fake, "gamma": gamma}
            cases.append((f"{kind}/{shape}", kind, inputs))
    return cases


def to_plain(value):
    """Arrays -> nested lists of Python floats (json writes repr: 17 significant digits at
    most, exact round trip); (W, b) lists -> [{"W": ..., "b": ...}, ...]."""
    if isinstance(value, list):
        return [{"W": to_plain(W), "b": to_plain(b)} for W, b in value]
    if isinstance(value, (onp.ndarray, onp.floating, float, int)):
        return onp.asarray(value, dtype=onp.float64).tolist()
    return value


def case_record(name, kind, inputs, outputs, scales=None):
    """One case as plain JSON-ready data (the layout of docs/VECTORS.md)."""
    divergence = kind[2:] if kind.startswith("f:") else None
    scales = output_scales(kind, inputs) if scales is None else scales
    return {"name": name, "kind": kind, "divergence": divergence,
            "inputs": {"activation": inputs["activation"], "gamma": float(inputs["gamma"]),
                       "params": to_plain(list(inputs["params"])),
                       "x_real": to_plain(inputs["x_real"]),
                       "x_fake": to_plain(inputs["x_fake"])},
            "expected": {k: to_plain(outputs[k]) for k in OUTPUT_FIELDS},
            "scale": {k: float(scales[k]) for k in OUTPUT_FIELDS}}


def write_json_atomic(path, text):
    """Write through a temporary file in the same folder and os.replace it into place, so a
    reader never sees a half-written file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def vectors_text(cases=None):
    """The conformance file's text: a header, then one case per line."""
    cases = build_cases() if cases is None else cases
    records = [case_record(name, kind, inputs, compute_case(kind, inputs))
               for name, kind, inputs in cases]
    head = json.dumps({"format": FORMAT, "version": VERSION, "dtype": "float64",
                       "tolerance": {"rtol": RTOL, "floor": FLOOR}})
    body = ",\n".join(json.dumps(r, separators=(",", ":"), allow_nan=False) for r in records)
    return head[:-1] + ', "cases": [\n' + body + "\n]}\n"


def write_vectors(directory):
    """Write DIRECTORY/v1/conformance.json; return its path."""
    path = os.path.join(directory, f"v{VERSION}", VECTORS_FILE)
    write_json_atomic(path, vectors_text())
    return path


# -- the scale of each output: the size of the terms summed to make it ---------------------

def _chain_magnitudes(params, x, activation):
    """(m_v (n,), m_g (n, d)): the size of the terms summed to make each logit and each
    input-gradient entry, through every layer (docs/VECTORS.md, "The tolerance"):

        m_0 = |x|,  m_a = m_{k-1} @ |W_k| + |b_k|,  m_k = |act(a_k)| + |act'(a_k)| m_a
        m_v = m_{L-1} @ |W_L| + |b_L|
        m_g = |W_L|^T, then m_g <- (m_g * |act'(a_k)|) @ |W_k|^T down to the input

    i.e. the forward and backward passes with every product replaced by its absolute value;
    a rounding error of a term (about 1e-16 of it) reaches the output at most this large."""
    act = ACTIVATIONS[activation]
    slope = elementwise_grad(act)
    h = onp.reshape(x, (onp.shape(x)[0], -1))
    m, slopes = onp.abs(h), []
    for W, b in params[:-1]:
        a = h @ W + b
        m_a = m @ onp.abs(W) + onp.abs(b)
        h, s = act(a), onp.abs(slope(a))
        m = onp.abs(h) + s * m_a
        slopes.append(s)
    W, b = params[-1]
    m_v = (m @ onp.abs(W) + onp.abs(b))[:, 0]
    m_g = onp.ones((len(h), 1)) * onp.abs(W[:, 0])[None, :]
    for (W, _), s in zip(reversed(params[:-1]), reversed(slopes)):
        m_g = (m_g * s) @ onp.abs(W).T
    return m_v, m_g


def _sample_terms(kind, critic, params, x_real, x_fake):
    """[(penalty term, base loss term)] of every sample, each a function of the parameters:
    the penalty is the sum of the first, the loss the sum of the second plus (gamma/2) times
    the penalty. A sample of P (n of them) or Q (m) enters with weight 1/n or 1/m."""
    div = get_divergence(kind[2:]) if kind.startswith("f:") else None
    if kind == "js":
        weights = (lambda v: sigmoid(-v) ** 2, lambda v: sigmoid(v) ** 2)
    elif kind in ("r1", "r2"):
        one, zero = (lambda v: np.ones(np.shape(v))), (lambda v: np.zeros(np.shape(v)))
        weights = (one, zero) if kind == "r1" else (zero, one)
    else:
        weights = (lambda v: np.zeros(np.shape(v)), div.penalty_weight)
    if div is None:
        bases = (lambda v: softplus(-v), softplus)
    else:
        bases = (lambda v: -div.activation(v), div.conjugate_of_activation)
    terms = []
    for x, weight, base in ((x_real, weights[0], bases[0]), (x_fake, weights[1], bases[1])):
        for i in range(len(x)):
            def penalty(p, x1=x[i:i + 1], weight=weight, n=len(x)):
                v, g = logits_and_input_gradients(critic, p, x1)
                return np.sum(weight(v) * squared_norms(g)) / n

            def base_loss(p, x1=x[i:i + 1], base=base, n=len(x)):
                return np.sum(base(critic(p, x1))) / n
            terms.append((penalty, base_loss))
    return terms


def output_scales(kind, inputs):
    """{output field: its scale}, the size of the terms summed to make it, one number per
    field (docs/VECTORS.md, "The tolerance"): an output that is 0 by cancellation is
    measured against the terms that cancelled, not against 0.

        logits_*, input_grad_*   max of _chain_magnitudes' m_v, m_g over the batch
        grad_sq_*                max_i sum_j m_g[i, j]^2
        penalty                  sum over samples of |penalty term|
        loss                     sum of |base loss term| + (gamma/2) * the penalty's scale
        penalty_grad, loss_grad  the largest entry of the same sums taken entrywise over the
                                 parameter gradients of the terms
    """
    kind = check_kind(kind)
    params, x_real, x_fake, gamma, activation = read_inputs(inputs)
    critic = critic_for(activation)
    scales = {}
    for side, x in (("real", x_real), ("fake", x_fake)):
        m_v, m_g = _chain_magnitudes(params, x, activation)
        scales[f"logits_{side}"] = float(onp.max(m_v))
        scales[f"input_grad_{side}"] = float(onp.max(m_g))
        scales[f"grad_sq_{side}"] = float(onp.max(onp.sum(m_g ** 2, axis=1)))
    size = {"penalty": 0.0, "loss": 0.0}
    grad_size = {"penalty": 0.0, "loss": 0.0}
    for penalty, base_loss in _sample_terms(kind, critic, params, x_real, x_fake):
        for name, fn in (("penalty", penalty), ("loss", base_loss)):
            value, grads = param_grads(fn, params)
            size[name] += abs(value)
            grad_size[name] = grad_size[name] + onp.abs(flat_values(grads))
    scales["penalty"] = size["penalty"]
    scales["loss"] = size["loss"] + 0.5 * gamma * size["penalty"]
    scales["penalty_grad"] = float(onp.max(grad_size["penalty"]))
    scales["loss_grad"] = float(onp.max(grad_size["loss"] + 0.5 * gamma * grad_size["penalty"]))
    return scales


# -- the tolerance --------------------------------------------------------------------------

def flat_values(value):
    """Every number of an output (an array, a scalar or a list of (dW, db)) in one vector."""
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple)):
        return onp.concatenate([onp.ravel(onp.asarray(a, dtype=onp.float64))
                                for layer in value for a in layer])
    return onp.ravel(onp.asarray(value, dtype=onp.float64))


def _same_structure(observed, expected):
    if isinstance(expected, list):
        return (isinstance(observed, (list, tuple)) and len(observed) == len(expected)
                and all(len(o) == 2 and all(onp.shape(a) == onp.shape(b) for a, b in zip(o, e))
                        for o, e in zip(observed, expected)))
    return onp.shape(observed) == onp.shape(expected)


def scaled_error(observed, expected, floor=FLOOR):
    """max_i |observed_i - expected_i| / max(max_i |expected_i|, floor), over every number of
    one output quantity (all arrays of a parameter gradient together). A NaN counts as equal
    to a NaN in the same place and as an infinite error anywhere else; a shape mismatch is
    an infinite error."""
    if not _same_structure(observed, expected):
        return onp.inf
    o, e = flat_values(observed), flat_values(expected)
    o_nan, e_nan = onp.isnan(o), onp.isnan(e)
    if onp.any(o_nan != e_nan):
        return onp.inf
    o, e = o[~o_nan], e[~e_nan]
    if o.size == 0:
        return 0.0
    with onp.errstate(invalid="ignore"):
        diff = onp.abs(o - e)
    diff[o == e] = 0.0  # infinities in the same place
    scale = max(float(onp.max(onp.abs(e[onp.isfinite(e)]), initial=0.0)), floor)
    return float(onp.max(diff)) / scale


def within_tolerance(observed, expected, rtol=RTOL, atol=RTOL * FLOOR, scale=0.0):
    """max |observed - expected| <= max(rtol * max(max |expected|, scale), atol), i.e.
    scaled_error with floor = max(atol / rtol, scale) is at most rtol. `scale` is the
    field's output_scales entry: the size of the terms that were summed to make it."""
    return scaled_error(observed, expected, floor=max(atol / rtol, scale)) <= rtol


def field_floors(scales, floor=FLOOR):
    """{field: max(floor, scale)}: the floor of scaled_error for each field."""
    return {k: max(floor, float(v)) for k, v in scales.items()}
