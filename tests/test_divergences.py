"""Every row of the f-divergence table, checked mechanically and table-driven.

Each test is parametrised over refgan.DIVERGENCES, so a new row is checked as soon as it is
added. The expected values come from outside the row's own code: a numerical supremum for
the conjugate, autograd for the derivatives, the formulas of the REFERENCE table written out
below for the composites, and hand asymptotics at |v| = 40 and 1000.
"""
import math
import warnings

import numpy as np
import pytest
from autograd import elementwise_grad
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import refgan
from naive_table import TABLE
from refgan import DIVERGENCES, get_divergence

NAMES = list(DIVERGENCES)
NO_SECOND_DERIVATIVE = "tv: f and f* have kinks, f'' = f*'' = 0, f' is not invertible"
LOG2 = math.log(2.0)


# f*(g_f(v)) at v = -1000, -40, 40, 1000 by hand asymptotics. inf marks a value beyond
# float64 (kl: e^999, hellinger: e^1000 - 1): it must come out as inf, never NaN.
# (neyman at -1000 is 2 - 2 e^500 = -2.8e217, still finite.)
#   softplus(v) = v + log(1 + e^-v) = v + e^-v + O(e^-2v) for v > 0, = e^v + O(e^2v) for v < 0
#   tanh(40) = 1 - 2 e^-80 rounds to 1; e^-1000 and e^-1001 underflow to 0
LARGE_V = (-1000.0, -40.0, 40.0, 1000.0)
ASYMPTOTICS = {
    "kl": (0.0, math.exp(-41.0), math.exp(39.0), math.inf),
    "reverse_kl": (-1001.0, -41.0, 39.0, 999.0),
    "pearson": (1000.0 ** 2 / 4 - 1000.0, 40.0 ** 2 / 4 - 40.0, 40.0 ** 2 / 4 + 40.0,
                1000.0 ** 2 / 4 + 1000.0),
    "neyman": (2.0 - 2.0 * math.exp(500.0), 2.0 - 2.0 * math.exp(20.0),
               2.0 - 2.0 * math.exp(-20.0), 2.0),
    "hellinger": (-1.0, -1.0 + math.exp(-40.0), math.exp(40.0) - 1.0, math.inf),
    "js": (-LOG2, math.exp(-40.0) - LOG2, 40.0 + math.exp(-40.0) - LOG2, 1000.0 - LOG2),
    "gan": (0.0, math.exp(-40.0), 40.0 + math.exp(-40.0), 1000.0),
    "tv": (-0.5, -0.5, 0.5, 0.5),
}

# Pearson's f-GAN activation g_f(v) = v reaches t < -2, outside the domain where the quadratic
# f* is the true conjugate; there F is still a valid (loose) lower bound (REFERENCE section 4).
ACTIVATION_LEAVES_DOMAIN = {"pearson"}


def interior(div, bound=5.0, margin=0.05):
    """A closed interval inside div.conjugate_domain, clipped to [-bound, bound] and kept
    `margin` of its width away from both ends (where f*' blows up)."""
    lo, hi = div.conjugate_domain
    lo, hi = max(lo, -bound), min(hi, bound)
    pad = margin * (hi - lo)
    return lo + pad, hi - pad


def t_values(div, fractions):
    lo, hi = interior(div)
    return lo + (hi - lo) * np.asarray(fractions, dtype=np.float64)


def numerical_sup(t, f, s_lo=-25.0, s_hi=25.0, n_grid=4001, n_golden=100):
    """sup_{u > 0} t u - f(u), by a grid over s = log u then golden-section refinement.

    t u - f(u) is concave in u, so it is unimodal in s = log u too and the refinement around
    the best grid point finds the maximum of that bracket."""
    def h(s):
        u = np.exp(s)
        with np.errstate(all="ignore"):
            val = t * u - f(u)
        return np.where(np.isnan(val), -np.inf, val)

    s = np.linspace(s_lo, s_hi, n_grid)
    k = int(np.argmax(h(s)))
    a, b = s[max(k - 1, 0)], s[min(k + 1, n_grid - 1)]
    r = (math.sqrt(5.0) - 1.0) / 2.0
    for _ in range(n_golden):
        c, d = b - r * (b - a), a + r * (b - a)
        if h(c) >= h(d):
            b = d
        else:
            a = c
    return max(float(h(0.5 * (a + b))), float(h(s[k])))


fractions = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=6)
log_ratios = st.lists(st.floats(-3.0, 3.0), min_size=1, max_size=6)
moderate_v = st.lists(st.floats(-5.0, 5.0), min_size=1, max_size=6)


def derivative(fn):
    """Elementwise autograd derivative; silences autograd's warning for constant functions
    (tv's f*' = 1 and the constant second derivatives), whose derivative is then 0."""
    d = elementwise_grad(fn)

    def wrapped(x):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            out = d(np.asarray(x, dtype=np.float64))
        return np.broadcast_to(out, np.shape(x))
    return wrapped


def test_every_row_has_its_reference_entries():
    # A new row must come with its REFERENCE-table formulas and hand asymptotics here.
    assert set(TABLE) == set(NAMES) == set(ASYMPTOTICS)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=15)
@given(fractions)
def test_conjugate_is_the_supremum(name, fr):
    """f*(t) = sup_u t u - f(u) at t inside the conjugate's domain."""
    div = DIVERGENCES[name]
    for t in t_values(div, fr):
        expected = numerical_sup(t, div.f)
        # rtol 1e-9: the golden-section maximiser is exact to round-off and the maximum is
        # flat, so the sup is found to ~1e-14; a wrong constant or factor is far larger.
        assert float(div.conjugate(t)) == pytest.approx(expected, rel=1e-9, abs=1e-12), t


@pytest.mark.parametrize("name", NAMES)
def test_f_at_one(name):
    expected = -math.log(4.0) if name == "gan" else 0.0  # D_GAN(P||P) = -log 4
    assert float(DIVERGENCES[name].f(1.0)) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.skip(reason=NO_SECOND_DERIVATIVE)) if n == "tv" else n
    for n in NAMES])
@given(log_ratios)
def test_conjugate_derivatives_invert_f_derivatives(name, r):
    """f*'(f'(u)) = u and f*''(f'(u)) = 1/f''(u): f' and f*' are inverse functions."""
    div = DIVERGENCES[name]
    u = np.exp(np.asarray(r))
    t = div.f_prime(u)
    # rtol 1e-9: f'(u) loses a few digits to cancellation (gan: log u - log(u + 1)).
    np.testing.assert_allclose(div.conjugate_prime(t), u, rtol=1e-9)
    np.testing.assert_allclose(div.conjugate_second(t), 1.0 / div.f_second(u), rtol=1e-9)


@pytest.mark.parametrize("name", NAMES)
@given(log_ratios, fractions)
def test_derivatives_agree_with_autograd(name, r, fr):
    div = DIVERGENCES[name]
    u = np.exp(np.asarray(r))
    if name == "tv":
        assume(np.all(np.abs(u - 1.0) > 1e-9))  # f has its kink at u = 1
    t = t_values(div, fr)
    # rtol 1e-10: closed form and autograd are both exact up to round-off.
    np.testing.assert_allclose(div.f_prime(u), derivative(div.f)(u), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(div.f_second(u), derivative(div.f_prime)(u),
                               rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(div.conjugate_prime(t), derivative(div.conjugate)(t),
                               rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(div.conjugate_second(t), derivative(div.conjugate_prime)(t),
                               rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
@given(st.lists(st.floats(-15.0, 15.0), min_size=1, max_size=6))
def test_activation_maps_into_the_conjugate_domain(name, v):
    # |v| <= 15: beyond that g_f(v) rounds onto the domain's end in float64 (tanh(20) = 1).
    div = DIVERGENCES[name]
    t = div.activation(np.asarray(v))
    if name in ACTIVATION_LEAVES_DOMAIN:
        assert np.all(np.isfinite(div.conjugate(t)))
        return
    lo, hi = div.conjugate_domain
    assert np.all((t > lo) & (t < hi)), (t, div.conjugate_domain)


def test_pearson_activation_does_leave_the_domain():
    # The exemption above is needed, not a blanket skip: g_f(-3) = -3 < -2.
    div = DIVERGENCES["pearson"]
    assert div.activation(-3.0) < div.conjugate_domain[0]


@pytest.mark.parametrize("name", NAMES)
@given(moderate_v, fractions)
def test_activation_inverse_inverts_activation(name, v, fr):
    div = DIVERGENCES[name]
    v = np.asarray(v)
    t = t_values(div, fr)
    # atol 1e-9: near the domain's end g_f^{-1} amplifies round-off (tv: arctanh near 1/2).
    np.testing.assert_allclose(div.activation_inverse(div.activation(v)), v, atol=1e-9)
    np.testing.assert_allclose(div.activation(div.activation_inverse(t)), t, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
@given(moderate_v)
def test_composite_matches_conjugate_of_activation_and_the_table(name, v):
    div = DIVERGENCES[name]
    v = np.asarray(v)
    g_table, composite_table = TABLE[name]
    # rtol 1e-10: the stable and the naive forms agree to round-off at |v| <= 5.
    np.testing.assert_allclose(div.activation(v), g_table(v), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(div.conjugate_of_activation(v), div.conjugate(div.activation(v)),
                               rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(div.conjugate_of_activation(v), composite_table(v),
                               rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", NAMES)
def test_composite_at_large_logits(name):
    div = DIVERGENCES[name]
    with np.errstate(over="ignore"):  # kl and hellinger overflow to inf on purpose
        got = div.conjugate_of_activation(np.array(LARGE_V))
    assert not np.any(np.isnan(got)), got
    for v, value, expected in zip(LARGE_V, got, ASYMPTOTICS[name]):
        if math.isinf(expected):
            assert value == expected, (v, value)
        else:
            # rtol 1e-12: the stable form is exact to round-off; the dropped asymptotic terms
            # (e^-80 and smaller) are far below it.
            assert value == pytest.approx(expected, rel=1e-12, abs=1e-300), (v, value)


@pytest.mark.parametrize("name", NAMES)
@given(moderate_v)
def test_penalty_weight_is_conjugate_second_times_activation_slope_squared(name, v):
    """w_f(v) = f*''(g_f(v)) g_f'(v)^2, g_f' by autograd."""
    div = DIVERGENCES[name]
    v = np.asarray(v)
    expected = div.conjugate_second(div.activation(v)) * derivative(div.activation)(v) ** 2
    # rtol 1e-9: f*'' near the domain's end loses a few digits (js: 2 - e^t).
    np.testing.assert_allclose(div.penalty_weight(v), expected, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_penalty_weight_at_large_logits_is_never_nan(name):
    with np.errstate(over="ignore"):
        w = DIVERGENCES[name].penalty_weight(np.array(LARGE_V))
    assert not np.any(np.isnan(w)) and np.all(w >= 0.0), w
    assert np.all(np.isfinite(w[1:3])), w  # finite at |v| = 40


@pytest.mark.parametrize("name", NAMES)
@given(log_ratios)
def test_optimal_logit_gives_the_optimal_critic(name, r):
    """g_f(v*(log p - log q)) = f'(p/q)."""
    div = DIVERGENCES[name]
    r = np.asarray(r)
    if name == "tv":
        # f' jumps at u = 1; any critic value in [-1/2, 1/2] is optimal there.
        assume(np.all(np.abs(r) > 1e-12))
    # rtol 1e-9: the inverse of the activation costs a few digits of round-off.
    np.testing.assert_allclose(div.activation(div.optimal_logit(r)), div.f_prime(np.exp(r)),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(div.optimal_critic(r), div.f_prime(np.exp(r)), rtol=1e-12)


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown divergence 'chi3'") as err:
        get_divergence("chi3")
    for name in NAMES:
        assert name in str(err.value)


@pytest.mark.parametrize("spelling, name", [
    ("KL", "kl"), ("Reverse-KL", "reverse_kl"), ("reverse_kl", "reverse_kl"),
    (" Pearson ", "pearson"), ("JS", "js"), ("GAN", "gan"), ("Tv", "tv")])
def test_lookup_ignores_case_and_hyphens(spelling, name):
    assert get_divergence(spelling) is DIVERGENCES[name]


def test_a_divergence_object_passes_through():
    assert get_divergence(DIVERGENCES["hellinger"]) is DIVERGENCES["hellinger"]
    assert refgan.get_divergence is get_divergence


# -- the logistic sigmoid, to full relative precision in both tails ------------------------

# x, and sigma(x) written where its textbook form is exact to round-off: e^x / (1 + e^x) for
# x < 0 (e^x is not cancelled by anything), 1 / (1 + e^-x) for x >= 0.
SIGMOID_POINTS = (-700.0, -40.0, -37.0, -30.0, -20.0, -1.5, 0.0, 0.75, 20.0, 40.0, 700.0)


def textbook_sigmoid(x):
    return math.exp(x) / (1.0 + math.exp(x)) if x < 0 else 1.0 / (1.0 + math.exp(-x))


@pytest.mark.parametrize("x", SIGMOID_POINTS)
def test_sigmoid_has_full_relative_precision_in_both_tails(x):
    """sigma(-40) = 4.248e-18 is a fine float64; 0.5 (tanh(x/2) + 1) cancels it to 0 (and is
    off by 0.35 at -37, 1.7e-4 at -30). rel 1e-14: a few ulps of libm's exp and one division;
    the tanh form misses by more than 1e-8 at every x <= -20."""
    got = float(refgan.sigmoid(np.array(x)))
    assert got == pytest.approx(textbook_sigmoid(x), rel=1e-14, abs=0.0), x
    assert float(refgan.log_sigmoid(np.array(x))) == pytest.approx(
        -math.log1p(math.exp(-x)), rel=1e-14, abs=1e-300), x


def test_sigmoid_at_extreme_logits_and_its_derivative():
    """No overflow or NaN at +-1000 (sigma(-1000) = e^-1000 underflows to 0), and the
    derivative sigma (1 - sigma), by hand, to rel 1e-13 including x = 0 exactly (1/4): a
    branch on |x| would give the derivative 0 there."""
    x = np.array([-1000.0, -40.0, -2.0, 0.0, 3.0, 40.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # e^-1000 may underflow
        s = refgan.sigmoid(x)
    np.testing.assert_array_equal(s[[0, -1]], [0.0, 1.0])
    slope = derivative(refgan.sigmoid)(x)
    hand = [textbook_sigmoid(t) * textbook_sigmoid(-t) if abs(t) < 700 else 0.0 for t in x]
    np.testing.assert_allclose(slope, hand, rtol=1e-13, atol=0.0)
    assert slope[3] == 0.25


@pytest.mark.parametrize("name", ["gan", "js"])
def test_penalty_weight_at_minus_40_is_sigmoid_by_hand(name):
    """The gan and js rows weigh |grad v|^2 by sigma(v): at v = -40 that is
    e^-40 / (1 + e^-40) = 4.2483542552915889e-18, not 0. rel 1e-14 as above."""
    w = float(DIVERGENCES[name].penalty_weight(np.array(-40.0)))
    assert w == pytest.approx(math.exp(-40.0) / (1.0 + math.exp(-40.0)), rel=1e-14, abs=0.0)
    assert w == pytest.approx(4.2483542553e-18, rel=1e-10)
