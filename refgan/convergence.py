"""The oracle convergence table: the analytic penalty next to sampled instance noise.

Any critic (identity A). For a fixed small MLP critic psi = g_f(v) and fixed real and fake
samples, the Monte Carlo noise effect

    q(gamma) = [F(P_gamma, Q_gamma; psi) - F(P, Q; psi)] / (gamma/2)

tends, as gamma -> 0, to the Laplacian prediction

    L = mean_P Lap psi - mean_Q Lap(f* o psi) = A - Omega_f(Q; psi),
    A = mean_P Lap psi - mean_Q f*'(psi) Lap psi.

The optimal critic (identity B). For a Gaussian pair with its optimal critic, A = 0 and
[D_f(P_gamma||Q_gamma) - D_f(P||Q)] / (gamma/2) tends to -Omega_f(Q; psi*) alone: the penalty is
(minus twice) the derivative of the divergence along the noise.

Monte Carlo uses antithetic pairs (xi, -xi) and the same noise for every gamma (common random
numbers); the draws are split into independent batches to give a standard error.
"""
import sys
import time

import numpy as onp
from tqdm import tqdm

from . import checks
from . import gaussians as G
from .divergences import DIVERGENCES, get_divergence, log_sigmoid, softplus
from .nets import init_mlp, mlp
from .noise import gauss_hermite_rule, laplacian, noised_f_gan_objective
from .objectives import f_gan_objective
from .regularisers import omega_f, omega_f_terms

N_BATCHES = 10                        # independent noise batches, for the standard error
CRITIC_SIZES = (2, 8, 8, 1)           # the fixed critic: 2 inputs, two tanh layers of 8
N_SAMPLES = 16                        # real and fake samples
# The Gaussian pair of REFERENCE section 2: P = N(0.3, 0.8^2), Q = N(-0.2, 1.3^2).
GAUSSIAN_PAIR = ([0.3], 0.64, [-0.2], 1.69)
GH_NODES = 160                        # 1-D quadrature: the logistic integrands need ~160
GH_NODES_CRITIC = 12                  # per axis, for the critic's noise (sigma <= 0.32)


def _gammas(gammas):
    gammas = [checks.nonnegative(f"gammas[{i}]", g) for i, g in enumerate(gammas)]
    if not gammas or min(gammas) <= 0:
        raise ValueError(f"gammas: need at least one noise variance, all > 0, got {gammas}")
    return gammas


def _n_draws(n_draws):
    n_draws = checks.positive_int("n_draws", n_draws)
    if n_draws < 2 * N_BATCHES:
        raise ValueError(f"n_draws: need at least {2 * N_BATCHES} ({N_BATCHES} batches of "
                         f"antithetic pairs), got {n_draws}")
    return n_draws


def _seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, onp.integer)) or seed < 0:
        raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
    return int(seed)


def _batch_seeds(seed):
    """N_BATCHES independent seeds derived from `seed` (the same for every gamma)."""
    children = onp.random.SeedSequence(_seed(seed)).spawn(N_BATCHES)
    return [int(c.generate_state(1)[0]) for c in children]


def fixed_critic_problem(seed=0):
    """The seeded critic and samples of section 1: (critic, params, x_real, x_fake).
    Weights N(0, 0.5^2) (larger than the paper's 0.1 so the critic is visibly curved);
    real samples N((0.5, 0.5), 0.5^2 I), fake N(0, I)."""
    rng = onp.random.default_rng(_seed(seed))
    params = init_mlp(CRITIC_SIZES, rng, init="normal", scale=0.5)
    x_real = 0.5 + 0.5 * rng.standard_normal((N_SAMPLES, CRITIC_SIZES[0]))
    x_fake = rng.standard_normal((N_SAMPLES, CRITIC_SIZES[0]))
    return (lambda p, x: mlp(p, x, "tanh")), params, x_real, x_fake


def laplacian_prediction(divergence, critic, params, x_real, x_fake):
    """(A, Omega_f, L) with L = mean_P Lap psi - mean_Q Lap(f* o psi) = A - Omega_f."""
    div = get_divergence(divergence)
    psi = lambda x: div.activation(critic(params, x))
    a = (onp.mean(laplacian(psi, x_real))
         - onp.mean(div.conjugate_prime(psi(x_fake)) * laplacian(psi, x_fake)))
    omega = float(omega_f(div, critic, params, x_fake))
    return a, omega, a - omega


def critic_rows(gammas=(1e-1, 1e-2, 1e-3, 1e-4), n_draws=20000, seed=0, progress=None):
    """Section 1 as data: one dict per (divergence, gamma) with keys divergence, A, omega,
    prediction (L), gamma, estimate (q(gamma), Monte Carlo), std_error, difference
    (estimate - L), n_draws (noise draws per sample, all batches), seconds (Monte Carlo), and
    quadrature_difference (q(gamma) - L with the noise integrated exactly by Gauss-Hermite:
    the O(gamma) bias alone, without the sampling error)."""
    gammas = _gammas(gammas)
    n_draws = _n_draws(n_draws)
    per_batch = 2 * max(1, n_draws // (2 * N_BATCHES))     # antithetic pairs: even
    seeds = _batch_seeds(seed)
    critic, params, x_real, x_fake = fixed_critic_problem(seed)
    rows = []
    for name in DIVERGENCES:
        a, omega, prediction = laplacian_prediction(name, critic, params, x_real, x_fake)
        f0 = f_gan_objective(name, critic(params, x_real), critic(params, x_fake))
        for gamma in gammas:
            start = time.perf_counter()
            q = onp.array([(noised_f_gan_objective(name, critic, params, x_real, x_fake, gamma,
                                                   method="mc", n_draws=per_batch, seed=s)
                            - f0) / (gamma / 2) for s in seeds])
            seconds = time.perf_counter() - start
            exact = (noised_f_gan_objective(name, critic, params, x_real, x_fake, gamma,
                                            method="gh", n_nodes=GH_NODES_CRITIC)
                     - f0) / (gamma / 2)
            rows.append(dict(divergence=name, A=a, omega=omega, prediction=prediction,
                             gamma=gamma, estimate=q.mean(),
                             std_error=q.std(ddof=1) / onp.sqrt(len(q)),
                             difference=q.mean() - prediction, n_draws=per_batch * len(seeds),
                             seconds=seconds, quadrature_difference=exact - prediction))
            if progress is not None:
                progress.update(1)
    return rows


def _gh_expectation(h, mean, var):
    nodes, weights = gauss_hermite_rule(1, GH_NODES)
    return weights @ h(onp.asarray(mean) + onp.sqrt(var) * nodes)


def gaussian_divergence(name, mu_p, var_p, mu_q, var_q, gamma=0.0):
    """D_f(P_gamma||Q_gamma) for a 1-D pair: the closed form where there is one, else (js,
    gan) quadrature of E_P[.] + E_Q[.] in r = log p - log q, each against its own Gaussian."""
    if name in G.CLOSED_FORMS:
        return G.closed_form_divergence(name, mu_p, var_p, mu_q, var_q, gamma)
    vp, vq = var_p + gamma, var_q + gamma
    r = lambda x: G.log_density(x, mu_p, vp) - G.log_density(x, mu_q, vq)
    if name == "gan":      # E_P log sigmoid(r) + E_Q log sigmoid(-r)
        under_p, under_q = log_sigmoid, lambda t: log_sigmoid(-t)
    elif name == "js":     # E_P log(2p/(p+q)) + E_Q log(2q/(p+q))
        under_p, under_q = (lambda t: onp.log(2) - softplus(-t)), (lambda t: onp.log(2)
                                                                     - softplus(t))
    else:
        raise ValueError(f"no Gaussian divergence for {name!r}")
    return (_gh_expectation(lambda x: under_p(r(x)), mu_p, vp)
            + _gh_expectation(lambda x: under_q(r(x)), mu_q, vq))


def gaussian_rows(gammas=(1e-1, 1e-2, 1e-3, 1e-4), pair=GAUSSIAN_PAIR):
    """Section 2 as data, for a 1-D Gaussian pair and its optimal critic: one dict per
    (divergence, gamma) with keys divergence, minus_omega (-Omega_f(Q; psi*), by the penalty
    code and quadrature over Q), gamma, slope ([D(P_g||Q_g) - D(P||Q)] / (gamma/2)), difference
    (slope + Omega_f), finite (False where D is infinite: Neyman needs 2 var_P > var_Q,
    Pearson 2 var_Q > var_P). Total variation is left out: its optimal critic is a step, the
    expansion does not hold."""
    gammas = _gammas(gammas)
    mu_p, var_p, mu_q, var_q = pair
    log_p = lambda x: G.log_density(x, mu_p, var_p)
    log_q = lambda x: G.log_density(x, mu_q, var_q)
    rows = []
    for name in (n for n in DIVERGENCES if n != "tv"):
        finite = not ((name == "neyman" and 2 * var_p <= var_q)
                      or (name == "pearson" and 2 * var_q <= var_p))
        critic = G.optimal_logit_fn(name, log_p, log_q)
        omega = (_gh_expectation(lambda x: omega_f_terms(name, critic, None, x), mu_q, var_q)
                 if finite else onp.inf)
        d0 = gaussian_divergence(name, *pair) if finite else onp.inf
        for gamma in gammas:
            slope = ((gaussian_divergence(name, *pair, gamma=gamma) - d0) / (gamma / 2)
                     if finite else onp.nan)
            rows.append(dict(divergence=name, minus_omega=-omega, gamma=gamma, slope=slope,
                             difference=slope + omega, finite=finite))
    return rows


def convergence_table(gammas=(1e-1, 1e-2, 1e-3, 1e-4), n_draws=20000, seed=0, progress=True):
    """Both sections as data: {'critic': critic_rows(...), 'gaussian': gaussian_rows(...)}.
    progress: a tqdm bar on stderr over the Monte Carlo runs."""
    gammas, n_draws, seed = _gammas(gammas), _n_draws(n_draws), _seed(seed)
    bar = tqdm(total=len(DIVERGENCES) * len(gammas), desc="Monte Carlo instance noise",
               unit="run", file=sys.stderr, leave=False, disable=not progress)
    with bar:
        critic = critic_rows(gammas, n_draws, seed, progress=bar)
    return {"critic": critic, "gaussian": gaussian_rows(gammas)}


def _format_critic(rows, seed):
    lines = [
        "1. Any critic: [F(P_g, Q_g; psi) - F(P, Q; psi)] / (g/2) by Monte Carlo  ->  "
        "L = A - Omega_f",
        f"   critic: MLP {'-'.join(map(str, CRITIC_SIZES))} tanh, weights N(0, 0.5^2), seed "
        f"{seed}; {N_SAMPLES} real ~ N((.5, .5), .25 I), {N_SAMPLES} fake ~ N(0, I)",
        "   A = mean_P Lap psi - mean_Q f*'(psi) Lap psi.  Noise: antithetic pairs, the same "
        "draws for every g,",
        f"   {N_BATCHES} independent batches for the standard error (s.e.).  GH - L: the noise "
        "integrated exactly",
        "   (Gauss-Hermite), so the O(gamma) bias without the sampling error.",
        "",
        f"{'divergence':<11}{'A':>11}{'Omega_f':>11}{'L':>11}{'gamma':>8}{'MC estimate':>13}"
        f"{'s.e.':>10}{'MC - L':>11}{'draws':>8}{'time':>8}{'GH - L':>11}",
    ]
    previous = None
    for r in rows:
        head = (f"{r['divergence']:<11}{r['A']:>11.5f}{r['omega']:>11.5f}"
                f"{r['prediction']:>11.5f}" if r["divergence"] != previous else " " * 44)
        if r["divergence"] != previous and previous is not None:
            lines.append("")
        previous = r["divergence"]
        lines.append(f"{head}{r['gamma']:>8.0e}{r['estimate']:>13.6f}{r['std_error']:>10.1e}"
                     f"{r['difference']:>+11.1e}{r['n_draws']:>8d}{r['seconds']:>7.2f}s"
                     f"{r['quadrature_difference']:>+11.1e}")
    return lines


def _format_gaussian(rows):
    mu_p, var_p, mu_q, var_q = GAUSSIAN_PAIR
    lines = [
        "2. Optimal critic: [D_f(P_g||Q_g) - D_f(P||Q)] / (g/2)  ->  -Omega_f(Q; psi*)",
        f"   P = N({mu_p[0]}, {onp.sqrt(var_p):.1f}^2), Q = N({mu_q[0]}, "
        f"{onp.sqrt(var_q):.1f}^2).  D by its closed form (js, gan: quadrature);",
        "   Omega_f by the penalty code at the optimal critic, quadrature over Q.  Total "
        "variation: no smooth optimum.",
        "",
        f"{'divergence':<11}{'-Omega_f':>14}{'gamma':>8}{'D slope':>14}{'slope + Omega':>15}",
    ]
    previous = None
    for r in rows:
        first = r["divergence"] != previous
        if first and previous is not None:
            lines.append("")
        previous = r["divergence"]
        if not r["finite"]:
            if first:
                lines.append(f"{r['divergence']:<11}  D is infinite for this pair")
            continue
        head = f"{r['divergence']:<11}{r['minus_omega']:>14.9f}" if first else " " * 25
        lines.append(f"{head}{r['gamma']:>8.0e}{r['slope']:>14.9f}{r['difference']:>+15.2e}")
    return lines


def print_convergence_table(gammas=(1e-1, 1e-2, 1e-3, 1e-4), n_draws=20000, seed=0,
                            file=sys.stdout):
    """Print both sections as aligned tables (progress on stderr while it runs)."""
    table = convergence_table(gammas, n_draws, seed, progress=True)
    lines = (_format_critic(table["critic"], seed) + ["", ""]
             + _format_gaussian(table["gaussian"]))
    print("\n".join(lines), file=file)
    return table
