"""Closed-form test oracles: isotropic Gaussians and Gaussian mixtures with instance noise.

A Gaussian is (mean (d,), variance s^2 > 0) meaning N(mean, s^2 I). Noise of variance gamma
adds to the variance: P_gamma = N(mu, (s^2 + gamma) I). With v_i = s_i^2 + gamma,
Delta = mu_p - mu_q:

    KL(P||Q) = 1/2 [ d v_p/v_q + |Delta|^2/v_q - d + d log(v_q/v_p) ]
    I(a) = int p^a q^(1-a) = (v_p^((1-a)/2) v_q^(a/2) / v_a^(1/2))^d exp(-a(1-a)|Delta|^2/(2 v_a)),
           v_a = a v_q + (1-a) v_p
    squared Hellinger = 2 (1 - I(1/2)),  Pearson chi^2 = I(2) - 1,  Neyman chi^2 = I(-1) - 1,
    alpha-divergence = (I(a) - 1) / (a (a - 1)).
"""
from collections import namedtuple

import autograd.numpy as np
import numpy as onp
from autograd.tracer import getval

from . import checks


def _gaussian(mean, var, gamma, name):
    mean = onp.atleast_1d(onp.asarray(mean, dtype=float))
    if mean.ndim != 1 or not onp.all(onp.isfinite(mean)):
        raise ValueError(f"{name} mean: expected a finite vector of shape (d,), got {mean!r}")
    var = checks.nonnegative(f"{name} variance", var) + checks.nonnegative("gamma", gamma)
    if var <= 0:
        raise ValueError(f"{name} variance: must be > 0 (plus gamma), got {var}")
    return mean, var


def _pair(mu_p, var_p, mu_q, var_q, gamma):
    mu_p, v_p = _gaussian(mu_p, var_p, gamma, "P")
    mu_q, v_q = _gaussian(mu_q, var_q, gamma, "Q")
    if mu_p.shape != mu_q.shape:
        raise ValueError(f"P and Q means differ in dimension: {mu_p.shape} vs {mu_q.shape}")
    return mu_p, v_p, mu_q, v_q


def kl_divergence(mu_p, var_p, mu_q, var_q, gamma=0.0):
    """KL(P_gamma || Q_gamma) for isotropic Gaussians."""
    mu_p, v_p, mu_q, v_q = _pair(mu_p, var_p, mu_q, var_q, gamma)
    d, delta2 = mu_p.size, onp.sum((mu_p - mu_q) ** 2)
    return 0.5 * (d * v_p / v_q + delta2 / v_q - d + d * onp.log(v_q / v_p))


def overlap_integral(a, mu_p, var_p, mu_q, var_q, gamma=0.0):
    """I(a) = int p_gamma^a q_gamma^(1-a) dx for a finite real a; inf unless
    a v_q + (1-a) v_p > 0."""
    a = checks.finite_real("a", a)
    mu_p, v_p, mu_q, v_q = _pair(mu_p, var_p, mu_q, var_q, gamma)
    d, delta2 = mu_p.size, onp.sum((mu_p - mu_q) ** 2)
    v_a = a * v_q + (1.0 - a) * v_p
    if v_a <= 0:
        return onp.inf
    return ((v_p ** ((1 - a) / 2) * v_q ** (a / 2) / onp.sqrt(v_a)) ** d
            * onp.exp(-a * (1 - a) * delta2 / (2 * v_a)))


def squared_hellinger(mu_p, var_p, mu_q, var_q, gamma=0.0):
    """int (sqrt p - sqrt q)^2 = 2 (1 - Bhattacharyya coefficient)."""
    return 2.0 * (1.0 - overlap_integral(0.5, mu_p, var_p, mu_q, var_q, gamma))


def pearson_chi2(mu_p, var_p, mu_q, var_q, gamma=0.0):
    """int (p - q)^2 / q = I(2) - 1; infinite unless 2 v_q > v_p."""
    return overlap_integral(2.0, mu_p, var_p, mu_q, var_q, gamma) - 1.0


def neyman_chi2(mu_p, var_p, mu_q, var_q, gamma=0.0):
    """int (p - q)^2 / p = I(-1) - 1; infinite unless 2 v_p > v_q."""
    return overlap_integral(-1.0, mu_p, var_p, mu_q, var_q, gamma) - 1.0


def alpha_divergence(a, mu_p, var_p, mu_q, var_q, gamma=0.0):
    """(I(a) - 1) / (a (a - 1)), a finite and not in {0, 1}."""
    a = checks.finite_real("a", a)
    if a in (0, 1):
        raise ValueError("a: the alpha-divergence needs a not in {0, 1} (those are the KL limits)")
    return (overlap_integral(a, mu_p, var_p, mu_q, var_q, gamma) - 1.0) / (a * (a - 1.0))


CLOSED_FORMS = {
    "kl": kl_divergence,
    "reverse_kl": lambda mu_p, var_p, mu_q, var_q, gamma=0.0:
        kl_divergence(mu_q, var_q, mu_p, var_p, gamma),
    "pearson": pearson_chi2,
    "neyman": neyman_chi2,
    "hellinger": squared_hellinger,
}


def closed_form_divergence(name, mu_p, var_p, mu_q, var_q, gamma=0.0):
    """D_f(P_gamma || Q_gamma) for the rows with a closed form (keys of CLOSED_FORMS). name is
    spelled as for get_divergence ('KL', 'reverse-kl', ...) or is a Divergence."""
    from .divergences import get_divergence
    name = get_divergence(name).name
    if name not in CLOSED_FORMS:
        raise ValueError(f"no closed form for {name!r}; available: {', '.join(CLOSED_FORMS)}"
                         " (use quadrature for js, gan)")
    return CLOSED_FORMS[name](mu_p, var_p, mu_q, var_q, gamma)


def log_density(x, mean, var):
    """log N(x; mean, var I) for x (n, d), mean (d,), var > 0: shape (n,), float64.
    autograd-differentiable in x."""
    x = checks.as_samples("x", x)
    mean = onp.atleast_1d(onp.asarray(mean, dtype=float))
    if mean.ndim != 1 or not onp.all(onp.isfinite(mean)):
        raise ValueError(f"mean: expected a finite vector of shape (d,), got {mean!r}")
    var = checks.positive("var", var)
    checks.same_feature_shape("x", x, "mean", mean[None])
    d = mean.size
    return -0.5 * np.sum((x - mean) ** 2, axis=1) / var - 0.5 * d * np.log(2 * np.pi * var)


# -- Gaussian mixtures ------------------------------------------------------------------

GaussianMixture = namedtuple("GaussianMixture", "weights means variances")
GaussianMixture.__doc__ = """sum_k weights[k] N(means[k], variances[k] I).
weights (K,) summing to 1, means (K, d), variances (K,) > 0."""


def gaussian_mixture(weights, means, variances):
    """Validated GaussianMixture."""
    w = onp.asarray(weights, dtype=float)
    m = onp.asarray(means, dtype=float)
    v = onp.asarray(variances, dtype=float)
    if w.ndim != 1 or m.ndim != 2 or m.shape[0] != w.size:
        raise ValueError(f"mixture: need weights (K,), means (K, d), variances (K,); got "
                         f"{w.shape}, {m.shape}, {v.shape}")
    if v.ndim > 0 and v.shape != w.shape:
        raise ValueError(f"variances: expected one per component ({w.size}) or a single "
                         f"number, got shape {v.shape}")
    v = onp.broadcast_to(v, w.shape).copy()
    if onp.any(w < 0) or not onp.isclose(w.sum(), 1.0, rtol=0, atol=1e-12):
        raise ValueError(f"weights: must be >= 0 and sum to 1, got sum {w.sum()}")
    if not (onp.all(onp.isfinite(m)) and onp.all(onp.isfinite(v)) and onp.all(v > 0)):
        raise ValueError("means must be finite and variances finite and > 0")
    return GaussianMixture(w, m, v)


def convolve(mixture, gamma):
    """mixture * N(0, gamma I): each component's variance grows by gamma."""
    _mixture(mixture)
    gamma = checks.nonnegative("gamma", gamma)
    return GaussianMixture(mixture.weights, mixture.means, mixture.variances + gamma)


def _mixture(mixture):
    if not isinstance(mixture, GaussianMixture):
        raise TypeError(f"mixture: expected a GaussianMixture (refgan.gaussians."
                        f"gaussian_mixture), got {type(mixture).__name__}")
    return mixture


def _logsumexp_rows(a):
    """log sum_k exp(a_ik) for each row of a (n, K), shifted by the row maximum (a constant
    to autograd, so the gradient is exact). Written here because autograd.scipy needs scipy,
    which refgan does not depend on."""
    shift = onp.max(getval(a), axis=1)
    return np.log(np.sum(np.exp(a - shift[:, None]), axis=1)) + shift


def mixture_log_density(x, mixture):
    """log sum_k w_k N(x; m_k, v_k I) for x (n, d): (n,), float64. Stable (log-sum-exp),
    differentiable in x."""
    _mixture(mixture)
    x = checks.as_samples("x", x)
    checks.same_feature_shape("x", x, "mixture.means", mixture.means)
    d = mixture.means.shape[1]
    sq = np.sum((x[:, None, :] - mixture.means[None]) ** 2, axis=2)          # (n, K)
    log_comp = (-0.5 * sq / mixture.variances - 0.5 * d * np.log(2 * np.pi * mixture.variances)
                + np.log(mixture.weights))
    return _logsumexp_rows(log_comp)


def sample_mixture(mixture, n, rng):
    """n samples (n, d) and their component labels (n,); rng: a Generator or a seed >= 0."""
    _mixture(mixture)
    rng = checks.rng("rng", rng)
    n = checks.positive_int("n", n)
    k = rng.choice(len(mixture.weights), size=n, p=mixture.weights)
    x = mixture.means[k] + onp.sqrt(mixture.variances[k])[:, None] * rng.standard_normal(
        (n, mixture.means.shape[1]))
    return x, k


def optimal_logit_fn(divergence, log_p, log_q):
    """A critic (params, x) -> v*(x) = g_f^{-1}(f'(p/q)) built from two log densities; params
    is ignored. For 'gan' and 'js' this is log p - log q, the optimal discriminator's logit."""
    from .divergences import get_divergence
    div = get_divergence(divergence)
    return lambda params, x: div.optimal_logit(log_p(x) - log_q(x))
