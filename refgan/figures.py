"""The paper's Figure 1 from toy runs, and the oracle figure (the analytic penalty against the
true noised divergence). Matplotlib with the Agg backend; every figure is written with its
data (.npz and .json) beside the PNG, each file atomically.
"""
import json
import os

import numpy as onp

from . import data as toy_data, gaussians
from .divergences import get_divergence
from .noise import gauss_hermite_rule
from .regularisers import omega_f_terms
from .training import _atomic_write, save_json

FIGURE1_REGIMES = ("none", "noise", "roth")
REGIME_TITLES = {"none": "unregularised", "noise": "instance noise",
                 "roth": "analytic regulariser (Roth et al.)", "r1": "R1", "r2": "R2",
                 "wgan-gp": "WGAN-GP"}
METRIC_PANELS = (("modes_covered", "modes covered (of 7)"),
                 ("high_quality", "high-quality fraction (3 std)"),
                 ("plane_distance", "mean distance to data plane"),
                 ("disc_loss", "discriminator loss -F"),
                 ("omega_js", "Omega_JS"),
                 ("grad_real", "mean |grad v| real"),
                 ("grad_fake", "mean |grad v| fake"))


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_png(fig, path):
    _atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=110))


def density_colours(x, n_ref=500, seed=0):
    """A Gaussian kernel density estimate at each sample (Scott's bandwidth, at most n_ref
    reference points): shape (n,), used to colour scatter plots as in the paper."""
    x = onp.asarray(x, dtype=float)
    ref = x[onp.random.default_rng(seed).permutation(len(x))[:n_ref]]
    n, d = ref.shape
    h = max(float(onp.mean(onp.std(ref, axis=0))), 1e-12) * n ** (-1.0 / (d + 4))
    d2 = onp.sum((x[:, None, :] - ref[None]) ** 2, axis=2)
    return onp.mean(onp.exp(-0.5 * d2 / h ** 2), axis=1)


def column_indices(n_checkpoints, n_columns):
    """Evenly spaced checkpoint indices, always the first and the last."""
    return sorted(set(onp.linspace(0, n_checkpoints - 1, min(n_columns, n_checkpoints))
                      .round().astype(int).tolist()))


def plot_figure1(runs, path, n_columns=6, seed=None):
    """Rows = regimes, columns = training steps: 3-D scatter of the generated samples (coloured
    by density) over the data (black), seen along the data plane's normal. runs: {regime: [run, ...]} with run a dict holding
    'history', 'samples' (k, n, 3), 'real' (n, 3); the first run (or the one with `seed`) of
    each regime is drawn."""
    plt = _pyplot()
    regimes = list(runs)
    pick = {r: next((x for x in runs[r] if seed is None or x["config"]["seed"] == seed),
                    runs[r][0]) for r in regimes}
    cols = column_indices(min(len(pick[r]["history"]) for r in regimes), n_columns)
    fig = plt.figure(figsize=(2.6 * len(cols), 2.6 * len(regimes)))
    centres = toy_data.circle_3d().centres
    for i, r in enumerate(regimes):
        run = pick[r]
        for j, k in enumerate(cols):
            ax = fig.add_subplot(len(regimes), len(cols), i * len(cols) + j + 1, projection="3d")
            real, fake = run["real"][:500], run["samples"][k]
            ax.scatter(*fake.T, s=1, c=density_colours(fake), cmap="viridis")
            ax.scatter(*real.T, s=3, c="k")
            ax.scatter(*centres.T, s=12, c="red", marker="x")
            h = run["history"][k]
            ax.set_title(f"{REGIME_TITLES.get(r, r)}\nstep {h['step']}: "
                         f"{h['modes_covered']}/7 modes, hq {h['high_quality']:.2f}", fontsize=7)
            lo, hi = centres.min() - 0.6, centres.max() + 0.6
            ax.set(xlim=(lo, hi), ylim=(lo, hi), zlim=(lo, hi))
            ax.view_init(elev=45, azim=-135)  # looking down the data plane's normal
            ax.tick_params(labelsize=5)
    fig.suptitle(f"Generated samples (colour: density) over the data (black; red x: centres), seed "
                 f"{pick[regimes[0]]['config']['seed']}", fontsize=9)
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)


def plot_metrics(runs, path):
    """Each metric over training: one colour per regime, one line per seed."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 4, figsize=(16, 7))
    colours = dict(zip(runs, ["tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange",
                              "tab:brown"]))
    for ax, (key, title) in zip(axes.ravel(), METRIC_PANELS):
        for r, seeds in runs.items():
            for n, run in enumerate(seeds):
                steps = [h["step"] for h in run["history"]]
                values = [h.get(key, onp.nan) for h in run["history"]]
                ax.plot(steps, values, color=colours[r], alpha=0.8, lw=1,
                        label=REGIME_TITLES.get(r, r) if n == 0 else None)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        if key in ("omega_js", "grad_real", "grad_fake", "plane_distance"):
            ax.set_yscale("log")
    axes.ravel()[0].legend(fontsize=7)
    axes.ravel()[-1].axis("off")
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)


def load_run(run_dir):
    """A run's record from its checkpoint: {'config', 'status', 'history', 'samples', 'real'}."""
    from .training import Config, eval_batches
    with onp.load(os.path.join(run_dir, "checkpoint.npz")) as f:
        record = json.loads(str(f["record"]))
        record["samples"] = f["samples"]
    with open(os.path.join(run_dir, "metrics.json")) as fh:
        record["status"] = json.load(fh)["status"]
    cfg = record["config"]
    config = Config(**{**cfg, "hidden": tuple(cfg["hidden"])})
    record["real"] = eval_batches(config, toy_data.get_dataset(config.dataset))[0]
    return record


def write_figure1_data(runs, stem, extra):
    """stem.npz: samples[regime][seed] (k, n, 3) and the real batch; stem.json: configs,
    statuses, metric histories and `extra` (timings, command)."""
    arrays = {"real": next(iter(runs.values()))[0]["real"]}
    for r, seeds in runs.items():
        for run in seeds:
            tag = f"{r}_seed{run['config']['seed']}"
            arrays[f"samples_{tag}"] = onp.asarray(run["samples"])
            arrays[f"steps_{tag}"] = onp.array([h["step"] for h in run["history"]])
    _atomic_write(stem + ".npz", lambda fh: onp.savez_compressed(fh, **arrays))
    save_json(stem + ".json", {**extra, "runs": {
        r: [{"config": run["config"], "status": run["status"], "history": run["history"]}
            for run in seeds] for r, seeds in runs.items()}})


# -- the oracle figure -------------------------------------------------------------------------

ORACLE_PAIRS = (("1-D", [0.3], 1.0, [-0.2], 1.3 ** 2),
                ("2-D", [0.4, -0.1], 0.9, [-0.1, 0.2], 1.2))
ORACLE_ROWS = ("kl", "reverse_kl", "pearson", "neyman", "hellinger")


def omega_at_optimum(divergence, mu_p, var_p, mu_q, var_q, n_nodes=60):
    """Omega_f(Q; psi*) by the penalty code (refgan.omega_f_terms) at the optimal critic
    v* = g_f^{-1}(f'(p/q)), with the expectation over Q by tensor Gauss-Hermite quadrature."""
    mu_q = onp.atleast_1d(onp.asarray(mu_q, dtype=float))
    critic = gaussians.optimal_logit_fn(
        divergence, lambda x: gaussians.log_density(x, mu_p, var_p),
        lambda x: gaussians.log_density(x, mu_q, var_q))
    nodes, weights = gauss_hermite_rule(mu_q.size, n_nodes)
    return float(omega_f_terms(divergence, critic, None, mu_q + onp.sqrt(var_q) * nodes)
                 @ weights)


def oracle_curves(gammas, pairs=ORACLE_PAIRS, rows=ORACLE_ROWS):
    """For each pair and row: the true D_f(P_gamma||Q_gamma) (closed form), D_f(P||Q),
    Omega_f(Q; psi*) (penalty code, quadrature) and the error of D_f - (gamma/2) Omega."""
    gammas = onp.asarray(gammas, dtype=float)
    out = []
    for label, mu_p, var_p, mu_q, var_q in pairs:
        for row in rows:
            true = onp.array([gaussians.closed_form_divergence(row, mu_p, var_p, mu_q, var_q, g)
                              for g in gammas])
            d0 = gaussians.closed_form_divergence(row, mu_p, var_p, mu_q, var_q, 0.0)
            n_nodes = 40 if len(mu_p) > 1 else 80
            omega = omega_at_optimum(row, mu_p, var_p, mu_q, var_q, n_nodes)
            approx = d0 - 0.5 * gammas * omega
            err = onp.abs(true - approx)
            slope = onp.polyfit(onp.log(gammas), onp.log(err), 1)[0]
            out.append({"pair": label, "divergence": row, "D0": float(d0), "omega": omega,
                        "gammas": gammas.tolist(), "true": true.tolist(),
                        "approx": approx.tolist(), "error": err.tolist(), "slope": float(slope)})
    return out


def plot_oracle(curves, path):
    """Per pair: true noised divergence and D_f - (gamma/2) Omega (left), and the error on
    log-log axes with a gamma^2 guide (right)."""
    plt = _pyplot()
    pairs = list(dict.fromkeys(c["pair"] for c in curves))
    fig, axes = plt.subplots(len(pairs), 2, figsize=(11, 4 * len(pairs)), squeeze=False)
    for (ax_d, ax_e), pair in zip(axes, pairs):
        mine = [x for x in curves if x["pair"] == pair]
        for n, c in enumerate(mine):
            colour = f"C{n}"
            g = onp.array(c["gammas"])
            ax_d.plot(g, c["true"], color=colour, label=f"{get_divergence(c['divergence']).name}")
            ax_d.plot(g, c["approx"], color=colour, ls="--")
            ax_e.loglog(g, c["error"], color=colour, marker=".",
                        label=f"{c['divergence']}: slope {c['slope']:.2f}")
        guide = g ** 2 * (mine[0]["error"][-1] / g[-1] ** 2)  # a gamma^2 line through kl's end
        ax_e.loglog(g, guide, color="k", ls=":", label="gamma^2")
        ax_d.set_xscale("log")
        ax_d.set(xlabel="gamma (noise variance)", ylabel="divergence",
                 title=f"{pair} Gaussians: D_f(P_g||Q_g) (solid) vs D_f - (g/2) Omega (dashed)")
        ax_e.set(xlabel="gamma", ylabel="|error|", title=f"{pair}: error of the approximation")
        ax_d.legend(fontsize=7)
        ax_e.legend(fontsize=7)
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)


def figure_oracle(out_dir, gammas=None):
    """Compute the curves, write figure_oracle.png, .json and .npz in out_dir; return curves."""
    gammas = onp.logspace(-4, -1, 13) if gammas is None else gammas
    curves = oracle_curves(gammas)
    os.makedirs(out_dir, exist_ok=True)
    stem = os.path.join(out_dir, "figure_oracle")
    plot_oracle(curves, stem + ".png")
    save_json(stem + ".json", {"curves": curves})
    _atomic_write(stem + ".npz", lambda fh: onp.savez(
        fh, gammas=onp.asarray(gammas), **{f"{c['pair']}_{c['divergence']}_{k}": c[k]
                                           for c in curves for k in ("true", "approx", "error")}))
    return curves


# -- Figure 1: train, then draw ----------------------------------------------------------------

FIGURE1_DEFAULT_STEPS = 1000
FIGURE1_FULL_STEPS = 100000
FIGURE1_DEFAULT_JOBS = 2
BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _train_one(args):
    """Worker: train one (regime, seed) into its run directory; returns (run record, seconds)
    or (None, error message) when it diverged."""
    from .training import TrainingDiverged, train
    config, run_dir, resume, progress, position = args
    try:
        out = train(config, run_dir=run_dir, progress=progress, position=position,
                    resume=resume and os.path.exists(os.path.join(run_dir, "checkpoint.npz")))
    except TrainingDiverged as exc:
        return None, str(exc)
    return out["seconds"], out["critic_impl"]


def figure1(out_dir="figures", steps=FIGURE1_DEFAULT_STEPS, seeds=1, regimes=FIGURE1_REGIMES,
            jobs=1, resume=False, progress=True, **config):
    """Train each regime for each seed 0..seeds-1 (paper setting, `steps` steps, checkpoints
    every steps/10), then write out_dir/figure1.png, figure1_metrics.png, figure1.npz and
    figure1.json. Runs live in out_dir/figure1-runs/<regime>-seed<k> (resumable).
    Returns {regime: [run record, ...]}."""
    import multiprocessing
    import time
    from concurrent.futures import ProcessPoolExecutor

    from .training import Config
    every = max(steps // 10, 1)
    tasks = []
    for regime in regimes:
        for seed in range(seeds):
            cfg = Config(regime=regime, steps=steps, seed=seed, checkpoint_every=every, **config)
            cfg.validate()
            run_dir = os.path.join(out_dir, "figure1-runs", f"{regime}-seed{seed}")
            # parallel runs each keep their own progress-bar line
            tasks.append((cfg, run_dir, resume, progress, len(tasks) % jobs if jobs > 1 else None))
    start = time.perf_counter()
    if jobs > 1:
        # fresh interpreters with one BLAS thread each: `jobs` runs share the cores instead of
        # each run's BLAS threads competing for all of them
        saved = {k: os.environ.get(k) for k in BLAS_THREAD_VARIABLES}
        os.environ.update({k: "1" for k in BLAS_THREAD_VARIABLES})
        try:
            with ProcessPoolExecutor(max_workers=jobs,
                                     mp_context=multiprocessing.get_context("spawn")) as pool:
                outcomes = list(pool.map(_train_one, tasks))
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    else:
        outcomes = [_train_one(t) for t in tasks]
    wall = time.perf_counter() - start
    runs, timings = {}, {}
    for (cfg, run_dir, *_), (seconds, info) in zip(tasks, outcomes):
        if not os.path.exists(os.path.join(run_dir, "checkpoint.npz")):
            raise FloatingPointError(f"{cfg.regime} seed {cfg.seed}: {info}; nothing was saved")
        runs.setdefault(cfg.regime, []).append(load_run(run_dir))
        timings[f"{cfg.regime}-seed{cfg.seed}"] = (
            {"seconds": seconds, "critic_impl": info} if seconds is not None
            else {"diverged": info})
    os.makedirs(out_dir, exist_ok=True)
    stem = os.path.join(out_dir, "figure1")
    plot_figure1(runs, stem + ".png")
    plot_metrics(runs, stem + "_metrics.png")
    write_figure1_data(runs, stem, {"steps": steps, "seeds": seeds, "jobs": jobs,
                                    "wall_seconds": wall, "runs_seconds": timings})
    return runs
