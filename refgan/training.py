"""Training the toy GAN of the paper, one regime at a time, reproducibly and resumably.

Regimes (the critic's loss, to minimise; v = critic(params, x) is the logit, D = sigmoid(v)):
  none     -E_P log D - E_Q log(1 - D)
  noise    the same on noised samples x + sqrt(gamma_t) xi, xi ~ N(0, I), real and fake
           (the generator's step sees its samples noised the same way)
  roth     divergence 'gan': the above + (gamma_t/2) Omega_JS(P, Q; v)         (the paper's)
           any other row:    -F(P, Q; g_f(v)) + (gamma_t/2) Omega_f(Q; g_f(v))
  r1, r2   the GAN loss + (gamma_t/2) E_P |grad v|^2  (r1)  or  E_Q |grad v|^2  (r2)
  wgan-gp  E_Q v - E_P v + gamma_t E_xhat (|grad v(xhat)| - 1)^2, xhat uniform on real-fake
           segments (gamma plays Gulrajani et al.'s lambda, 10 in their paper)
gamma_t = gamma (constant) or, with anneal, gamma * 0.01^(t/T) (the official code's schedule).
Generator loss: saturating E_Q log(1 - D) (the paper's default) or non-saturating -E_Q log D;
an f-GAN 'roth' run uses -E_Q f*(g_f(v)); wgan-gp uses -E_Q v.

Every random number of step t comes from numpy's Generator seeded by (seed, 1, t), so a run
from a checkpoint continues with exactly the numbers an uninterrupted run would have drawn.
"""
import dataclasses
import functools
import json
import os
import tempfile
import time

import autograd.numpy as np
import numpy as onp
from autograd import value_and_grad
from autograd.misc import flatten

from . import checks, data as toy_data, metrics
from .adam import adam_init, adam_step
from .divergences import get_divergence
from .fused import explicit_mlp
from .nets import init_mlp, logits_and_input_gradients, mlp, mlp_outputs, squared_norms
from .objectives import f_gan_generator_loss, gan_discriminator_loss, gan_generator_loss
from .regularisers import f_gan_critic_loss, gan_critic_loss, r1_penalty, r2_penalty

REGIMES = ("none", "noise", "roth", "r1", "r2", "wgan-gp")
CHECKPOINT = "checkpoint.npz"


class TrainingDiverged(FloatingPointError):
    """A loss or a parameter became NaN or infinite; the message names the step."""


@dataclasses.dataclass
class Config:
    """One run. Defaults are the paper's toy setting except `steps` (paper: 100000)."""
    regime: str = "roth"
    gamma: float = 0.1            # noise variance / penalty weight
    anneal: bool = False          # gamma_t = gamma * 0.01^(t/steps)
    divergence: str = "gan"       # roth only: 'gan' uses Omega_JS, other rows Omega_f
    saturating: bool = True
    dataset: str = "circle3d"
    steps: int = 1000
    batch: int = 512
    critic_steps: int = 1
    lr: float = 1e-3
    beta1: float = 0.5
    beta2: float = 0.999
    hidden: tuple = (128, 128)
    z_dim: int = 2
    activation: str = "tanh"
    init_scale: float = 0.1
    seed: int = 0
    checkpoint_every: int = 100
    n_eval: int = 5120            # 10 x 512 samples per checkpoint, as in the paper's plot
    critic_impl: str = "auto"     # 'reference' (nested autograd), 'explicit' (refgan.fused), 'auto'

    def validate(self):
        if self.regime not in REGIMES:
            raise ValueError(f"regime: unknown {self.regime!r}; valid: {', '.join(REGIMES)}")
        if self.critic_impl not in ("auto", "reference", "explicit"):
            raise ValueError(f"critic_impl: unknown {self.critic_impl!r}; valid: auto, "
                             "reference, explicit")
        get_divergence(self.divergence)
        toy_data.get_dataset(self.dataset)
        checks.nonnegative("gamma", self.gamma)
        for name in ("steps", "batch", "critic_steps", "z_dim", "checkpoint_every", "n_eval"):
            checks.positive_int(name, getattr(self, name))
        if self.regime == "roth" and self.divergence == "tv":
            raise ValueError("divergence: 'tv' has Omega identically 0; roth needs another row")
        return self


def gamma_at(config, t):
    """gamma_t: constant, or gamma_0 * 0.01^(t/T) with anneal."""
    return config.gamma * 0.01 ** (t / config.steps) if config.anneal else config.gamma


def make_critic(config):
    """The critic function and the name of its implementation: 'explicit' (refgan.fused, the
    default, 'auto') or 'reference' (nested autograd); both give the same numbers to 1e-10."""
    if config.critic_impl == "reference":
        return functools.partial(mlp, activation=config.activation), "reference"
    return explicit_mlp(config.activation), "explicit"


def generate(config, g_params, z):
    """Generator G(z) = MLP(z), linear output: (m, z_dim) -> (m, d)."""
    return mlp_outputs(g_params, z, config.activation)


# -- the losses of one step ------------------------------------------------------------------

def critic_loss(config, critic, d_params, x_real, x_fake, gamma, noise):
    """The regime's critic loss (module docstring). `noise` holds this step's extra random
    arrays: 'xi_real', 'xi_fake' (noise regime), 'eps' (wgan-gp interpolation weights)."""
    r = config.regime
    if r == "noise":
        s = np.sqrt(gamma)
        x_real, x_fake = x_real + s * noise["xi_real"], x_fake + s * noise["xi_fake"]
    if r in ("none", "noise") or (r in ("r1", "r2") and gamma == 0.0):
        return gan_discriminator_loss(critic(d_params, x_real), critic(d_params, x_fake))
    if r == "roth":
        if get_divergence(config.divergence).name == "gan":
            return gan_critic_loss(critic, d_params, x_real, x_fake, gamma)
        return f_gan_critic_loss(config.divergence, critic, d_params, x_real, x_fake, gamma)
    if r in ("r1", "r2"):
        base = gan_discriminator_loss(critic(d_params, x_real), critic(d_params, x_fake))
        penalty = (r1_penalty(critic, d_params, x_real) if r == "r1"
                   else r2_penalty(critic, d_params, x_fake))
        return base + 0.5 * gamma * penalty
    # wgan-gp; (|g| - 1)^2 has no finite gradient at g = 0, a point of measure zero
    x_hat = noise["eps"] * x_real + (1.0 - noise["eps"]) * x_fake
    _, g = logits_and_input_gradients(critic, d_params, x_hat)
    gp = np.mean((np.sqrt(squared_norms(g)) - 1.0) ** 2)
    return np.mean(critic(d_params, x_fake)) - np.mean(critic(d_params, x_real)) + gamma * gp


def generator_loss(config, critic, d_params, g_params, z, gamma, noise):
    """The regime's generator loss on G(z) (module docstring)."""
    x_fake = generate(config, g_params, z)
    if config.regime == "noise":
        x_fake = x_fake + np.sqrt(gamma) * noise["xi_gen"]
    v = critic(d_params, x_fake)
    if config.regime == "wgan-gp":
        return -np.mean(v)
    if config.regime == "roth" and get_divergence(config.divergence).name != "gan":
        return f_gan_generator_loss(config.divergence, v)
    return gan_generator_loss(v, saturating=config.saturating)


def step_randomness(config, data, t):
    """All random arrays of step t, from the Generator seeded by (seed, 1, t)."""
    rng = onp.random.default_rng([config.seed, 1, t])
    n, d = config.batch, data.centres.shape[1]
    draws = []
    for _ in range(config.critic_steps):
        x_real, _ = toy_data.sample(data, n, rng)
        draws.append({"x_real": x_real, "z": rng.standard_normal((n, config.z_dim)),
                      "xi_real": rng.standard_normal((n, d)),
                      "xi_fake": rng.standard_normal((n, d)),
                      "eps": rng.uniform(size=(n, 1))})
    return draws, {"z": rng.standard_normal((n, config.z_dim)),
                   "xi_gen": rng.standard_normal((n, d))}


# -- state, checkpoints ----------------------------------------------------------------------

def init_state(config, data):
    """Step 0: parameters from the Generator seeded by (seed, 0), fresh Adam moments."""
    rng = onp.random.default_rng([config.seed, 0])
    d = data.centres.shape[1]
    g = init_mlp([config.z_dim, *config.hidden, d], rng, scale=config.init_scale)
    c = init_mlp([d, *config.hidden, 1], rng, scale=config.init_scale)
    return {"step": 0, "g_params": g, "d_params": c, "g_adam": adam_init(g),
            "d_adam": adam_init(c)}


def eval_batches(config, data):
    """The fixed real samples and latent codes every checkpoint is evaluated on."""
    rng = onp.random.default_rng([config.seed, 2])
    x_real, _ = toy_data.sample(data, config.n_eval, rng)
    return x_real, rng.standard_normal((config.n_eval, config.z_dim))


def evaluate(config, critic, data, state, x_real, z):
    """Metrics (see refgan.metrics) and the generated samples at the current state."""
    x_fake = onp.asarray(generate(config, state["g_params"], z))
    if not onp.all(onp.isfinite(x_fake)):
        raise TrainingDiverged(f"step {state['step']}: generated samples are not finite")
    m = {"step": state["step"], "gamma": gamma_at(config, state["step"])}
    m.update(metrics.sample_quality(x_fake, data.centres, data.std))
    if data.name == "circle3d":
        m["plane_distance"] = metrics.plane_distance(x_fake, toy_data.TRANSLATION,
                                                     toy_data.plane_normal())
    m.update(metrics.critic_metrics(critic, state["d_params"], x_real, x_fake))
    return m, x_fake


def _atomic_write(path, write):
    """write(file object) into a temp file beside path, then os.replace: never half a file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make outputs private
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def save_json(path, obj):
    _atomic_write(path, lambda fh: fh.write(json.dumps(obj, indent=1).encode()))


def save_checkpoint(run_dir, config, state, history, samples, status="running"):
    """One self-consistent file, checkpoint.npz (state, metrics, samples), and a readable
    metrics.json beside it."""
    arrays = {"g_params": flatten(state["g_params"])[0],
              "d_params": flatten(state["d_params"])[0], "step": state["step"],
              "samples": onp.asarray(samples), "sample_steps": [h["step"] for h in history]}
    for who in ("g", "d"):
        for key in ("m", "v", "t"):
            arrays[f"{who}_adam_{key}"] = state[f"{who}_adam"][key]
    record = {"config": dataclasses.asdict(config), "status": status, "history": history}
    arrays["record"] = json.dumps(record)
    _atomic_write(os.path.join(run_dir, CHECKPOINT), lambda fh: onp.savez(fh, **arrays))
    save_json(os.path.join(run_dir, "metrics.json"), record)


def load_checkpoint(run_dir, config, data):
    """(state, history, samples) from run_dir's checkpoint; the config must match the saved one
    except for `steps` (a run can be extended), and the checkpoint must not be past it."""
    path = os.path.join(run_dir, CHECKPOINT)
    if not os.path.exists(path):
        raise FileNotFoundError(f"resume: no {CHECKPOINT} in {run_dir}")
    with onp.load(path) as f:
        record = json.loads(str(f["record"]))
        saved = Config(**{**record["config"], "hidden": tuple(record["config"]["hidden"])})
        if dataclasses.replace(saved, steps=config.steps) != config:
            raise ValueError(f"resume: the checkpoint in {run_dir} was made with a different "
                             f"configuration: {saved}")
        state = init_state(config, data)
        for who in ("g", "d"):
            state[f"{who}_params"] = flatten(state[f"{who}_params"])[1](f[f"{who}_params"])
            state[f"{who}_adam"] = {"m": f[f"{who}_adam_m"], "v": f[f"{who}_adam_v"],
                                    "t": int(f[f"{who}_adam_t"])}
        state["step"] = int(f["step"])
        if state["step"] > config.steps:
            raise ValueError(f"resume: the checkpoint in {run_dir} is at step {state['step']}, "
                             f"past steps={config.steps}")
        return state, record["history"], list(f["samples"])


# -- the loop --------------------------------------------------------------------------------

def train_step(config, critic, data, state):
    """critic_steps critic updates then one generator update, in place on `state`.
    Returns the last critic loss and the generator loss."""
    t = state["step"]
    gamma = gamma_at(config, t)
    critic_draws, gen_draws = step_randomness(config, data, t)
    opt = dict(lr=config.lr, b1=config.beta1, b2=config.beta2)
    for draw in critic_draws:
        x_fake = onp.asarray(generate(config, state["g_params"], draw["z"]))
        d_loss, d_grad = value_and_grad(
            lambda p: critic_loss(config, critic, p, draw["x_real"], x_fake, gamma, draw))(
            state["d_params"])
        _check_finite(t, "critic loss", d_loss, d_grad)
        state["d_params"], state["d_adam"] = adam_step(state["d_params"], d_grad,
                                                       state["d_adam"], **opt)
    g_loss, g_grad = value_and_grad(
        lambda p: generator_loss(config, critic, state["d_params"], p, gen_draws["z"], gamma,
                                 gen_draws))(state["g_params"])
    _check_finite(t, "generator loss", g_loss, g_grad)
    state["g_params"], state["g_adam"] = adam_step(state["g_params"], g_grad, state["g_adam"],
                                                   **opt)
    state["step"] = t + 1
    return float(d_loss), float(g_loss)


def _check_finite(t, what, loss, grads):
    if not onp.isfinite(loss) or not onp.all(onp.isfinite(flatten(grads)[0])):
        raise TrainingDiverged(f"step {t}: {what} or its gradient is not finite "
                               f"(loss = {float(loss)})")


def train(config, run_dir=None, resume=False, progress=True, position=None):
    """Run config.steps steps (from the last checkpoint in run_dir with resume=True).

    Evaluates and, with run_dir, checkpoints at step 0, every checkpoint_every steps and at
    the end. Returns {'config', 'history' (list of metric dicts), 'samples' (k, n_eval, d),
    'real' (n_eval, d), 'state', 'status', 'seconds', 'critic_impl'}. On NaN/inf raises
    TrainingDiverged naming the step; the last checkpoint stays on disk (marked 'diverged')."""
    from tqdm.auto import tqdm

    config = config.validate()
    data = toy_data.get_dataset(config.dataset)
    critic, impl = make_critic(config)
    x_real, z_eval = eval_batches(config, data)
    if resume:
        if run_dir is None:
            raise ValueError("resume: needs run_dir")
        state, history, samples = load_checkpoint(run_dir, config, data)
    else:
        state, history, samples = init_state(config, data), [], []

    def checkpoint(status="running"):
        if not history or history[-1]["step"] != state["step"]:
            m, x_fake = evaluate(config, critic, data, state, x_real, z_eval)
            history.append(m)
            samples.append(x_fake)
        if run_dir is not None:
            save_checkpoint(run_dir, config, state, history, samples, status)

    start = time.perf_counter()
    if state["step"] == 0 and not history:
        checkpoint()
    bar = tqdm(total=config.steps, initial=state["step"], disable=not progress, unit="step",
               desc=f"{config.regime} seed {config.seed}", dynamic_ncols=True,
               position=position)
    try:
        while state["step"] < config.steps:
            d_loss, g_loss = train_step(config, critic, data, state)
            bar.update(1)
            if state["step"] % config.checkpoint_every == 0 or state["step"] == config.steps:
                checkpoint()
                bar.set_postfix(modes=history[-1]["modes_covered"],
                                hq=f"{history[-1]['high_quality']:.2f}")
    except TrainingDiverged as exc:
        if run_dir is not None and history:
            with open(os.path.join(run_dir, "metrics.json")) as fh:
                record = json.load(fh)
            record["status"] = f"diverged: {exc}"
            save_json(os.path.join(run_dir, "metrics.json"), record)
        where = f"; the checkpoint of step {history[-1]['step']} is kept" if history else ""
        raise TrainingDiverged(f"{exc}{where}" + (f" in {run_dir}" if run_dir else "")) from None
    finally:
        bar.close()
    if run_dir is not None:
        save_checkpoint(run_dir, config, state, history, samples, "finished")
    return {"config": config, "history": history, "samples": onp.asarray(samples),
            "real": x_real, "state": state, "status": "finished", "critic_impl": impl,
            "seconds": time.perf_counter() - start}
