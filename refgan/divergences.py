"""The f-divergence family of the f-GAN table (Nowozin et al. 2016), one object per row.

    D_f(P||Q) = E_Q[ f(p/q) ],       f convex, f(1) = 0 (GAN: f(1) = -log 4)
    F(P, Q; psi) = E_P[psi] - E_Q[f*(psi)] <= D_f(P||Q),   psi = g_f(v)

A network outputs an unconstrained logit v; the output activation g_f maps it into the
domain of the conjugate f*. Everything here is written with autograd.numpy so that every
function can be differentiated, and every composite that a loss uses is in a form that does
not overflow at |v| = 1000 where the exact value is representable.

To add a divergence: write one more `Divergence(...)` below and add it to `DIVERGENCES`;
the table-driven tests in tests/test_divergences.py then check it mechanically.
"""
from dataclasses import dataclass
from typing import Callable, Tuple

import autograd.numpy as np


def softplus(x):
    """log(1 + e^x), exact for all x (no overflow at x = +-1000)."""
    return np.logaddexp(0.0, x)


def sigmoid(x):
    """1 / (1 + e^-x) to full relative precision for every x: e^x / (1 + e^x) for x < 0.

    Both branches use e = e^-|x| in (0, 1], so nothing overflows at x = +-1000 and the
    unused branch has a finite derivative. (0.5 (tanh(x/2) + 1) cancels for x < 0: it gives
    0 instead of 4.2e-18 at x = -40.) The branch is on x itself, not on |x|, whose
    derivative autograd takes as 0 at x = 0."""
    positive = x >= 0
    e = np.exp(-np.where(positive, x, -x))
    return np.where(positive, 1.0, e) / (1.0 + e)


def log_sigmoid(x):
    """log sigmoid(x) = -softplus(-x)."""
    return -softplus(-x)


@dataclass(frozen=True)
class Divergence:
    """One row of the f-GAN table.

    Attributes (all elementwise functions of arrays):
      f, f_prime, f_second            f(u) and its derivatives, u = p/q > 0
      conjugate, conjugate_prime,     f*(t), f*'(t), f*''(t) on `conjugate_domain`
      conjugate_second
      activation                      g_f(v): logit -> domain of f*
      activation_inverse              g_f^{-1}(t)
      conjugate_of_activation         f*(g_f(v)), in a numerically stable form
      penalty_weight                  f*''(g_f(v)) * g_f'(v)^2, stable; Omega_f's weight on |grad v|^2
      optimal_logit                   v* = g_f^{-1}(f'(p/q)) as a function of r = log p - log q
      conjugate_domain                open interval (lo, hi) of t where `conjugate` is exact
    """
    name: str
    title: str
    f: Callable
    f_prime: Callable
    f_second: Callable
    conjugate: Callable
    conjugate_prime: Callable
    conjugate_second: Callable
    activation: Callable
    activation_inverse: Callable
    conjugate_of_activation: Callable
    penalty_weight: Callable
    optimal_logit: Callable
    conjugate_domain: Tuple[float, float]

    def optimal_critic(self, log_ratio):
        """psi*(x) = f'(p(x)/q(x)), given r = log p(x) - log q(x)."""
        return self.f_prime(np.exp(log_ratio))

    def __repr__(self):
        return f"Divergence({self.name!r})"


LOG2 = np.log(2.0)

KL = Divergence(
    "kl", "Kullback-Leibler",
    f=lambda u: u * np.log(u),
    f_prime=lambda u: np.log(u) + 1.0,
    f_second=lambda u: 1.0 / u,
    conjugate=lambda t: np.exp(t - 1.0),
    conjugate_prime=lambda t: np.exp(t - 1.0),
    conjugate_second=lambda t: np.exp(t - 1.0),
    activation=lambda v: v,
    activation_inverse=lambda t: t,
    conjugate_of_activation=lambda v: np.exp(v - 1.0),
    penalty_weight=lambda v: np.exp(v - 1.0),
    optimal_logit=lambda r: r + 1.0,
    conjugate_domain=(-np.inf, np.inf),
)

REVERSE_KL = Divergence(
    "reverse_kl", "reverse Kullback-Leibler",
    f=lambda u: -np.log(u),
    f_prime=lambda u: -1.0 / u,
    f_second=lambda u: 1.0 / u ** 2,
    conjugate=lambda t: -1.0 - np.log(-t),
    conjugate_prime=lambda t: -1.0 / t,
    conjugate_second=lambda t: 1.0 / t ** 2,
    activation=lambda v: -np.exp(-v),
    activation_inverse=lambda t: -np.log(-t),
    conjugate_of_activation=lambda v: v - 1.0,
    # f*''(g) g'^2 = e^{2v} e^{-2v}
    penalty_weight=lambda v: np.ones_like(v),
    optimal_logit=lambda r: r,
    conjugate_domain=(-np.inf, 0.0),
)

# The f-GAN convention: f*(t) = t^2/4 + t and g_f(v) = v. With f on u >= 0 the true
# conjugate is -1 for t < -2, so the bound stays valid but is not tight there; Omega uses
# the same quadratic (f*'' = 1/2 everywhere) so that F and Omega agree with each other.
PEARSON = Divergence(
    "pearson", "Pearson chi-squared",
    f=lambda u: (u - 1.0) ** 2,
    f_prime=lambda u: 2.0 * (u - 1.0),
    f_second=lambda u: 2.0 * np.ones_like(u),
    conjugate=lambda t: 0.25 * t ** 2 + t,
    conjugate_prime=lambda t: 0.5 * t + 1.0,
    conjugate_second=lambda t: 0.5 * np.ones_like(t),
    activation=lambda v: v,
    activation_inverse=lambda t: t,
    conjugate_of_activation=lambda v: 0.25 * v ** 2 + v,
    penalty_weight=lambda v: 0.5 * np.ones_like(v),
    optimal_logit=lambda r: 2.0 * np.expm1(r),
    conjugate_domain=(-2.0, np.inf),
)

NEYMAN = Divergence(
    "neyman", "Neyman chi-squared",
    f=lambda u: (1.0 - u) ** 2 / u,
    f_prime=lambda u: 1.0 - 1.0 / u ** 2,
    f_second=lambda u: 2.0 / u ** 3,
    conjugate=lambda t: 2.0 - 2.0 * np.sqrt(1.0 - t),
    conjugate_prime=lambda t: 1.0 / np.sqrt(1.0 - t),
    conjugate_second=lambda t: 0.5 * (1.0 - t) ** -1.5,
    activation=lambda v: -np.expm1(-v),
    activation_inverse=lambda t: -np.log1p(-t),
    conjugate_of_activation=lambda v: 2.0 - 2.0 * np.exp(-0.5 * v),
    # f*''(g) g'^2 = (1/2) e^{3v/2} e^{-2v}
    penalty_weight=lambda v: 0.5 * np.exp(-0.5 * v),
    optimal_logit=lambda r: 2.0 * r,
    conjugate_domain=(-np.inf, 1.0),
)

HELLINGER = Divergence(
    "hellinger", "squared Hellinger, integral (sqrt p - sqrt q)^2",
    f=lambda u: (np.sqrt(u) - 1.0) ** 2,
    f_prime=lambda u: 1.0 - 1.0 / np.sqrt(u),
    f_second=lambda u: 0.5 * u ** -1.5,
    conjugate=lambda t: t / (1.0 - t),
    conjugate_prime=lambda t: 1.0 / (1.0 - t) ** 2,
    conjugate_second=lambda t: 2.0 / (1.0 - t) ** 3,
    activation=lambda v: -np.expm1(-v),
    activation_inverse=lambda t: -np.log1p(-t),
    conjugate_of_activation=lambda v: np.expm1(v),
    # f*''(g) g'^2 = 2 e^{3v} e^{-2v}
    penalty_weight=lambda v: 2.0 * np.exp(v),
    optimal_logit=lambda r: 0.5 * r,
    conjugate_domain=(-np.inf, 1.0),
)

# Unscaled: D_JS here is 2 * JS, in [0, 2 log 2].
JS = Divergence(
    "js", "Jensen-Shannon (unscaled, = 2 JS)",
    f=lambda u: u * np.log(u) - (u + 1.0) * np.log((1.0 + u) / 2.0),
    f_prime=lambda u: np.log(u) - np.log((1.0 + u) / 2.0),
    f_second=lambda u: 1.0 / (u * (1.0 + u)),
    conjugate=lambda t: -np.log(2.0 - np.exp(t)),
    conjugate_prime=lambda t: np.exp(t) / (2.0 - np.exp(t)),
    conjugate_second=lambda t: 2.0 * np.exp(t) / (2.0 - np.exp(t)) ** 2,
    activation=lambda v: LOG2 - softplus(-v),
    activation_inverse=lambda t: -np.log(2.0 * np.exp(-t) - 1.0),
    conjugate_of_activation=lambda v: softplus(v) - LOG2,
    # f*''(g) g'^2 = [sigmoid(v) / sigmoid(-v)^2] sigmoid(-v)^2
    penalty_weight=sigmoid,
    optimal_logit=lambda r: r,
    conjugate_domain=(-np.inf, LOG2),
)

# The standard GAN: F = E_P log D + E_Q log(1 - D) with D = sigmoid(v); D_GAN = 2 JS - log 4.
GAN = Divergence(
    "gan", "GAN (= 2 JS - log 4)",
    f=lambda u: u * np.log(u) - (u + 1.0) * np.log(u + 1.0),
    f_prime=lambda u: np.log(u) - np.log(u + 1.0),
    f_second=lambda u: 1.0 / u - 1.0 / (u + 1.0),
    conjugate=lambda t: -np.log(-np.expm1(t)),
    conjugate_prime=lambda t: np.exp(t) / -np.expm1(t),
    conjugate_second=lambda t: np.exp(t) / np.expm1(t) ** 2,
    activation=log_sigmoid,
    activation_inverse=lambda t: -np.log(np.expm1(-t)),
    conjugate_of_activation=softplus,
    penalty_weight=sigmoid,
    optimal_logit=lambda r: r,
    conjugate_domain=(-np.inf, 0.0),
)

# f* has a kink and f*'' = 0: Omega_TV is identically zero. Kept for completeness of F.
TOTAL_VARIATION = Divergence(
    "tv", "total variation, integral |p - q| / 2",
    f=lambda u: 0.5 * np.abs(u - 1.0),
    f_prime=lambda u: 0.5 * np.sign(u - 1.0),
    f_second=lambda u: np.zeros_like(u),
    conjugate=lambda t: t,
    conjugate_prime=lambda t: np.ones_like(t),
    conjugate_second=lambda t: np.zeros_like(t),
    activation=lambda v: 0.5 * np.tanh(v),
    activation_inverse=lambda t: np.arctanh(2.0 * t),
    conjugate_of_activation=lambda v: 0.5 * np.tanh(v),
    penalty_weight=lambda v: np.zeros_like(v),
    optimal_logit=lambda r: np.where(r > 0, np.inf, -np.inf),
    conjugate_domain=(-0.5, 0.5),
)

DIVERGENCES = {d.name: d for d in
               (KL, REVERSE_KL, PEARSON, NEYMAN, HELLINGER, JS, GAN, TOTAL_VARIATION)}


def get_divergence(name):
    """Look a row up by name ('kl', 'reverse_kl', 'pearson', 'neyman', 'hellinger', 'js',
    'gan', 'tv'; case and '-' vs '_' do not matter). A Divergence passes through."""
    if isinstance(name, Divergence):
        return name
    key = str(name).strip().lower().replace("-", "_")
    if key not in DIVERGENCES:
        raise ValueError(f"unknown divergence {name!r}; valid names: {', '.join(DIVERGENCES)}")
    return DIVERGENCES[key]
