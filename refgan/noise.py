"""Instance noise, computed the slow honest way: the thing the penalty approximates.

    P_gamma = P * N(0, gamma I):   E_{P_gamma}[h] = E_P E_xi[ h(x + sqrt(gamma) xi) ],  xi ~ N(0, I)

Per-sample expectations over the noise are taken either by Monte Carlo (common random
numbers: a fixed `seed` gives the same xi for every gamma; antithetic pairs xi, -xi cancel
the odd Taylor terms) or by tensor Gauss-Hermite quadrature (exact for polynomials of degree
<= 2 n_nodes - 1 in each coordinate; for samples of at most 3 coordinates).

The heat identity  E[h(x + sqrt(gamma) xi)] = h(x) + (gamma/2) Lap h(x) + O(gamma^2)  links
these to `laplacian`, the trace of the input Hessian.

h must return one finite value per sample: shape (k,) for a batch of k; anything else is a
ValueError, a NaN or inf a FloatingPointError.
"""
import itertools

import autograd.numpy as np
import numpy as onp
from autograd import elementwise_grad

from . import checks
from .divergences import get_divergence

MAX_QUADRATURE_DIM = 3


def _noise_draws(shape, n_draws, seed, antithetic):
    """xi of shape (n_draws, *shape); with antithetic=True the second half is minus the first."""
    rng = checks.rng("seed", seed)
    if antithetic:
        if n_draws % 2:
            raise ValueError(f"n_draws: must be even with antithetic pairs, got {n_draws}")
        half = rng.standard_normal((n_draws // 2,) + shape)
        return onp.concatenate([half, -half])
    return rng.standard_normal((n_draws,) + shape)


def noise_expectation_mc(h, x, gamma, n_draws=1000, seed=0, antithetic=True):
    """Monte Carlo E_xi[h(x_i + sqrt(gamma) xi)] for each sample: shape (n,).

    h maps a batch (k, ...) to (k,) without mixing samples. The same `seed` (an integer >= 0
    or a numpy Generator) gives the same noise for any gamma (common random numbers), so
    differences over gamma are smooth. x is cast to float64."""
    x = checks.as_samples("x", x)
    gamma = checks.nonnegative("gamma", gamma)
    n_draws = checks.positive_int("n_draws", n_draws)
    xi = _noise_draws(onp.shape(x), n_draws, seed, antithetic)
    noisy = (x[None] + onp.sqrt(gamma) * xi).reshape((-1,) + onp.shape(x)[1:])
    values = checks.finite_values("h(x)", checks.per_sample("h(x)", h(noisy), noisy.shape[0]))
    return onp.mean(onp.reshape(values, (n_draws, onp.shape(x)[0])), axis=0)


def gauss_hermite_rule(dim, n_nodes):
    """Nodes (n_nodes^dim, dim) and weights (n_nodes^dim,) summing to 1 for E[g(xi)],
    xi ~ N(0, I_dim): the tensor product of numpy's probabilists' Hermite rule."""
    dim = checks.positive_int("dim", dim)
    n_nodes = checks.positive_int("n_nodes", n_nodes)
    z, w = onp.polynomial.hermite_e.hermegauss(n_nodes)
    w = w / onp.sqrt(2.0 * onp.pi)
    nodes = onp.array(list(itertools.product(z, repeat=dim)))
    weights = onp.prod(onp.array(list(itertools.product(w, repeat=dim))), axis=1)
    return nodes, weights


def noise_expectation_gh(h, x, gamma, n_nodes=20):
    """Gauss-Hermite E_xi[h(x_i + sqrt(gamma) xi)] for each sample of x (n, d), d <= 3: (n,)."""
    x = checks.as_samples("x", x)
    gamma = checks.nonnegative("gamma", gamma)
    n, d = onp.shape(x)[0], int(onp.prod(onp.shape(x)[1:]))
    if d > MAX_QUADRATURE_DIM:
        raise ValueError(f"x: Gauss-Hermite needs at most {MAX_QUADRATURE_DIM} coordinates per "
                         f"sample, got {d}; use noise_expectation_mc")
    nodes, weights = gauss_hermite_rule(d, n_nodes)
    noisy = x.reshape(n, 1, d) + onp.sqrt(gamma) * nodes[None]
    values = checks.per_sample("h(x)", h(noisy.reshape((-1,) + onp.shape(x)[1:])),
                               n * len(weights))
    checks.finite_values("h(x)", values)
    return onp.reshape(values, (n, len(weights))) @ weights


def noised_f_gan_objective(divergence, critic, params, x_real, x_fake, gamma,
                           method="gh", **options):
    """F(P_gamma, Q_gamma; psi) = mean_P E_xi g_f(v(x + s xi)) - mean_Q E_xi f*(g_f(v(x + s xi))),
    s = sqrt(gamma), computed by sampling ('mc', options n_draws, seed, antithetic) or
    quadrature ('gh', option n_nodes). The 'gan' row gives the standard GAN objective.
    params and samples of another real dtype are cast to float64."""
    div = get_divergence(divergence)
    x_real, x_fake = checks.as_samples("x_real", x_real), checks.as_samples("x_fake", x_fake)
    checks.same_feature_shape("x_real", x_real, "x_fake", x_fake)
    gamma = checks.nonnegative("gamma", gamma)
    params = checks.float64_params(params)
    expect = {"mc": noise_expectation_mc, "gh": noise_expectation_gh}.get(method)
    if expect is None:
        raise ValueError(f"method: unknown {method!r}; valid: mc, gh")
    real = expect(lambda x: div.activation(critic(params, x)), x_real, gamma, **options)
    fake = expect(lambda x: div.conjugate_of_activation(critic(params, x)), x_fake, gamma,
                  **options)
    return onp.mean(real) - onp.mean(fake)


def laplacian(h, x):
    """Lap h(x_i) = sum_k d^2 h / dx_k^2 at each sample, for h: (n, ...) -> (n,) without
    mixing samples. Shape (n,). One second-order pass per input coordinate."""
    x = checks.as_samples("x", x)
    n = np.shape(x)[0]
    checks.per_sample("h(x)", h(x), n)  # one value per sample, or there is no Lap h(x_i)
    grad_h = elementwise_grad(h)
    flat = lambda a: np.reshape(a, (n, -1))
    total = np.zeros(n)
    for k in range(flat(x).shape[1]):
        # d/dx of (dh/dx_k summed over samples) holds each sample's d^2 h / dx dx_k in its row
        second = elementwise_grad(lambda x_: np.sum(flat(grad_h(x_))[:, k]))(x)
        total = total + flat(second)[:, k]
    return total
