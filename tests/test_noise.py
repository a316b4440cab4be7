"""Instance noise machinery: the Gauss-Hermite rule, the Monte Carlo noise (antithetic pairs,
common random numbers), the heat identity, and the Laplacian, each against hand calculations
or finite differences."""
import math

import autograd.numpy as anp
import numpy as onp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refgan.nets import mlp
from refgan.noise import (gauss_hermite_rule, laplacian, noise_expectation_gh,
                          noise_expectation_mc, noised_f_gan_objective)


def normal_moment(k):
    """E[Z^k], Z ~ N(0, 1): 0 for odd k, (k - 1)!! = 1 * 3 * ... * (k - 1) for even k."""
    return 0.0 if k % 2 else float(math.prod(range(1, k, 2)))


# -- the Gauss-Hermite rule ----------------------------------------------------------------

@pytest.mark.parametrize("n_nodes", [1, 2, 3, 5, 8, 12])
def test_gauss_hermite_is_exact_up_to_degree_2n_minus_1_and_not_beyond(n_nodes):
    nodes, weights = gauss_hermite_rule(1, n_nodes)
    assert nodes.shape == (n_nodes, 1) and weights.shape == (n_nodes,)
    for k in range(2 * n_nodes):
        # Moments up to 21!! ~ 1.4e10: relative 1e-12 is round-off, and for the odd (zero)
        # moments 1e-13 of the sum of |terms|; any wrong node or weight shows at once.
        size = weights @ onp.abs(nodes[:, 0]) ** k
        assert weights @ nodes[:, 0] ** k == pytest.approx(normal_moment(k), rel=1e-12,
                                                           abs=1e-13 * size)
    # Degree 2n is the first one the rule misses (its error is n! / ... > 0): the bound is sharp.
    k = 2 * n_nodes
    assert abs(weights @ nodes[:, 0] ** k - normal_moment(k)) > 1e-3 * normal_moment(k)


@pytest.mark.parametrize("dim", [2, 3])
def test_gauss_hermite_tensor_rule_integrates_products_of_monomials(dim):
    n_nodes = 3   # exact per axis up to degree 5
    nodes, weights = gauss_hermite_rule(dim, n_nodes)
    assert nodes.shape == (n_nodes ** dim, dim) and weights.sum() == pytest.approx(1.0, rel=1e-14)
    for powers in [(0,) * dim, (2,) * dim, (4, 2, 0)[:dim], (5, 1, 3)[:dim], (4, 4, 4)[:dim]]:
        expected = math.prod(normal_moment(k) for k in powers)
        value = weights @ onp.prod(nodes ** onp.array(powers), axis=1)
        assert value == pytest.approx(expected, rel=1e-12, abs=1e-13), powers


@given(x=hnp.arrays(onp.float64, (4, 1), elements=st.floats(-3, 3)), gamma=st.floats(0, 4))
def test_noise_expectation_gh_of_a_quartic_is_exact(x, gamma):
    """E[(x + s xi)^4] = x^4 + 6 x^2 gamma + 3 gamma^2 (moments 1, 3 of xi^2, xi^4)."""
    value = noise_expectation_gh(lambda y: y[:, 0] ** 4, x, gamma, n_nodes=3)
    x = x[:, 0]
    expected = x ** 4 + 6 * x ** 2 * gamma + 3 * gamma ** 2
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)


@given(x=hnp.arrays(onp.float64, (3, 3), elements=st.floats(-2, 2)), gamma=st.floats(0, 2))
def test_noise_expectation_gh_in_three_dimensions_by_hand(x, gamma):
    """E[|y|^2] = |x|^2 + 3 gamma; E[y1^2 y2^2 y3] = (x1^2 + gamma)(x2^2 + gamma) x3."""
    sq = noise_expectation_gh(lambda y: anp.sum(y ** 2, axis=1), x, gamma, n_nodes=2)
    assert sq == pytest.approx(onp.sum(x ** 2, axis=1) + 3 * gamma, rel=1e-12, abs=1e-12)
    prod = noise_expectation_gh(lambda y: y[:, 0] ** 2 * y[:, 1] ** 2 * y[:, 2], x, gamma, 2)
    expected = (x[:, 0] ** 2 + gamma) * (x[:, 1] ** 2 + gamma) * x[:, 2]
    assert prod == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_noise_expectation_gh_refuses_more_than_three_coordinates():
    with pytest.raises(ValueError, match="at most 3"):
        noise_expectation_gh(lambda y: y[:, 0], onp.zeros((2, 4)), 0.1)


# -- Monte Carlo noise ---------------------------------------------------------------------

def test_antithetic_pairs_cancel_odd_terms_exactly():
    x = onp.array([[-1.3], [0.2], [2.0]])
    gamma, kw = 0.7, dict(n_draws=64, seed=3)
    # The draws' own second moment per sample, read off with h = y^2 at x = 0, gamma = 1.
    m2 = noise_expectation_mc(lambda y: y[:, 0] ** 2, onp.zeros_like(x), 1.0, **kw)
    cubic = noise_expectation_mc(lambda y: y[:, 0] ** 3, x, gamma, **kw)
    # (x + s xi)^3 + (x - s xi)^3 = 2 x^3 + 6 x s^2 xi^2: the xi and xi^3 terms are gone.
    x = x[:, 0]
    assert cubic == pytest.approx(x ** 3 + 3 * x * gamma * m2, rel=1e-13, abs=1e-13)
    # Without pairs the odd terms stay (a sample mean of xi^3 over 64 draws is ~0.3, not 0).
    plain = noise_expectation_mc(lambda y: y[:, 0] ** 3, x[:, None], gamma, antithetic=False, **kw)
    assert onp.all(onp.abs(plain - (x ** 3 + 3 * x * gamma * m2)) > 1e-3)


def test_antithetic_mean_of_an_odd_function_is_zero():
    x = onp.zeros((5, 2))
    odd = lambda y: y[:, 0] ** 3 + anp.tanh(y[:, 1]) - anp.sin(y[:, 0] * y[:, 1] ** 2)
    assert onp.max(onp.abs(noise_expectation_mc(odd, x, 2.0, n_draws=100, seed=1))) < 1e-15


def test_same_seed_gives_the_same_noise_for_every_gamma():
    """Common random numbers: h linear (no pairs) and quadratic (pairs) in the noise scale
    exactly with sqrt(gamma) and gamma."""
    x = onp.zeros((4, 2))
    lin = lambda g: noise_expectation_mc(lambda y: y[:, 0] - 2 * y[:, 1], x, g, n_draws=50,
                                         seed=7, antithetic=False)
    quad = lambda g: noise_expectation_mc(lambda y: y[:, 0] ** 2 + y[:, 0] * y[:, 1], x, g,
                                          n_draws=50, seed=7)
    assert lin(0.09) == pytest.approx(onp.sqrt(0.09 / 2.5) * lin(2.5), rel=1e-13, abs=1e-15)
    assert quad(0.01) == pytest.approx(quad(3.0) / 300.0, rel=1e-13)
    other_seed = noise_expectation_mc(lambda y: y[:, 0] ** 2 + y[:, 0] * y[:, 1], x, 3.0,
                                      n_draws=50, seed=8)
    assert onp.all(other_seed != quad(3.0))


def test_each_sample_gets_its_own_noise():
    x = onp.zeros((3, 1))
    means = noise_expectation_mc(lambda y: y[:, 0], x, 1.0, n_draws=10, seed=0, antithetic=False)
    assert len(set(means.tolist())) == 3


def test_monte_carlo_agrees_with_quadrature_within_its_error():
    """E[cos(x + s xi)] = cos(x) exp(-gamma/2) (characteristic function of the normal)."""
    x, gamma, n = onp.array([[0.0], [1.0], [2.5]]), 0.8, 20000
    exact = onp.cos(x[:, 0]) * onp.exp(-gamma / 2)
    h = lambda y: anp.cos(y[:, 0])
    assert noise_expectation_gh(h, x, gamma, n_nodes=20) == pytest.approx(exact, abs=1e-13)
    # Per-draw std of cos(...) is below 0.5 and pairs only help: 5 sigma = 5 * 0.5 / sqrt(2e4).
    assert noise_expectation_mc(h, x, gamma, n_draws=n, seed=2) == pytest.approx(
        exact, abs=5 * 0.5 / onp.sqrt(n))


@pytest.mark.parametrize("call, match", [
    (lambda: noise_expectation_mc(lambda y: y[:, 0], onp.zeros((2, 1)), 0.1, n_draws=3),
     "n_draws"),
    (lambda: noise_expectation_mc(lambda y: y[:, 0], onp.zeros((2, 1)), -0.1), "gamma"),
    (lambda: noise_expectation_gh(lambda y: y[:, 0], onp.zeros((2, 1)), -1.0), "gamma"),
    (lambda: noise_expectation_gh(lambda y: y[:, 0], onp.array([[onp.nan]]), 0.1), "x"),
    (lambda: noise_expectation_gh(lambda y: y[:, 0], onp.zeros((0, 1)), 0.1), "empty"),
    (lambda: noise_expectation_gh(lambda y: y, onp.zeros((2, 1)), 0.1), r"h\(x\)"),
    (lambda: noised_f_gan_objective("kl", lambda p, x: x[:, 0], None, onp.zeros((2, 1)),
                                    onp.zeros((2, 1)), 0.1, method="exact"), "method"),
])
def test_bad_noise_arguments_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# -- the heat identity and the Laplacian -------------------------------------------------

@given(a=hnp.arrays(onp.float64, (3, 3), elements=st.floats(-2, 2)),
       b=hnp.arrays(onp.float64, (3,), elements=st.floats(-2, 2)),
       x=hnp.arrays(onp.float64, (4, 3), elements=st.floats(-2, 2)))
def test_laplacian_of_a_quadratic_is_twice_the_trace(a, b, x):
    """h = x^T A x + b.x + 1 (A not symmetric): Lap h = tr(A + A^T) = 2 tr A everywhere."""
    h = lambda y: anp.sum(anp.dot(y, a) * y, axis=1) + anp.dot(y, b) + 1.0
    assert laplacian(h, x) == pytest.approx(onp.full(4, 2 * onp.trace(a)), rel=1e-12, abs=1e-12)
    # The heat identity is exact for quadratics at any gamma: E h(x + s xi) = h + gamma/2 Lap h.
    gamma = 0.37
    assert noise_expectation_gh(h, x, gamma, n_nodes=2) == pytest.approx(
        h(x) + gamma / 2 * laplacian(h, x), rel=1e-12, abs=1e-12)


@given(hnp.arrays(onp.float64, (5, 3), elements=st.floats(-2, 2)))
def test_laplacian_of_known_functions_by_hand(x):
    """h = sum_k sin x_k + exp(x_1 x_2) + x_3^3:
    Lap h = -sum_k sin x_k + (x_1^2 + x_2^2) exp(x_1 x_2) + 6 x_3."""
    h = lambda y: (anp.sum(anp.sin(y), axis=1) + anp.exp(y[:, 0] * y[:, 1]) + y[:, 2] ** 3)
    x1, x2, x3 = x.T
    expected = -onp.sum(onp.sin(x), axis=1) + (x1 ** 2 + x2 ** 2) * onp.exp(x1 * x2) + 6 * x3
    assert laplacian(h, x) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_laplacian_sums_over_all_axes_of_a_multi_axis_sample():
    """|y|^2 over a (2, 3) sample has Laplacian 2 * 6; a channel-only sum would give less."""
    x = onp.arange(24.0).reshape(4, 2, 3) / 10
    h = lambda y: anp.sum(y ** 2, axis=(1, 2))
    assert laplacian(h, x) == pytest.approx(onp.full(4, 12.0), rel=1e-14)


@st.composite
def mlp_cases(draw):
    d = draw(st.integers(1, 4))
    sizes = [d, draw(st.integers(2, 6)), draw(st.integers(2, 6)), 1]
    arr = lambda shape, bound: draw(hnp.arrays(onp.float64, shape,
                                               elements=st.floats(-bound, bound)))
    params = [(arr((a, b), 1.5), arr((b,), 1.0)) for a, b in zip(sizes[:-1], sizes[1:])]
    return params, draw(st.sampled_from(["tanh", "softplus"])), arr((3, d), 2.0)


def fd_laplacian(h, x, step=1e-2):
    """Fourth-order central differences, one axis at a time:
    h'' ~ (-h(x+2e) + 16 h(x+e) - 30 h(x) + 16 h(x-e) - h(x-2e)) / (12 e^2), error O(e^4)."""
    total = onp.zeros(x.shape[0])
    for k in range(x.shape[1]):
        e = onp.zeros(x.shape[1])
        e[k] = step
        total += (-h(x + 2 * e) + 16 * h(x + e) - 30 * h(x) + 16 * h(x - e) - h(x - 2 * e)) / (
            12 * step ** 2)
    return total


@given(mlp_cases())
def test_laplacian_of_an_mlp_matches_finite_differences(case):
    params, activation, x = case
    h = lambda y: mlp(params, y, activation)
    # Truncation ~ step^4 / 90 * h^(6) ~ 1e-9 for these weights, round-off ~ 1e-16 / 1e-4;
    # 1e-6 is far below the size of the Laplacian's terms and of any missed coordinate.
    assert laplacian(h, x) == pytest.approx(fd_laplacian(h, x), rel=1e-6, abs=1e-6)
    # Samples do not interact: each row equals the Laplacian computed on that sample alone.
    alone = onp.concatenate([laplacian(h, x[i:i + 1]) for i in range(len(x))])
    assert laplacian(h, x) == pytest.approx(alone, rel=1e-13, abs=1e-13)


def test_a_non_finite_h_or_one_that_mixes_samples_is_an_error():
    """A NaN from h is a FloatingPointError, not a NaN expectation; an h that returns one
    number for the batch (or (n, 1)) has no per-sample Laplacian."""
    nan_h = lambda y: y[:, 0] * onp.nan
    with pytest.raises(FloatingPointError, match=r"h\(x\): produced 6 non-finite"):
        noise_expectation_mc(nan_h, onp.ones((3, 1)), 0.1, n_draws=2)
    with pytest.raises(FloatingPointError, match=r"h\(x\): produced 6 non-finite"):
        noise_expectation_gh(nan_h, onp.ones((3, 1)), 0.1, n_nodes=2)
    with pytest.raises(ValueError, match=r"h\(x\): expected shape \(3,\)"):
        laplacian(lambda y: anp.sum(y ** 2), onp.ones((3, 2)))
    with pytest.raises(ValueError, match=r"h\(x\): expected shape \(3,\).*squeeze"):
        laplacian(lambda y: anp.sum(y ** 2, axis=1, keepdims=True), onp.ones((3, 2)))
