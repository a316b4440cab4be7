"""The wrong variants of refgan.faults and diagnose.

(a) The recipe with no fault reproduces compute_case on every committed case, so each fault
    differs from the reference in its one changed piece only.
(b) Each fault computes what its description says: hand formulas on linear critics, and
    algebra on the reference's own numbers (e.g. batch-level norm = n x R1 for a linear
    critic, channel-only norm = R1 / (H W) on the image case).
(c) Each fault is visible on the committed set for every kind it lists, and diagnose names it.
(d) The correct path does not import the faults.
"""
import math
import subprocess
import sys

import numpy as np
import pytest

from conformance_cache import fault_table, vectors
from refgan import faults
from refgan.conformance import OUTPUT_FIELDS, compute_case, scaled_error, within_tolerance
from refgan.faults import FAULTS, Recipe, diagnose, run


def sig(v):
    return 1.0 / (1.0 + np.exp(-v))


def case(name):
    c = vectors()[name]
    return c["kind"], c["inputs"], c["expected"]


def fault(name, case_name):
    return fault_table()[case_name][name]


# 1e-12 throughout (b): the fault code and the hand formula are float64 evaluations of the
# same expression in different orders; the faults change values by factors, not by 1e-12.
REL = 1e-12


# -- (a) -------------------------------------------------------------------------------------

def test_recipe_without_fault_is_the_reference():
    for name, c in vectors().items():
        out = run(Recipe(), c["kind"], c["inputs"])
        for k in OUTPUT_FIELDS:
            assert scaled_error(out[k], c["expected"][k]) <= REL, (name, k)


# -- (b) linear critics: v = x w + b, grad_x v = w for every sample, |g|^2 = |w|^2 = 2.25 -------

def test_norm_faults_on_a_linear_critic():
    kind, inputs, e = case("r1/linear_1d")
    n, s = 3, 1.5 ** 2
    assert fault("batch_norm", "r1/linear_1d")["penalty"] == pytest.approx(n * s, rel=REL)
    assert fault("sum_before_norm", "r1/linear_1d")["penalty"] == pytest.approx(n * n * s,
                                                                                rel=REL)
    first = fault("first_sample_only", "r1/linear_1d")
    assert first["penalty"] == pytest.approx(s / n, rel=REL)
    assert np.array_equal(first["input_grad_real"], [[1.5], [0.0], [0.0]])
    eps = fault("epsilon_in_norm", "r1/linear_1d")
    assert np.array_equal(eps["grad_sq_real"], e["grad_sq_real"] + 1e-12)


def test_gradient_target_faults_on_a_linear_critic():
    kind, inputs, e = case("r1/linear_1d")
    v, w = e["logits_real"], 1.5
    d = sig(v)
    sigmoid = fault("sigmoid_gradient", "r1/linear_1d")  # grad D = D (1 - D) w
    assert np.allclose(sigmoid["grad_sq_real"], (d * (1 - d) * w) ** 2, rtol=REL, atol=0)
    loss = fault("loss_gradient", "r1/linear_1d")  # grad of mean softplus(-v) = -(1 - D) w / n
    assert np.allclose(loss["input_grad_real"][:, 0], -(1 - d) * w / 3, rtol=REL, atol=0)
    _, _, e_rkl = case("f:reverse_kl/linear_1d")  # g_f = -exp(-v): grad = exp(-v) w
    act = fault("activation_gradient", "f:reverse_kl/linear_1d")
    assert np.allclose(act["input_grad_fake"][:, 0], np.exp(-e_rkl["logits_fake"]) * w,
                       rtol=REL, atol=0)


def test_js_weight_faults_on_a_linear_critic():
    _, inputs, e = case("js/linear_1d")
    v_r, v_f, s = e["logits_real"], e["logits_fake"], 1.5 ** 2
    swapped = s * (np.mean(sig(v_r) ** 2) + np.mean(sig(-v_f) ** 2))
    direct = s * (np.mean(sig(v_r) * sig(-v_r)) + np.mean(sig(v_f) * sig(-v_f)))
    assert fault("js_weights_swapped", "js/linear_1d")["penalty"] == pytest.approx(swapped,
                                                                                   rel=REL)
    assert fault("js_weights_direct", "js/linear_1d")["penalty"] == pytest.approx(direct,
                                                                                  rel=REL)


def test_f_gan_faults_on_a_linear_critic():
    _, inputs, e = case("f:tv/linear_1d")  # f*(t) = t: raw logit in the conjugate gives v
    v_r, v_f = e["logits_real"], e["logits_fake"]
    raw = -(np.mean(np.tanh(v_r) / 2) - np.mean(v_f))  # Omega_TV = 0
    assert fault("conjugate_raw_logit", "f:tv/linear_1d")["loss"] == pytest.approx(raw, rel=REL)
    _, inputs, e = case("f:kl/linear_1d")  # g_f(-v) = -v, f*(g_f(-v)) = exp(-v - 1)
    v_r, v_f, gamma = e["logits_real"], e["logits_fake"], inputs["gamma"]
    penalty = 1.5 ** 2 * np.mean(np.exp(-v_f - 1))
    flipped = -(np.mean(-v_r) - np.mean(np.exp(-v_f - 1))) + gamma / 2 * penalty
    out = fault("wrong_activation_sign", "f:kl/linear_1d")
    assert out["penalty"] == pytest.approx(penalty, rel=REL)
    assert out["loss"] == pytest.approx(flipped, rel=REL)


# -- (b) algebra on the reference's numbers ---------------------------------------------------

@pytest.mark.parametrize("name, factor", [("gamma_not_halved", lambda g: g),
                                          ("sigma_for_gamma", lambda g: math.sqrt(g) / 2),
                                          ("penalty_subtracted", lambda g: -g / 2)])
def test_coefficient_faults(name, factor):
    for case_name in ("js/mlp_2d_tanh", "r2/mlp_3d_softplus", "f:hellinger/image_2x4x4_tanh"):
        _, inputs, e = case(case_name)
        gamma, out = inputs["gamma"], fault(name, case_name)
        base = e["loss"] - gamma / 2 * e["penalty"]
        assert out["loss"] == pytest.approx(base + factor(gamma) * e["penalty"], rel=1e-10)
        assert out["penalty"] == e["penalty"]
        base_grad = [(lw - gamma / 2 * pw, lb - gamma / 2 * pb)
                     for (lw, lb), (pw, pb) in zip(e["loss_grad"], e["penalty_grad"])]
        want = [(bw + factor(gamma) * pw, bb + factor(gamma) * pb)
                for (bw, bb), (pw, pb) in zip(base_grad, e["penalty_grad"])]
        assert scaled_error(out["loss_grad"], want) < 1e-10


def test_wrong_axis_on_the_image_case_is_r1_over_h_times_w():
    _, _, e = case("r1/image_2x4x4_tanh")
    out = fault("wrong_axis", "r1/image_2x4x4_tanh")  # (n, 2, 4, 4): sum over 2, mean over 16
    assert out["penalty"] == pytest.approx(e["penalty"] / 16, rel=REL)
    assert scaled_error(out["penalty_grad"],
                        [(w / 16, b / 16) for w, b in e["penalty_grad"]]) < REL
    # on flat inputs axis 1 is every axis: the fault is invisible there
    _, _, e2 = case("r1/mlp_2d_tanh")
    assert fault("wrong_axis", "r1/mlp_2d_tanh")["penalty"] == pytest.approx(e2["penalty"],
                                                                             rel=REL)


def test_wrong_sample_set_turns_r1_into_r2():
    for shape in ("mlp_2d_tanh", "image_2x4x4_tanh"):
        out = fault("wrong_sample_set", f"r1/{shape}")
        _, _, r2 = case(f"r2/{shape}")
        assert out["penalty"] == pytest.approx(r2["penalty"], rel=REL)
        assert scaled_error(out["penalty_grad"], r2["penalty_grad"]) < REL


def test_broadcast_is_the_product_of_means():
    """mean_ij w_i s_j = mean(w) mean(s), with the reference's logits and norms."""
    _, _, e = case("js/mlp_2d_tanh")
    want = (np.mean(sig(-e["logits_real"]) ** 2) * np.mean(e["grad_sq_real"])
            + np.mean(sig(e["logits_fake"]) ** 2) * np.mean(e["grad_sq_fake"]))
    assert fault("broadcast_n_by_n", "js/mlp_2d_tanh")["penalty"] == pytest.approx(want,
                                                                                   rel=REL)


def test_second_order_missing_drops_the_gradient_through_the_input_gradient():
    _, _, e = case("r1/mlp_2d_tanh")
    out = fault("second_order_missing", "r1/mlp_2d_tanh")
    assert out["penalty"] == e["penalty"]
    assert all(not np.any(w) and not np.any(b) for w, b in out["penalty_grad"])  # R1: all of it


def test_nan_gradient_only_where_the_input_gradient_is_zero():
    for name in vectors():
        out = fault("nan_at_zero_gradient", name)
        nan = np.isnan(np.concatenate([a.ravel() for layer in out["penalty_grad"]
                                       for a in layer]))
        if name.endswith("zero_input_gradient"):
            # every entry but the last bias's, which |g|^2 does not depend on
            assert nan.any() and nan[:-1].all(), name
        else:
            assert not nan.any(), name


def test_naive_conjugate_loses_precision_only_at_large_logits():
    for row in ("gan", "js", "neyman", "hellinger"):
        _, _, e = case(f"f:{row}/logits_near_plus_30")
        out = fault("naive_conjugate", f"f:{row}/logits_near_plus_30")
        err = max(scaled_error(out[k], e[k]) for k in ("loss", "loss_grad"))
        assert 1e-9 < err < 1e-2, row  # rounding lost, not a different formula
        _, _, e = case(f"f:{row}/mlp_2d_tanh")
        assert scaled_error(fault("naive_conjugate", f"f:{row}/mlp_2d_tanh")["loss"],
                            e["loss"]) < 1e-12, row


# -- (c) visible and diagnosed ----------------------------------------------------------------

@pytest.mark.parametrize("name", list(FAULTS))
def test_each_fault_is_visible_and_diagnosed_for_every_kind_it_lists(name):
    shown = set()
    for case_name, c in vectors().items():
        if c["kind"] not in FAULTS[name].kinds:
            assert name not in fault_table()[case_name]
            continue
        out = fault_table()[case_name][name]
        if all(within_tolerance(out[k], c["expected"][k]) for k in OUTPUT_FIELDS):
            continue
        shown.add(c["kind"])
        found = [n for n, _ in diagnose(c["kind"], c["inputs"], out,
                                        reference=c["expected"],
                                        candidates=fault_table()[case_name])]
        assert name in found, (case_name, found)
    assert shown == set(FAULTS[name].kinds)


def test_diagnose_from_a_subset_of_fields_and_from_scratch():
    kind, inputs, e = case("js/mlp_2d_tanh")
    assert diagnose(kind, inputs, e) == []  # the reference itself: nothing to diagnose
    assert diagnose(kind, inputs, {"penalty": e["penalty"]}) == []
    out = fault("gamma_not_halved", "js/mlp_2d_tanh")
    found = diagnose(kind, inputs, {"loss": out["loss"]})  # computes reference and faults
    assert [n for n, _ in found] == ["gamma_not_halved"]
    assert found[0][1] == FAULTS["gamma_not_halved"].description
    # numbers that fit no fault
    assert diagnose(kind, inputs, {"penalty": 3.0 * e["penalty"]}) == []
    with pytest.raises(ValueError, match="observed: unknown field.*penalties"):
        diagnose(kind, inputs, {"penalties": 1.0})


def test_fault_on_a_kind_it_does_not_apply_to():
    _, inputs, _ = case("r1/linear_1d")
    with pytest.raises(ValueError, match="fault 'js_weights_swapped' does not apply to 'r1'"):
        FAULTS["js_weights_swapped"].compute("r1", inputs)
    out = FAULTS["js_weights_swapped"].compute("js", inputs)
    assert set(out) == set(OUTPUT_FIELDS)
    assert compute_case("js", inputs)["penalty"] != out["penalty"]


# -- (d) ---------------------------------------------------------------------------------------

def test_correct_path_does_not_import_the_faults():
    code = ("import sys, refgan, refgan.conformance, refgan.cli, refgan.verify; "
            "assert 'refgan.faults' not in sys.modules, 'imported'")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    assert faults.__name__ == "refgan.faults"


def test_rounding_noise_on_a_quantity_the_fault_shrinks_does_not_hide_it():
    """At logits near +30 a detached Omega_JS has a parameter gradient of ~1e-15; code that
    writes 1 - sigmoid(v) loses digits there (relative noise ~1e-6 was seen from PyTorch).
    Measured against the reference's magnitude, ~0.1, such noise is still a match."""
    kind, inputs, e = case("js/logits_near_plus_30")
    out = fault("second_order_missing", "js/logits_near_plus_30")
    scale = max(np.abs(a).max() for layer in out["penalty_grad"] for a in layer)
    assert scale < 1e-12 < max(np.abs(a).max() for layer in e["penalty_grad"] for a in layer)
    noisy = dict(out, penalty_grad=[(w * (1 + 1e-6), b * (1 - 1e-6))
                                    for w, b in out["penalty_grad"]])
    assert scaled_error(noisy["penalty_grad"], out["penalty_grad"]) > 1e-9  # alone: no match
    found = diagnose(kind, inputs, noisy, reference=e,
                     candidates=fault_table()["js/logits_near_plus_30"])
    assert [n for n, _ in found] == ["second_order_missing"]
