"""The conformance set (vectors/v1/conformance.json) and compute_case.

(a) The committed file is what `refgan vectors write` produces, covers what docs/VECTORS.md
    promises, and is readable with json alone.
(b) Its expected values are reproduced without compute_case: by hand formulas on the linear
    critics (grad_x v = w for every sample), by the explicit backward pass of refgan.fused on
    every case, and by central finite differences for the parameter gradients.
(c) compute_case rejects bad inputs with errors that name the argument.
"""
import json
import math
import os

import autograd.numpy as anp
import numpy as np
import pytest

from conformance_cache import VECTORS, vectors
from refgan import conformance
from refgan.cli import main
from refgan.conformance import (KINDS, OUTPUT_FIELDS, compute_case, objective_functions,
                                param_grads, scaled_error)
from refgan.verify import load_vectors

SHAPES = ("linear_1d", "linear_3d", "mlp_2d_tanh", "mlp_3d_softplus", "image_2x4x4_tanh",
          "zero_input_gradient", "logits_near_plus_30", "logits_near_minus_30",
          "batch_size_1", "repeated_points")


def sig(v):
    return 1.0 / (1.0 + np.exp(-v))


def softplus(v):
    return np.log1p(np.exp(v))  # logits here are moderate: the naive form is exact enough


LOG2 = math.log(2.0)
# Per f row, by hand from the f-GAN table: g_f(v), f*(g_f(v)), and Omega_f's weight
# w_f(v) = f*''(g_f(v)) g_f'(v)^2 simplified (e.g. neyman: f*''(t) = (1-t)^(-3/2) / 2 with
# 1 - t = e^-v, g_f' = e^-v gives e^(-v/2) / 2).
HAND = {
    "kl": (lambda v: v, lambda v: np.exp(v - 1.0), lambda v: np.exp(v - 1.0)),
    "reverse_kl": (lambda v: -np.exp(-v), lambda v: v - 1.0, lambda v: np.ones_like(v)),
    "pearson": (lambda v: v, lambda v: v ** 2 / 4.0 + v, lambda v: np.full_like(v, 0.5)),
    "neyman": (lambda v: 1.0 - np.exp(-v), lambda v: 2.0 - 2.0 * np.exp(-v / 2.0),
               lambda v: 0.5 * np.exp(-v / 2.0)),
    "hellinger": (lambda v: 1.0 - np.exp(-v), lambda v: np.exp(v) - 1.0,
                  lambda v: 2.0 * np.exp(v)),
    "js": (lambda v: LOG2 - softplus(-v), lambda v: softplus(v) - LOG2, sig),
    "gan": (lambda v: -softplus(-v), softplus, sig),
    "tv": (lambda v: np.tanh(v) / 2.0, lambda v: np.tanh(v) / 2.0, np.zeros_like),
}


def hand_linear(kind, w, b, x_real, x_fake, gamma):
    """(penalty, loss) of a linear critic v = x w + b, whose input gradient is w everywhere."""
    v_r, v_f = x_real @ w + b, x_fake @ w + b
    s = float(w @ w)
    gan_loss = np.mean(softplus(-v_r)) + np.mean(softplus(v_f))
    if kind == "js":
        penalty = s * (np.mean(sig(-v_r) ** 2) + np.mean(sig(v_f) ** 2))
    elif kind in ("r1", "r2"):
        penalty = s
    else:
        g, conj_g, weight = HAND[kind[2:]]
        penalty = s * np.mean(weight(v_f))
        return penalty, -(np.mean(g(v_r)) - np.mean(conj_g(v_f))) + gamma / 2.0 * penalty
    return penalty, gan_loss + gamma / 2.0 * penalty


def explicit_critic(activation):
    """The MLP with its input gradient written out by hand (backpropagation of the logit),
    for a second way to every expected value: a penalty's parameter gradient then needs
    autograd only once, not through autograd's own backward pass."""
    act, slope = {"tanh": (anp.tanh, lambda a: 1.0 - anp.tanh(a) ** 2),
                  "softplus": (lambda a: anp.logaddexp(0.0, a),
                               lambda a: 0.5 * (anp.tanh(a / 2) + 1)),  # sigmoid
                  "linear": (lambda a: a, anp.ones_like)}[activation]

    def forward(params, x):
        h, slopes = anp.reshape(x, (len(x), -1)), []
        for W, b in params[:-1]:
            a = anp.dot(h, W) + b
            h, slopes = act(a), slopes + [slope(a)]
        v = anp.dot(h, params[-1][0][:, 0]) + params[-1][1][0]
        e = params[-1][0][:, 0] * anp.ones((len(x), 1))  # dv/dh of the last hidden layer
        for (W, _), s in zip(reversed(params[:-1]), reversed(slopes)):
            e = anp.dot(e * s, W.T)  # dv/dh_{l-1} = (dv/dh_l * act'(a_l)) W_l^T
        return v, anp.reshape(e, anp.shape(x))

    def critic(params, x):
        return forward(params, x)[0]

    critic.logits_and_input_gradients = forward  # refgan's penalties use it when present
    return critic


def central_differences(fn, params, h):
    """d fn / d params by (fn(p + h e) - fn(p - h e)) / 2h for every entry."""
    grads = []
    for i, layer in enumerate(params):
        pair = []
        for j, array in enumerate(layer):
            d = np.zeros_like(array)
            for idx in np.ndindex(array.shape):
                def shifted(step):
                    p = [[a.copy() for a in lay] for lay in params]
                    p[i][j][idx] += step
                    return fn(p)
                d[idx] = (shifted(h) - shifted(-h)) / (2.0 * h)
            pair.append(d)
        grads.append(tuple(pair))
    return grads


# -- (a) the committed file ------------------------------------------------------------------

def test_committed_set_is_what_the_command_writes(tmp_path):
    assert main(["vectors", "write", str(tmp_path)]) == 0
    written = tmp_path / "v1" / "conformance.json"
    assert [p.name for p in (tmp_path / "v1").iterdir()] == ["conformance.json"]  # no temp file
    assert os.stat(written).st_mode & 0o044 == 0o044  # readable by others, not mkstemp's 0600
    with open(VECTORS) as a, open(written) as b:
        committed, fresh = json.load(a), json.load(b)
    assert {k: v for k, v in committed.items() if k != "cases"} == \
        {k: v for k, v in fresh.items() if k != "cases"}
    assert [c["name"] for c in committed["cases"]] == [c["name"] for c in fresh["cases"]]
    for old, new in zip(committed["cases"], fresh["cases"]):
        # inputs come from a seeded generator and literals: equal bit for bit
        assert old["inputs"] == new["inputs"] and old["kind"] == new["kind"], old["name"]
    old_cases, new_cases = load_vectors(VECTORS), load_vectors(str(written))
    for name, case in old_cases.items():
        for k in OUTPUT_FIELDS:
            # another BLAS or libm may round differently in the last bits; 1e-12 is far below
            # any fault (the smallest, an epsilon of 1e-12 at a zero gradient, has error 1)
            assert scaled_error(case["expected"][k], new_cases[name]["expected"][k]) <= 1e-12, \
                (name, k)


def test_committed_set_is_small_versioned_plain_json():
    assert os.path.getsize(VECTORS) < 500_000
    with open(VECTORS) as handle:
        data = json.load(handle)  # json alone reads it
    assert (data["format"], data["version"], data["dtype"]) == ("refgan-conformance", 1,
                                                                 "float64")
    assert data["tolerance"] == {"rtol": 1e-9, "floor": 1e-12}
    first = data["cases"][0]
    assert set(first) == {"name", "kind", "divergence", "inputs", "expected", "scale"}
    assert set(first["expected"]) == set(first["scale"]) == set(OUTPUT_FIELDS)


def test_recorded_scales_are_the_rule_of_the_docs():
    # the file's "scale" is what output_scales derives from the inputs (checked by hand on
    # a linear critic in test_output_scales_by_hand); 1e-12: another libm's last bits
    for name, case in vectors().items():
        derived = conformance.output_scales(case["kind"], case["inputs"])
        for k in OUTPUT_FIELDS:
            assert case["scale"][k] == pytest.approx(derived[k], rel=1e-12, abs=0), (name, k)


def test_output_scales_by_hand():
    # r1 on the linear critic v = 1.5 x - 0.25 (x_real 0.5, -1, 2; x_fake 0, 1; gamma 0.1):
    # the size of each term summed, written out from the rule in docs/VECTORS.md
    w, b, gamma = 1.5, -0.25, 0.1
    x_r, x_f = np.array([0.5, -1.0, 2.0]), np.array([0.0, 1.0])
    inputs = {"activation": "linear", "gamma": gamma, "params": [(np.array([[w]]), np.array([b]))],
              "x_real": x_r[:, None], "x_fake": x_f[:, None]}
    s = conformance.output_scales("r1", inputs)
    assert s["logits_real"] == pytest.approx(2.0 * w + 0.25, rel=1e-15)   # max |x| |w| + |b|
    assert s["logits_fake"] == pytest.approx(1.0 * w + 0.25, rel=1e-15)
    assert s["input_grad_real"] == s["input_grad_fake"] == pytest.approx(w, rel=1e-15)
    assert s["grad_sq_real"] == pytest.approx(w ** 2, rel=1e-15)
    # R1 = mean_P w^2: three terms w^2 / 3; each has d/dW = 2 w / 3 and d/db = 0
    assert s["penalty"] == pytest.approx(w ** 2, rel=1e-15)
    assert s["penalty_grad"] == pytest.approx(2 * w, rel=1e-15)
    v_r, v_f = w * x_r + b, w * x_f + b
    base = np.sum(softplus(-v_r)) / 3 + np.sum(softplus(v_f)) / 2
    assert s["loss"] == pytest.approx(base + gamma / 2 * w ** 2, rel=1e-14)
    # d/dW softplus(-v) / 3 = -sig(-v) x / 3, d/dW softplus(v) / 2 = sig(v) x / 2; d/db alike
    dW = np.sum(sig(-v_r) * np.abs(x_r)) / 3 + np.sum(sig(v_f) * np.abs(x_f)) / 2
    db = np.sum(sig(-v_r)) / 3 + np.sum(sig(v_f)) / 2
    assert s["loss_grad"] == pytest.approx(max(dW + gamma / 2 * 2 * w, db), rel=1e-14)


def test_coverage_promised_by_the_spec():
    cases = vectors()
    assert {c["kind"] for c in cases.values()} == set(KINDS)
    assert set(cases) == {f"{k}/{s}" for k in KINDS for s in SHAPES}
    for name, case in cases.items():
        kind, shape = name.split("/")
        x_r, x_f = case["inputs"]["x_real"], case["inputs"]["x_fake"]
        e = case["expected"]
        if shape == "zero_input_gradient":
            assert not np.any(e["input_grad_real"]) and not np.any(e["input_grad_fake"])
            assert e["penalty"] == 0.0
        if shape.startswith("logits_near"):
            sign = 1.0 if "plus" in shape else -1.0
            v = np.concatenate([e["logits_real"], e["logits_fake"]])
            assert np.all(np.abs(sign * v - 30.0) < 3.0)
        if shape == "batch_size_1":
            assert len(x_r) == len(x_f) == 1
        if shape == "repeated_points":
            assert len(np.unique(x_r, axis=0)) < len(x_r)
    dims = {c["inputs"]["x_real"].shape[1:] for c in cases.values()}
    assert {(1,), (2,), (3,), (2, 4, 4)} <= dims
    activations = {c["inputs"]["activation"] for c in cases.values()
                   if len(c["inputs"]["params"]) > 1}
    assert {"tanh", "softplus"} <= activations
    assert any(len(c["inputs"]["x_real"]) != len(c["inputs"]["x_fake"]) for c in cases.values())


# -- (b) the expected values, reproduced without compute_case --------------------------------

@pytest.mark.parametrize("shape", ["linear_1d", "linear_3d"])
@pytest.mark.parametrize("kind", KINDS)
def test_linear_cases_by_hand(kind, shape):
    case = vectors()[f"{kind}/{shape}"]
    inp, e = case["inputs"], case["expected"]
    (W, b), = inp["params"]
    w, b0 = W[:, 0], b[0]
    x_r, x_f, gamma = inp["x_real"], inp["x_fake"], inp["gamma"]
    # |grad_x v| = |w| for every sample; v = x w + b
    assert np.allclose(e["input_grad_real"], np.broadcast_to(w, x_r.shape), rtol=0, atol=0)
    assert np.allclose(e["grad_sq_fake"], w @ w, rtol=1e-15, atol=0)
    assert np.allclose(e["logits_real"], x_r @ w + b0, rtol=1e-14, atol=1e-15)
    penalty, loss = hand_linear(kind, w, b0, x_r, x_f, gamma)
    # 1e-12: the hand formulas use naive log1p(exp) and sigmoid, accurate to ~1e-15 here
    assert e["penalty"] == pytest.approx(penalty, rel=1e-12, abs=1e-300)
    assert e["loss"] == pytest.approx(loss, rel=1e-12)

    def pen(p):
        return hand_linear(kind, p[0][0][:, 0], p[0][1][0], x_r, x_f, gamma)[0]

    def los(p):
        return hand_linear(kind, p[0][0][:, 0], p[0][1][0], x_r, x_f, gamma)[1]

    params = [(W, b)]
    # central differences with h = 1e-5: truncation ~h^2 = 1e-10, rounding ~1e-16/h = 1e-11;
    # 1e-8 (scaled to the largest entry) still catches a factor 2 or a missing term
    assert scaled_error(e["penalty_grad"], central_differences(pen, params, 1e-5)) < 1e-8
    assert scaled_error(e["loss_grad"], central_differences(los, params, 1e-5)) < 1e-8
    if kind in ("r1", "r2"):  # R = |w|^2: dR/dw = 2w, dR/db = 0 exactly
        assert np.array_equal(e["penalty_grad"][0][0][:, 0], 2.0 * w)
        assert e["penalty_grad"][0][1][0] == 0.0


def test_every_case_by_the_explicit_backward_pass():
    """The input gradient by hand-written backpropagation, the parameter gradients by
    first-order autograd through it; the vectors come from nested autograd. Both are float64
    and differ only in rounding."""
    for name, case in vectors().items():
        inp, e = case["inputs"], case["expected"]
        critic = explicit_critic(inp["activation"])
        params = inp["params"]
        got = {}
        for side in ("real", "fake"):
            v, g = critic.logits_and_input_gradients(params, inp[f"x_{side}"])
            got[f"logits_{side}"], got[f"input_grad_{side}"] = v, g
            got[f"grad_sq_{side}"] = np.sum(np.reshape(g, (len(g), -1)) ** 2, axis=1)
        penalty_fn, loss_fn = objective_functions(case["kind"], critic, inp["x_real"],
                                                  inp["x_fake"], inp["gamma"])
        got["penalty"], got["penalty_grad"] = param_grads(penalty_fn, params)
        got["loss"], got["loss_grad"] = param_grads(loss_fn, params)
        for k in OUTPUT_FIELDS:
            # 1e-11: two float64 evaluation orders; any fault in section 7 is >= 1e-6 off
            assert scaled_error(got[k], e[k]) <= 1e-11, (name, k, scaled_error(got[k], e[k]))


@pytest.mark.parametrize("name", ["js/mlp_2d_tanh", "r1/mlp_3d_softplus", "r2/repeated_points",
                                  "f:kl/mlp_2d_tanh", "f:hellinger/mlp_3d_softplus",
                                  "js/logits_near_minus_30"])
def test_parameter_gradients_by_finite_differences(name):
    """The second-order part of the penalty's gradient (through the input gradient) against
    central differences of the penalty value."""
    case = vectors()[name]
    inp, e = case["inputs"], case["expected"]
    critic = conformance.critic_for(inp["activation"])
    penalty_fn, loss_fn = objective_functions(case["kind"], critic, inp["x_real"],
                                              inp["x_fake"], inp["gamma"])
    params = [tuple(layer) for layer in inp["params"]]
    # h = 1e-5: error ~1e-10 relative to the largest entry; 1e-7 catches a missing term
    for fn, field in ((penalty_fn, "penalty_grad"), (loss_fn, "loss_grad")):
        numeric = central_differences(lambda p: float(fn(p)), params, 1e-5)
        assert scaled_error(e[field], numeric) < 1e-7, (name, field)


def test_compute_case_matches_the_file():
    """compute_case on the stored inputs gives the stored outputs (the file is not stale)."""
    for name in ("js/image_2x4x4_tanh", "f:gan/logits_near_plus_30", "r2/batch_size_1"):
        case = vectors()[name]
        out = compute_case(case["kind"], case["inputs"])
        for k in OUTPUT_FIELDS:
            assert scaled_error(out[k], case["expected"][k]) <= 1e-12, (name, k)
            assert np.asarray(out[k] if k not in ("penalty_grad", "loss_grad")
                              else out[k][0][0]).dtype == np.float64


# -- (c) bad inputs ---------------------------------------------------------------------------

def _inputs(**change):
    base = {"params": [(np.ones((2, 3)), np.zeros(3)), (np.ones((3, 1)), np.zeros(1))],
            "activation": "tanh", "x_real": np.ones((4, 2)), "x_fake": np.zeros((3, 2)),
            "gamma": 0.1}
    base.update(change)
    return base


@pytest.mark.parametrize("kind, change, error, words", [
    ("js2", {}, ValueError, "kind: unknown 'js2'"),
    ("f:chi", {}, ValueError, "kind: unknown 'f:chi'"),
    ("r1", {"gamma": -1.0}, ValueError, "gamma"),
    ("r1", {"activation": "sigmoid"}, ValueError, "activation: unknown 'sigmoid'"),
    ("r1", {"x_fake": np.zeros((3, 3))}, ValueError, "x_real has samples of shape (2,)"),
    ("r1", {"x_real": np.full((4, 2), np.nan)}, ValueError, "x_real: contains NaN"),
    ("r1", {"x_real": np.ones(4)}, ValueError, "x_real: expected an array of shape (n, d)"),
    ("r1", {"params": [(np.ones((2, 3)), np.zeros(3)), (np.ones((3, 2)), np.zeros(2))]},
     ValueError, "the last layer must have 1 output"),
    ("r1", {"params": [(np.ones((3, 3)), np.zeros(3)), (np.ones((3, 1)), np.zeros(1))]},
     ValueError, "params[0]: expected W of shape (2, k)"),
    ("r1", {"params": [(np.ones((2, 1)),)]}, TypeError, "params[0]: expected a (W, b) pair"),
    ("r1", {"params": [(np.array([["a"], ["b"]]), np.zeros(1))]}, TypeError, "params[0] W"),
])
def test_bad_inputs_name_the_argument(kind, change, error, words):
    with pytest.raises(error) as info:
        compute_case(kind, _inputs(**change))
    assert words in str(info.value)


def test_missing_input_key_and_kind_spellings():
    inputs = _inputs()
    del inputs["gamma"]
    with pytest.raises(ValueError, match="inputs: missing key.*gamma"):
        compute_case("js", inputs)
    # 'f:KL' and 'f:reverse-kl' name the same rows as 'f:kl' and 'f:reverse_kl'
    a, b = compute_case("f:KL", _inputs()), compute_case("f:kl", _inputs())
    assert a["loss"] == b["loss"]
    assert conformance.check_kind("f:reverse-kl") == "f:reverse_kl"


def test_the_spec_describes_every_case_field_and_fault():
    from refgan.faults import FAULTS
    with open(os.path.join(os.path.dirname(VECTORS), "..", "..", "docs", "VECTORS.md")) as f:
        spec = f.read()
    for word in list(SHAPES) + list(OUTPUT_FIELDS) + list(FAULTS) + ["weight = W.T"]:
        assert f"`{word}`" in spec or word in spec, word
