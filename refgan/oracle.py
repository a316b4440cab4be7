"""The live differential checker: draw critics and batches with hypothesis, run another
implementation of a penalty on them, compare with refgan, and name the fault when it differs.

    check_penalty(fn, kind="js")      hypothesis loop; raises PenaltyMismatch on a difference
    check_outputs(kind, inputs, out)  one case, no hypothesis (for a user's own @given test)
    penalty_inputs(...)               the hypothesis strategy of cases (inputs dicts)

The protocol of `fn` (plain numpy in, plain numpy out; a thin wrapper around torch or JAX):

    fn(params=..., activation=..., x_real=..., x_fake=..., gamma=...) -> dict

  receives (keyword arguments, fresh float64 copies each call)
    params      [(W1, b1), ..., (WL, bL)], W (fan_in, fan_out), b (fan_out,); the critic is
                v = h_{L-1} @ WL + bL with h_0 = x flattened row-major to (n, d) and
                h_k = activation(h_{k-1} @ Wk + bk); the last layer has one output, v is (n,).
                (torch.nn.Linear stores weight = W.T, of shape (fan_out, fan_in).)
    activation  'tanh' or 'softplus' (the hidden layers' activation)
    x_real      (n, ...) samples of P; x_fake (m, ...) samples of Q; n and m may differ
    gamma       the noise variance (a float >= 0)
  returns a dict with any of these keys (refgan.conformance.OUTPUT_FIELDS), at least one of
  'penalty' and 'loss'; the keys present are the ones compared:
    penalty       the penalty of `kind` (a scalar)
    loss          the regularised critic loss -F + (gamma/2) penalty (a scalar)
    penalty_grad  d penalty / d params, a list of (dW, db) shaped like params
    loss_grad     d loss / d params, likewise (transpose torch's weight.grad)
    logits_real (n,), logits_fake (m,), input_grad_real (shape of x_real), input_grad_fake,
    grad_sq_real (n,), grad_sq_fake (m,)    optional per-sample intermediates

A field agrees when max |got - expected| <= max(rtol * max(max |expected|, scale), atol) over
its numbers, scale being the size of the terms summed to make the field
(refgan.conformance.within_tolerance and output_scales: a field that is 0 by cancellation is
not held to 0 exactly). float64 code agrees to ~1e-13, so rtol = 1e-9 by default; float32
code needs about rtol = 1e-4 and an atol (see README). The scale costs a few more passes, so
it is computed only for a case that fails without it; the errors of a passing case are
measured against max |expected| alone (an upper bound).

Hypothesis runs derandomized by default (the same examples every run, in pytest or a plain
script); seed=N draws a different, reproducible set to explore further.
"""
from dataclasses import dataclass, field
from typing import Dict

import numpy as onp

try:
    from hypothesis import HealthCheck, Phase, given, seed as hypothesis_seed, settings
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays
except ImportError as exc:  # hypothesis is a test dependency, not a core one
    raise ImportError("refgan.oracle needs hypothesis: pip install 'refgan[test]'") from exc

from .conformance import (FLOOR, OUTPUT_FIELDS, RTOL, check_kind, compute_case,
                          output_scales, scaled_error)

GRADIENT_FIELDS = ("penalty_grad", "loss_grad")
FEATURE_SHAPES = ((1,), (2,), (3,), (2, 2, 2))  # input dims 1-3 and an image-like (c, h, w)


# -- the strategies -----------------------------------------------------------------------

def _values(bound):
    """Finite float64 in [-bound, bound]; no subnormals (they only add denormal noise), and
    hypothesis shrinks them towards 0 and small integers, which keeps failures readable."""
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False,
                     allow_subnormal=False)


@st.composite
def critic_params(draw, fan_in, max_hidden=2, max_width=4, bound=2.0, far_logits=(-40.0, 40.0)):
    """[(W, b), ...] for an MLP fan_in -> (0 to max_hidden hidden layers of 1 to max_width
    units) -> 1, entries in [-bound, bound]. The output bias may instead be one of
    `far_logits`, which puts every logit near it: the saturated regime where an unstable
    log(1 - exp(t)) or a clipped softplus shows (REFERENCE section 4)."""
    widths = draw(st.lists(st.integers(1, max_width), max_size=max_hidden))
    sizes = [fan_in] + widths + [1]
    params = [(draw(arrays(onp.float64, (a, b), elements=_values(bound))),
               draw(arrays(onp.float64, (b,), elements=_values(bound))))
              for a, b in zip(sizes[:-1], sizes[1:])]
    if far_logits and draw(st.booleans()):  # shrinks to False: ordinary logits
        params[-1] = (params[-1][0], onp.array([draw(st.sampled_from(far_logits))]))
    return params


@st.composite
def penalty_inputs(draw, feature_shapes=FEATURE_SHAPES, max_batch=4, max_hidden=2,
                   max_width=4, bound=2.0, activations=("tanh", "softplus"),
                   far_logits=(-40.0, 40.0)):
    """A case's inputs dict (the keys of refgan.conformance.compute_case): a critic of 0 to
    max_hidden hidden layers (see critic_params), real and fake batches of 1 to max_batch
    samples each (sizes drawn independently), samples of one of `feature_shapes`, gamma in
    [0, 4]. far_logits=() keeps every logit within a few units of 0."""
    shape = draw(st.sampled_from(feature_shapes))
    fan_in = int(onp.prod(shape))
    n, m = draw(st.integers(1, max_batch)), draw(st.integers(1, max_batch))
    return {"activation": draw(st.sampled_from(activations)),
            "params": draw(critic_params(fan_in, max_hidden, max_width, bound, far_logits)),
            "x_real": draw(arrays(onp.float64, (n,) + shape, elements=_values(bound))),
            "x_fake": draw(arrays(onp.float64, (m,) + shape, elements=_values(bound))),
            "gamma": draw(st.floats(0.0, 4.0, allow_subnormal=False))}


# -- one case -----------------------------------------------------------------------------

def _copy(inputs):
    return {"activation": inputs["activation"], "gamma": float(inputs["gamma"]),
            "params": [(onp.array(W, dtype=onp.float64), onp.array(b, dtype=onp.float64))
                       for W, b in inputs["params"]],
            "x_real": onp.array(inputs["x_real"], dtype=onp.float64),
            "x_fake": onp.array(inputs["x_fake"], dtype=onp.float64)}


def _as_array(name, value):
    """float64 array of an output, or a TypeError naming it (a torch tensor that requires
    grad, a string, ...)."""
    try:
        return onp.asarray(value, dtype=onp.float64)
    except Exception:  # noqa: BLE001 - torch raises RuntimeError, others TypeError/ValueError
        raise TypeError(f"fn returned {name} of type {type(value).__name__}; expected an "
                        "array of real numbers (a torch tensor: .detach().cpu().numpy())"
                        ) from None


def _as_gradient(name, value):
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(layer, (list, tuple)) and len(layer) == 2 for layer in value):
        raise TypeError(f"fn returned {name} of type {type(value).__name__}; expected a list "
                        "of (dW, db) pairs shaped like params")
    return [(_as_array(name, dW), _as_array(name, db)) for dW, db in value]


def read_outputs(outputs):
    """Check what an implementation returned against the protocol; float64 arrays back.
    Unknown keys, a missing penalty and loss, or a value that is not numbers are errors."""
    if not isinstance(outputs, dict):
        raise TypeError(f"fn must return a dict of outputs, got {type(outputs).__name__}")
    unknown = sorted(set(outputs) - set(OUTPUT_FIELDS))
    if unknown:
        raise ValueError(f"fn returned unknown key(s) {', '.join(map(repr, unknown))}; "
                         f"valid: {', '.join(OUTPUT_FIELDS)}")
    if "penalty" not in outputs and "loss" not in outputs:
        raise ValueError("fn must return at least one of 'penalty' and 'loss'")
    read = {}
    for key in OUTPUT_FIELDS:
        if key not in outputs:
            continue
        if key in GRADIENT_FIELDS:
            read[key] = _as_gradient(key, outputs[key])
            continue
        read[key] = _as_array(key, outputs[key])
    return read


def _shape_text(value):
    if isinstance(value, list):
        return "[" + ", ".join(f"({onp.shape(dW)}, {onp.shape(db)})" for dW, db in value) + "]"
    return str(onp.shape(value))


def _field_errors(observed, expected, floors):
    """{field: scaled error} for every field present in observed; floors {field: floor}."""
    return {k: scaled_error(observed[k], expected[k], floor=floors[k]) for k in observed}


@dataclass
class _Failure(Exception):
    """Raised inside the hypothesis loop (cheap: no diagnosis until shrinking is done)."""
    inputs: dict
    observed: dict = None
    expected: dict = None
    errors: dict = None
    raised: str = None
    scales: dict = None


class PenaltyMismatch(AssertionError):
    """An implementation disagrees with refgan. Attributes: kind, inputs (the minimal case),
    expected, observed, errors ({field: scaled error}), failed (the fields over tolerance),
    diagnosis ([(fault name, description)], [] when no known fault fits), raised (the
    exception text when fn raised instead of returning), minimal_only ([(fault name,
    description)] that fit the minimal case but not fn's numbers on larger probe cases)."""

    def __init__(self, message, **details):
        super().__init__(message)
        for key, value in details.items():
            setattr(self, key, value)

    @property
    def fault_names(self):
        return [name for name, _ in self.diagnosis]


def _compare(kind, inputs, observed, rtol, atol):
    """(expected, errors, failed fields, scales) for one case; scales is None when every
    field passes against max |expected| alone (it can only pass against a larger scale)."""
    expected = compute_case(kind, inputs)
    errors = _field_errors(observed, expected, {k: atol / rtol for k in observed})
    if all(errors[k] <= rtol for k in observed):
        return expected, errors, [], None
    scales = output_scales(kind, inputs)
    errors = _field_errors(observed, expected, {k: max(atol / rtol, scales[k]) for k in observed})
    return expected, errors, [k for k in observed if not errors[k] <= rtol], scales


def check_outputs(kind, inputs, outputs, rtol=RTOL, atol=None):
    """Compare one implementation's outputs on one case with refgan's; raise PenaltyMismatch
    (with the diagnosis) when a field is out of tolerance, else return {field: scaled error}."""
    kind = check_kind(kind)
    rtol, atol = _tolerances(rtol, atol)
    observed = read_outputs(outputs)
    expected, errors, failed, scales = _compare(kind, inputs, observed, rtol, atol)
    if failed:
        _raise_mismatch(kind, _Failure(_copy(inputs), observed, expected, errors,
                                       scales=scales), rtol, atol, fn=None, shrunk=False)
    return errors


# -- the hypothesis loop ------------------------------------------------------------------

@dataclass
class CheckResult:
    """What a passing check_penalty saw: the number of cases and, per compared field, the
    largest scaled error over them."""
    kind: str
    examples: int
    rtol: float
    atol: float
    max_errors: Dict[str, float] = field(default_factory=dict)

    def __str__(self):
        lines = [f"check_penalty(kind={self.kind!r}): {self.examples} cases agree with refgan "
                 f"(rtol={self.rtol:g}, atol={self.atol:g}); largest error per field:"]
        lines += [f"  {k:<16} {v:.2e}" for k, v in self.max_errors.items()]
        return "\n".join(lines)


def _tolerances(rtol, atol):
    rtol = float(rtol)
    if not rtol > 0:
        raise ValueError(f"rtol: expected a number > 0, got {rtol}")
    atol = rtol * FLOOR if atol is None else float(atol)
    if not atol > 0:
        raise ValueError(f"atol: expected a number > 0, got {atol}")
    return rtol, atol


def _call(fn, inputs):
    return read_outputs(fn(**_copy(inputs)))


def _first_case():
    """A fixed small case used to check fn's protocol before any hypothesis run."""
    rng = onp.random.default_rng(0)
    return {"activation": "tanh", "gamma": 0.5,
            "params": [(rng.standard_normal((2, 3)), rng.standard_normal(3)),
                       (rng.standard_normal((3, 1)), rng.standard_normal(1))],
            "x_real": rng.standard_normal((3, 2)), "x_fake": rng.standard_normal((2, 2))}


def check_penalty(fn, kind="js", rtol=RTOL, atol=None, max_examples=50, seed=None,
                  shrink=True, strategy=None):
    """Differential test of `fn` (the protocol is in the module docstring) against refgan.

    Draws `max_examples` cases from `strategy` (default penalty_inputs()), compares every
    field fn returns, and on a difference raises PenaltyMismatch whose message gives the
    minimal case hypothesis shrank to, the fields that differ and the known faults of
    refgan.faults that reproduce fn's numbers. Returns a CheckResult when all cases agree.

    seed=None runs derandomized (the same cases every run, inside pytest or not); an int
    draws another reproducible set. shrink=False reports the first failing case unshrunk
    (faster). A protocol error (a wrong return type or key) is raised at once, unshrunk.
    """
    kind = check_kind(kind)
    rtol, atol = _tolerances(rtol, atol)
    if not callable(fn):
        raise TypeError(f"fn: expected a callable, got {type(fn).__name__}")
    try:
        first = fn(**_copy(_first_case()))
    except Exception:  # noqa: BLE001 - hypothesis will find and shrink the failing input
        pass
    else:
        read_outputs(first)  # protocol errors (None included) surface here, at once
    strategy = penalty_inputs() if strategy is None else strategy
    seen = {"examples": 0, "max": {}}

    def one_case(inputs):
        try:
            observed = _call(fn, inputs)
        except Exception as exc:  # noqa: BLE001 - a crash on some input is a finding too
            raise _Failure(_copy(inputs), raised=f"{type(exc).__name__}: {exc}") from None
        expected, errors, failed, scales = _compare(kind, inputs, observed, rtol, atol)
        if failed:
            raise _Failure(_copy(inputs), observed, expected, errors, scales=scales)
        seen["examples"] += 1
        for k, err in errors.items():
            seen["max"][k] = max(seen["max"].get(k, 0.0), err)

    phases = (Phase.explicit, Phase.generate) + ((Phase.shrink,) if shrink else ())
    run = settings(max_examples=max_examples, derandomize=seed is None, database=None,
                   deadline=None, phases=phases, print_blob=False, report_multiple_bugs=False,
                   suppress_health_check=list(HealthCheck))(given(strategy)(one_case))
    if seed is not None:
        run = hypothesis_seed(seed)(run)
    try:
        run()
    except _Failure as failure:
        _raise_mismatch(kind, failure, rtol, atol, fn=fn, shrunk=shrink)
    return CheckResult(kind, seen["examples"], rtol, atol,
                       {k: seen["max"][k] for k in OUTPUT_FIELDS if k in seen["max"]})


# -- the report ---------------------------------------------------------------------------

def _probe_cases():
    """Generic cases (several samples, hidden layers, an image-like input) used to tell
    apart faults that coincide on a minimal case."""
    rng = onp.random.default_rng(2017)

    def layers(sizes):
        return [(0.8 * rng.standard_normal((a, b)), 0.3 * rng.standard_normal(b))
                for a, b in zip(sizes[:-1], sizes[1:])]
    return [{"activation": "tanh", "params": layers((8, 3, 1)), "gamma": 0.7,
             "x_real": rng.standard_normal((3, 2, 2, 2)),
             "x_fake": rng.standard_normal((2, 2, 2, 2))},
            {"activation": "softplus", "params": layers((3, 4, 2, 1)), "gamma": 1.3,
             "x_real": rng.standard_normal((2, 3)), "x_fake": rng.standard_normal((4, 3))}]


def _diagnose(kind, failure, rtol, atol, fn):
    """(faults, minimal_only): the known faults that reproduce fn's numbers on the failing
    case and on every probe case where fn fails too, and those that reproduce them on the
    failing case alone. A minimal case is small enough for two faults (or a fault and an
    unknown mistake) to give the same numbers; the probes are not."""
    from . import faults  # diagnosis only: the correct path never imports faults
    if failure.observed is None:
        return [], []
    found = faults.diagnose(kind, failure.inputs, failure.observed, rtol, atol,
                            reference=failure.expected, scales=failure.scales)
    names = list(found)
    if not names or fn is None:
        return names, []
    for probe in _probe_cases():
        try:
            observed = _call(fn, probe)
        except Exception:  # noqa: BLE001 - the probe only checks; the failure is reported
            continue
        expected, _, failed, scales = _compare(kind, probe, observed, rtol, atol)
        if not failed:
            continue  # fn agrees with refgan here: no evidence either way
        fits = faults.diagnose(kind, probe, observed, rtol, atol, reference=expected,
                               scales=scales)
        names = [d for d in names if d in fits]
    return names, [d for d in found if d not in names]


def _literal(value):
    return repr(onp.asarray(value).tolist())


def _inputs_text(inputs):
    params = ", ".join(f"({_literal(W)}, {_literal(b)})" for W, b in inputs["params"])
    return "\n".join([
        "inputs = {",
        f"    'activation': {inputs['activation']!r},",
        f"    'params': [{params}],",
        f"    'x_real': {_literal(inputs['x_real'])},",
        f"    'x_fake': {_literal(inputs['x_fake'])},",
        f"    'gamma': {inputs['gamma']!r},",
        "}"])


def _value_text(value):
    if isinstance(value, list):  # a parameter gradient: dW1, db1, dW2, ... flattened
        value = onp.concatenate([onp.ravel(a) for layer in value for a in layer])
    flat = onp.ravel(value)
    if flat.size <= 6:
        return onp.array2string(onp.asarray(value), precision=10, separator=", ")
    return f"shape {onp.shape(value)}, first {onp.array2string(flat[:4], precision=6)}"


def _raise_mismatch(kind, failure, rtol, atol, fn, shrunk):
    head = (f"the implementation disagrees with refgan on kind {kind!r} "
            f"(rtol={rtol:g}, atol={atol:g}).")
    where = ("Minimal failing case (shrunk by hypothesis):" if shrunk else "Failing case:")
    lines = [head, where, _inputs_text(failure.inputs)]
    diagnosis, minimal_only = _diagnose(kind, failure, rtol, atol, fn)
    failed = []
    if failure.raised is not None:
        lines.append(f"fn raised {failure.raised}")
    else:
        failed = [k for k in failure.observed if not failure.errors[k] <= rtol]
        lines.append("Fields that differ (error = max |got - expected| / the field's scale, "
                     "the size of the terms summed to make it; gradients as dW1, db1, dW2, "
                     "... flattened):")
        for k in failed:
            got, want = failure.observed[k], failure.expected[k]
            if _shape_text(got) != _shape_text(want):
                lines.append(f"  {k}: shape {_shape_text(got)}, expected {_shape_text(want)}")
                continue
            lines.append(f"  {k}: error {failure.errors[k]:.3g}\n"
                         f"      expected {_value_text(want)}\n      got      {_value_text(got)}")
        agree = [k for k in failure.observed if k not in failed]
        if agree:
            lines.append("Fields that agree: " + ", ".join(agree))
        if diagnosis:
            lines.append("Diagnosis: the numbers match refgan's deliberately wrong variant(s):")
            lines += [f"  - {name}: {description}" for name, description in diagnosis]
        else:
            lines.append("Diagnosis: no known fault of refgan.faults reproduces these numbers.")
        if minimal_only:
            lines.append("  (" + ", ".join(name for name, _ in minimal_only) + " reproduce(s) "
                         "this small case but not fn's numbers on larger probe cases where fn "
                         "also differs: a coincidence of the small case, not the fault.)")
    lines.append(f"Reference: refgan.conformance.compute_case({kind!r}, inputs)")
    raise PenaltyMismatch("\n".join(lines), kind=kind, inputs=failure.inputs,
                          expected=failure.expected, observed=failure.observed,
                          errors=failure.errors, failed=failed, diagnosis=diagnosis,
                          minimal_only=minimal_only, raised=failure.raised) from None
