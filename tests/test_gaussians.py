"""Gaussian oracles: closed forms against quadrature and against each other, the optimal
critics, mixture densities, and convolution with the noise.

Quadrature here uses numpy's probabilists' Hermite rule directly (not refgan's wrapper), and
log densities are written out in the tests, so these checks do not lean on the code under test.
"""
import itertools

import numpy as onp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refgan import gaussians as G
from refgan.divergences import get_divergence

CLOSED_ROWS = tuple(G.CLOSED_FORMS)


def hand_log_density(x, mean, var):
    """log N(x; mean, var I), written out: -|x - m|^2 / (2 var) - (d/2) log(2 pi var)."""
    d = x.shape[1]
    return -onp.sum((x - mean) ** 2, axis=1) / (2 * var) - 0.5 * d * onp.log(2 * onp.pi * var)


def expectation(h, mean, var, n_nodes=60):
    """E h(X), X ~ N(mean, var I), by a tensor product of numpy's hermegauss rule."""
    z, w = onp.polynomial.hermite_e.hermegauss(n_nodes)
    d = len(mean)
    nodes = onp.array(list(itertools.product(z, repeat=d)))
    weights = onp.prod(onp.array(list(itertools.product(w, repeat=d))), axis=1)
    return weights @ h(onp.asarray(mean) + onp.sqrt(var) * nodes) / onp.sqrt(2 * onp.pi) ** d


@st.composite
def gaussian_pairs(draw, max_dim=2):
    """Isotropic pair in 1-2 dimensions, variance ratio in [0.75, 4/3] (every row finite),
    mean gap at most half of Q's std per coordinate, and a noise variance gamma in [0, 0.5]."""
    d = draw(st.integers(1, max_dim))
    var_q = draw(st.floats(0.5, 2.0))
    var_p = var_q * draw(st.floats(0.75, 4.0 / 3.0))
    arr = lambda b: draw(hnp.arrays(onp.float64, (d,), elements=st.floats(-b, b)))
    mu_q = arr(1.0)
    return mu_q + arr(0.5) * onp.sqrt(var_q), var_p, mu_q, var_q, draw(st.floats(0.0, 0.5))


# D(P||Q) as expectations of r = log p - log q, by hand: (under P, under Q).
QUADRATURE_FORMS = {
    "kl": (lambda r: r, None),
    "reverse_kl": (None, lambda r: -r),
    "pearson": (lambda r: onp.exp(r) - 1.0, None),        # int p^2/q - 1 = E_P[p/q] - 1
    "neyman": (None, lambda r: onp.exp(-r) - 1.0),        # E_Q[q/p] - 1
    "hellinger": (None, lambda r: 2.0 - 2.0 * onp.exp(0.5 * r)),
}


@given(gaussian_pairs())
def test_closed_forms_agree_with_quadrature(case):
    mu_p, var_p, mu_q, var_q, gamma = case
    vp, vq = var_p + gamma, var_q + gamma     # the noise adds to the variances
    r = lambda x: hand_log_density(x, mu_p, vp) - hand_log_density(x, mu_q, vq)
    for name, (under_p, under_q) in QUADRATURE_FORMS.items():
        value = (expectation(lambda x: under_p(r(x)), mu_p, vp) if under_p else
                 expectation(lambda x: under_q(r(x)), mu_q, vq))
        # 60 nodes per axis: the integrands are exp(quadratic) * polynomial on a moderate pair,
        # converged to ~1e-14; 1e-10 leaves room and catches a wrong exponent or factor.
        assert G.closed_form_divergence(name, mu_p, var_p, mu_q, var_q, gamma) == pytest.approx(
            value, rel=1e-10, abs=1e-12), name


@given(gaussian_pairs())
def test_overlap_integral_agrees_with_quadrature(case):
    mu_p, var_p, mu_q, var_q, gamma = case
    vp, vq = var_p + gamma, var_q + gamma
    r = lambda x: hand_log_density(x, mu_p, vp) - hand_log_density(x, mu_q, vq)
    for a in (-0.5, 0.3, 0.5, 1.7):
        value = expectation(lambda x: onp.exp(a * r(x)), mu_q, vq)   # int p^a q^(1-a)
        assert G.overlap_integral(a, mu_p, var_p, mu_q, var_q, gamma) == pytest.approx(
            value, rel=1e-10), a


@given(gaussian_pairs(max_dim=3))
def test_closed_forms_agree_with_each_other(case):
    mu_p, var_p, mu_q, var_q, gamma = case
    pair = (mu_p, var_p, mu_q, var_q, gamma)
    alpha = lambda a: G.alpha_divergence(a, *pair)
    kl, reverse = G.kl_divergence(*pair), G.kl_divergence(mu_q, var_q, mu_p, var_p, gamma)
    # KL is the a -> 1 limit and reverse KL the a -> 0 limit of the alpha family. The central
    # average at a = 1 +- 1e-5 has error O(1e-10) (the a-derivative is smooth) and round-off
    # ~1e-16 / 1e-5: 1e-8 relative (plus absolute at P ~ Q).
    assert 0.5 * (alpha(1 + 1e-5) + alpha(1 - 1e-5)) == pytest.approx(kl, rel=1e-8, abs=1e-10)
    assert 0.5 * (alpha(1e-5) + alpha(-1e-5)) == pytest.approx(reverse, rel=1e-8, abs=1e-10)
    assert G.closed_form_divergence("reverse_kl", *pair) == reverse
    # alpha(1/2) = (BC - 1)/(-1/4) = 4 (1 - BC) = 2 * (squared Hellinger in this convention).
    assert G.squared_hellinger(*pair) == pytest.approx(alpha(0.5) / 2, rel=1e-12, abs=1e-15)
    # alpha(2) = (I(2) - 1)/2 = chi2_Pearson / 2,  alpha(-1) = (I(-1) - 1)/2 = chi2_Neyman / 2.
    assert G.pearson_chi2(*pair) == pytest.approx(2 * alpha(2.0), rel=1e-12, abs=1e-15)
    assert G.neyman_chi2(*pair) == pytest.approx(2 * alpha(-1.0), rel=1e-12, abs=1e-15)
    # Neyman(P||Q) is Pearson(Q||P).
    assert G.neyman_chi2(*pair) == pytest.approx(
        G.pearson_chi2(mu_q, var_q, mu_p, var_p, gamma), rel=1e-12, abs=1e-15)


@given(hnp.arrays(onp.float64, st.integers(1, 3), elements=st.floats(-3, 3)),
       st.floats(0.1, 3.0), st.floats(0.0, 1.0))
def test_divergence_of_a_distribution_to_itself_is_zero(mu, var, gamma):
    for name in CLOSED_ROWS:
        assert G.closed_form_divergence(name, mu, var, mu, var, gamma) == pytest.approx(
            0.0, abs=1e-14), name
    assert G.overlap_integral(0.3, mu, var, mu, var, gamma) == pytest.approx(1.0, rel=1e-14)


def test_kl_by_hand_in_two_dimensions():
    """P = N((1, 0), 1 I), Q = N((0, 0), 2 I):
    KL = 1/2 [2 * 1/2 + 1/2 - 2 + 2 ln 2] = 1/2 [ln 4 - 1/2] = ln 2 - 1/4."""
    assert G.kl_divergence([1.0, 0.0], 1.0, [0.0, 0.0], 2.0) == pytest.approx(
        onp.log(2) - 0.25, rel=1e-15)
    # With noise gamma = 1 both variances grow by 1: P_g = N(., 2 I), Q_g = N(., 3 I),
    # KL = 1/2 [2 * 2/3 + 1/3 - 2 + 2 ln(3/2)].
    assert G.kl_divergence([1.0, 0.0], 1.0, [0.0, 0.0], 2.0, gamma=1.0) == pytest.approx(
        0.5 * (4 / 3 + 1 / 3 - 2 + 2 * onp.log(1.5)), rel=1e-15)


def test_pearson_and_neyman_are_infinite_where_their_integrals_diverge():
    # int p^2 / q diverges when 2 var_q <= var_p.
    assert G.pearson_chi2([0.0], 2.0, [0.0], 1.0) == onp.inf
    assert G.neyman_chi2([0.0], 1.0, [0.0], 2.0) == onp.inf


# -- optimal critics -----------------------------------------------------------------------

@given(gaussian_pairs())
def test_optimal_critic_attains_the_divergence(case):
    """F(P, Q; psi*) = E_P g_f(v*) - E_Q f*(g_f(v*)) equals D_f(P||Q) at the optimal logit,
    by quadrature: the variational bound is tight there."""
    mu_p, var_p, mu_q, var_q, gamma = case
    vp, vq = var_p + gamma, var_q + gamma
    for name in CLOSED_ROWS:
        div = get_divergence(name)
        v = G.optimal_logit_fn(name, lambda x: hand_log_density(x, mu_p, vp),
                               lambda x: hand_log_density(x, mu_q, vq))
        bound = (expectation(lambda x: div.activation(v(None, x)), mu_p, vp)
                 - expectation(lambda x: div.conjugate_of_activation(v(None, x)), mu_q, vq))
        assert bound == pytest.approx(G.closed_form_divergence(name, mu_p, var_p, mu_q, var_q,
                                                               gamma), rel=1e-9, abs=1e-12), name


@given(gaussian_pairs())
def test_a_perturbed_critic_falls_below_the_divergence(case):
    """Any other critic gives a smaller bound: shifting the logit by 0.3 loses a visible amount
    unless P = Q (then the optimum is flat only to second order, so the loss is still > 0)."""
    mu_p, var_p, mu_q, var_q, gamma = case
    for name in CLOSED_ROWS:
        div = get_divergence(name)
        v = G.optimal_logit_fn(name, lambda x: hand_log_density(x, mu_p, var_p),
                               lambda x: hand_log_density(x, mu_q, var_q))
        bound = (expectation(lambda x: div.activation(v(None, x) + 0.3), mu_p, var_p)
                 - expectation(lambda x: div.conjugate_of_activation(v(None, x) + 0.3),
                               mu_q, var_q))
        assert bound < G.closed_form_divergence(name, mu_p, var_p, mu_q, var_q) - 1e-6, name


# -- densities and mixtures ------------------------------------------------------------------

@given(hnp.arrays(onp.float64, (5, 3), elements=st.floats(-4, 4)),
       hnp.arrays(onp.float64, (3,), elements=st.floats(-2, 2)), st.floats(0.05, 5.0))
def test_log_density_matches_the_formula(x, mean, var):
    assert G.log_density(x, mean, var) == pytest.approx(hand_log_density(x, mean, var),
                                                        rel=1e-14, abs=1e-13)


@st.composite
def mixtures(draw, dim=None):
    d = dim or draw(st.integers(1, 3))
    k = draw(st.integers(1, 4))
    raw = draw(hnp.arrays(onp.float64, (k,), elements=st.floats(0.1, 1.0)))
    means = draw(hnp.arrays(onp.float64, (k, d), elements=st.floats(-2, 2)))
    variances = draw(hnp.arrays(onp.float64, (k,), elements=st.floats(0.05, 1.0)))
    return G.gaussian_mixture(raw / raw.sum(), means, variances)


@given(mixtures(), st.data())
def test_mixture_log_density_is_the_log_of_the_weighted_sum(mix, data):
    d = mix.means.shape[1]
    x = data.draw(hnp.arrays(onp.float64, (6, d), elements=st.floats(-2, 2)))
    direct = onp.zeros(len(x))
    for w, m, v in zip(*mix):
        direct += w * onp.exp(hand_log_density(x, m, v))
    # |x - m|^2 <= 48 and v >= 0.05: every term is >= e^-480 ~ 1e-208, no underflow, so the
    # log of the direct sum is exact to round-off.
    assert G.mixture_log_density(x, mix) == pytest.approx(onp.log(direct), rel=1e-12,
                                                          abs=1e-12)


def test_mixture_log_density_is_finite_far_out():
    """Log-sum-exp: at 60 std from every component the direct sum underflows to 0."""
    mix = G.gaussian_mixture([0.5, 0.5], [[0.0], [1.0]], [0.01, 0.01])
    x = onp.array([[7.0]])
    expected = onp.log(0.5) - 36.0 / 0.02 - 0.5 * onp.log(2 * onp.pi * 0.01)   # nearest term
    assert G.mixture_log_density(x, mix)[0] == pytest.approx(expected, rel=1e-12)


@settings(max_examples=15)   # 60^2 nodes per component and test point in 2-D
@given(mixtures(dim=2), st.floats(0.01, 0.5), st.data())
def test_convolved_mixture_density_is_the_convolution_integral(mix, gamma, data):
    """p_gamma(y) = E_xi p(y - sqrt(gamma) xi), by quadrature over the noise."""
    y = data.draw(hnp.arrays(onp.float64, (3, 2), elements=st.floats(-2, 2)))
    noised = G.convolve(mix, gamma)
    for point in y:
        integral = expectation(lambda x: onp.exp(G.mixture_log_density(x, mix)), point, gamma)
        # A narrow component against wide noise is a peaked integrand: 60 nodes give ~1e-9.
        assert onp.exp(G.mixture_log_density(point[None], noised))[0] == pytest.approx(
            integral, rel=1e-7, abs=1e-12)


def test_convolution_matches_moments_of_noisy_samples():
    mix = G.gaussian_mixture([0.2, 0.5, 0.3], [[0.0, 1.0], [2.0, -1.0], [-1.0, 0.5]],
                             [0.1, 0.4, 0.2])
    gamma, n = 0.3, 200_000
    rng = onp.random.default_rng(0)
    x, labels = G.sample_mixture(mix, n, rng)
    noisy = x + onp.sqrt(gamma) * rng.standard_normal(x.shape)
    # Moments of the convolved mixture by hand: mean sum_k w_k m_k, covariance
    # sum_k w_k ((v_k + gamma) I + m_k m_k^T) - mean mean^T.
    conv = G.convolve(mix, gamma)
    assert onp.allclose(conv.variances, mix.variances + gamma, rtol=0, atol=1e-15)
    mean = conv.weights @ conv.means
    cov = (sum(w * (v * onp.eye(2) + onp.outer(m, m)) for w, m, v in zip(*conv))
           - onp.outer(mean, mean))
    # Five standard errors: sqrt(var / n) for the mean; for a covariance entry the standard
    # error is the std of the centred products over sqrt(n).
    centred = noisy - noisy.mean(axis=0)
    assert onp.all(onp.abs(noisy.mean(axis=0) - mean) <= 5 * onp.sqrt(onp.diag(cov) / n))
    for i, j in itertools.product(range(2), repeat=2):
        prod = centred[:, i] * centred[:, j]
        assert abs(prod.mean() - cov[i, j]) <= 5 * prod.std() / onp.sqrt(n), (i, j)
    # Component labels follow the weights (binomial standard errors).
    freq = onp.bincount(labels, minlength=3) / n
    assert onp.all(onp.abs(freq - mix.weights) <= 5 * onp.sqrt(mix.weights * (1 - mix.weights)
                                                               / n))


@pytest.mark.parametrize("call, match", [
    (lambda: G.kl_divergence([0.0], -1.0, [0.0], 1.0), "P variance"),
    (lambda: G.kl_divergence([0.0], 1.0, [0.0], 1.0, gamma=-0.1), "gamma"),
    (lambda: G.kl_divergence([0.0, 1.0], 1.0, [0.0], 1.0), "dimension"),
    (lambda: G.closed_form_divergence("js", [0.0], 1.0, [0.0], 1.0), "no closed form"),
    (lambda: G.alpha_divergence(1, [0.0], 1.0, [0.0], 1.0), "a:"),
    (lambda: G.gaussian_mixture([0.5, 0.6], [[0.0], [1.0]], [1.0, 1.0]), "weights"),
    (lambda: G.gaussian_mixture([0.5, 0.5], [[0.0], [1.0]], [1.0, 0.0]), "variances"),
    (lambda: G.convolve(G.gaussian_mixture([1.0], [[0.0]], [1.0]), -1.0), "gamma"),
    (lambda: G.log_density(onp.zeros(3), [0.0], 1.0), r"x: expected an array of shape \(n, d\)"),
    (lambda: G.log_density(onp.zeros((3, 1)), [0.0], 0.0), r"var: expected a finite number > 0"),
    (lambda: G.log_density(onp.zeros((3, 1)), [0.0], -1.0), r"var: expected a finite number"),
    (lambda: G.log_density(onp.zeros((3, 2)), [0.0, 1.0, 2.0], 1.0),
     r"x has samples of shape \(2,\) but mean has \(3,\)"),
    (lambda: G.log_density(onp.array([[onp.nan]]), [0.0], 1.0), r"x: contains 1 NaN"),
    (lambda: G.mixture_log_density(onp.zeros(3), MIX), r"x: expected an array of shape"),
    (lambda: G.mixture_log_density(onp.zeros((3, 3)), MIX),
     r"x has samples of shape \(3,\) but mixture.means has \(2,\)"),
    (lambda: G.mixture_log_density(onp.array([[0.0, onp.nan]]), MIX), r"x: contains 1 NaN"),
    (lambda: G.gaussian_mixture([0.5, 0.5], [[0.0], [1.0]], [1.0, 1.0, 1.0]),
     r"variances: expected one per component \(2\)"),
    (lambda: G.overlap_integral(onp.nan, [0.0], 1.0, [0.0], 1.0), r"a: expected a finite"),
    (lambda: G.alpha_divergence(onp.inf, [0.0], 1.0, [0.0], 1.0), r"a: expected a finite"),
])
def test_bad_gaussian_arguments_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


MIX = G.gaussian_mixture([0.25, 0.75], [[0.0, 1.0], [2.0, -1.0]], [0.5, 2.0])


@pytest.mark.parametrize("call, match", [
    (lambda: G.overlap_integral("0.5", [0.0], 1.0, [0.0], 1.0), r"a: expected a real number"),
    (lambda: G.overlap_integral(True, [0.0], 1.0, [0.0], 1.0), r"a: expected a real number"),
    (lambda: G.convolve((onp.ones(1), onp.zeros((1, 1)), onp.ones(1)), 0.1),
     r"mixture: expected a GaussianMixture"),
    (lambda: G.mixture_log_density(onp.zeros((2, 2)), "mix"), r"mixture: expected a Gauss"),
    (lambda: G.kl_divergence([0.0], "1", [0.0], 1.0), r"P variance: expected a real number"),
])
def test_wrongly_typed_gaussian_arguments_raise_type_errors(call, match):
    with pytest.raises(TypeError, match=match):
        call()


@pytest.mark.parametrize("spelling, row", [("KL", "kl"), ("reverse-kl", "reverse_kl"),
                                           (" Hellinger", "hellinger")])
def test_closed_forms_accept_the_spellings_of_get_divergence(spelling, row):
    args = ([0.0, 0.5], 1.0, [0.3, 0.0], 1.5, 0.1)
    assert G.closed_form_divergence(spelling, *args) == G.CLOSED_FORMS[row](*args)
    assert G.closed_form_divergence(get_divergence(row), *args) == G.CLOSED_FORMS[row](*args)


def test_float32_and_integer_samples_give_float64_densities():
    """The same points as float64 (exact conversions), so the same values to rel 1e-15."""
    x = onp.array([[0.5, -1.25], [2.0, 0.0]])
    for cast in (x.astype(onp.float32), onp.array([[1, -2], [2, 0]])):
        for got, want in ((G.log_density(cast, [0.0, 1.0], 0.5),
                           hand_log_density(cast.astype(float), onp.array([0.0, 1.0]), 0.5)),
                          (G.mixture_log_density(cast, MIX),
                           G.mixture_log_density(cast.astype(float), MIX))):
            assert got.dtype == onp.float64
            onp.testing.assert_allclose(got, want, rtol=1e-15)
