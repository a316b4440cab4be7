"""Training: Adam against hand numbers and autograd's Adam, each regime's loss against a plain
NumPy computation with finite-difference input gradients, reproducibility, resume, NaN stop."""
import dataclasses
import json
import os

import numpy as np
import pytest
from autograd.misc.optimizers import adam as autograd_adam

from refgan import training
from refgan.adam import adam_init, adam_step
from refgan.training import Config, TrainingDiverged, critic_loss, generator_loss, train

TINY = dict(hidden=(8, 8), batch=32, n_eval=64, steps=6, checkpoint_every=3)


# -- Adam --------------------------------------------------------------------------------------

def test_adam_first_two_steps_by_hand():
    params = [(np.array([[1.0, -2.0]]), np.array([0.5, 0.0]))]
    state = adam_init(params)
    g1 = [(np.array([[0.2, -0.1]]), np.array([4.0, 0.0]))]
    lr, b1, b2, eps = 0.1, 0.5, 0.999, 1e-8
    p1, state = adam_step(params, g1, state, lr, b1, b2, eps)
    # step 1: m_hat = g, v_hat = g^2, so the update is lr * g / (|g| + eps) = lr sign(g)
    np.testing.assert_allclose(p1[0][0], [[0.9, -1.9]], rtol=0, atol=1e-7)
    np.testing.assert_allclose(p1[0][1], [0.4, 0.0], rtol=0, atol=1e-7)
    # step 2 on the first weight with g = -0.6: m = 0.5*0.1 + 0.5*(-0.6) = -0.25, m_hat = -0.25/0.75;
    # v = 0.999*0.001*0.04 + 0.001*0.36 = 3.99960e-4, v_hat = v / (1 - 0.999^2)
    g2 = [(np.array([[-0.6, -0.1]]), np.array([4.0, 0.0]))]
    p2, state = adam_step(p1, g2, state, lr, b1, b2, eps)
    m_hat = -0.25 / 0.75
    v_hat = (0.999 * 0.001 * 0.04 + 0.001 * 0.36) / (1 - 0.999 ** 2)
    p1_exact = 1.0 - lr * 0.2 / (0.2 + eps)  # step 1 is lr sign(g) only up to eps
    assert p2[0][0][0, 0] == pytest.approx(p1_exact - lr * m_hat / (np.sqrt(v_hat) + eps),
                                           rel=1e-14)
    assert state["t"] == 2 and isinstance(p2[0], tuple)


def test_adam_matches_autograds_adam():
    # an independent implementation of the same update on a quadratic, 20 steps
    target = np.array([1.0, -2.0, 3.0])
    grad = lambda x: 2 * (x - target) * np.array([1.0, 10.0, 0.1])
    x0 = np.array([0.0, 0.5, -1.0])
    expected = autograd_adam(lambda x, i: grad(x), x0, num_iters=20, step_size=0.05, b1=0.5)
    x, state = x0, adam_init(x0)
    for _ in range(20):
        x, state = adam_step(x, grad(x), state, lr=0.05, b1=0.5)
    np.testing.assert_allclose(x, expected, rtol=1e-13, atol=1e-15)


# -- each regime's loss against plain NumPy ------------------------------------------------------

def np_mlp(params, x):
    h = x
    for W, b in params[:-1]:
        h = np.tanh(h @ W + b)
    return (h @ params[-1][0] + params[-1][1])[:, 0]


def fd_grad(params, x, h=1e-5):
    """Central differences of the logit in each input coordinate: error O(h^2) ~ 1e-10."""
    g = np.zeros_like(x)
    for k in range(x.shape[1]):
        e = np.zeros(x.shape[1])
        e[k] = h
        g[:, k] = (np_mlp(params, x + e) - np_mlp(params, x - e)) / (2 * h)
    return g


def softplus(t):
    return np.logaddexp(0.0, t)


def setup(regime, **kw):
    cfg = Config(regime=regime, **{**TINY, **kw}).validate()
    data = training.toy_data.get_dataset(cfg.dataset)
    state = training.init_state(cfg, data)
    draws, gen = training.step_randomness(cfg, data, 0)
    rng = np.random.default_rng(5)  # a critic that is far from its init, so all terms matter
    params = [(W + rng.normal(size=W.shape), b + 0.3 * rng.normal(size=b.shape))
              for W, b in state["d_params"]]
    x_fake = np.asarray(training.generate(cfg, state["g_params"], draws[0]["z"]))
    critic = training.make_critic(cfg)[0]
    return cfg, critic, params, draws[0], x_fake, state, gen


def gan_loss(params, xr, xf):
    return np.mean(softplus(-np_mlp(params, xr))) + np.mean(softplus(np_mlp(params, xf)))


# The penalty part (loss minus the plain GAN loss) is compared on its own with rtol 1e-7: the
# finite differences are good to ~1e-10 relative, and a factor 2 (gamma vs gamma/2), swapped
# (1-D)^2 / D^2 weights or a missing term would be off by far more than that.
@pytest.mark.parametrize("regime", ["roth", "r1", "r2"])
def test_penalised_regimes_against_numpy(regime):
    gamma = 0.7
    cfg, critic, p, draw, xf, _, _ = setup(regime)
    xr = draw["x_real"]
    got = float(critic_loss(cfg, critic, p, xr, xf, gamma, draw)) - gan_loss(p, xr, xf)
    gr2, gf2 = (np.sum(fd_grad(p, x) ** 2, axis=1) for x in (xr, xf))
    sig = lambda t: 1 / (1 + np.exp(-t))
    penalty = {"roth": np.mean(sig(-np_mlp(p, xr)) ** 2 * gr2) + np.mean(sig(np_mlp(p, xf)) ** 2 * gf2),
               "r1": np.mean(gr2), "r2": np.mean(gf2)}[regime]
    assert got == pytest.approx(0.5 * gamma * penalty, rel=1e-7)
    assert abs(got) > 1e-3  # the penalty is not negligible, so the comparison is sharp


def test_roth_f_gan_regime_against_numpy():
    gamma = 0.7
    cfg, critic, p, draw, xf, _, _ = setup("roth", divergence="kl")
    xr = draw["x_real"]
    vr, vf = np_mlp(p, xr), np_mlp(p, xf)
    # KL row: g_f(v) = v, f*(t) = exp(t - 1) = f*''(t); Omega_KL = mean_Q exp(v - 1) |grad v|^2
    expected = -(np.mean(vr) - np.mean(np.exp(vf - 1))) + 0.5 * gamma * np.mean(
        np.exp(vf - 1) * np.sum(fd_grad(p, xf) ** 2, axis=1))
    assert float(critic_loss(cfg, critic, p, xr, xf, gamma, draw)) == pytest.approx(
        expected, rel=1e-8)


def test_noise_and_none_regimes_against_numpy():
    gamma = 0.1
    cfg, critic, p, draw, xf, _, _ = setup("noise")
    xr, s = draw["x_real"], np.sqrt(gamma)  # gamma is the variance: the std is sqrt(gamma)
    expected = gan_loss(p, xr + s * draw["xi_real"], xf + s * draw["xi_fake"])
    assert float(critic_loss(cfg, critic, p, xr, xf, gamma, draw)) == pytest.approx(expected,
                                                                                   rel=1e-12)
    cfg0 = dataclasses.replace(cfg, regime="none")
    assert float(critic_loss(cfg0, critic, p, xr, xf, gamma, draw)) == pytest.approx(
        gan_loss(p, xr, xf), rel=1e-12)


def test_wgan_gp_regime_against_numpy():
    lam = 10.0
    cfg, critic, p, draw, xf, _, _ = setup("wgan-gp")
    xr, eps = draw["x_real"], draw["eps"]
    x_hat = eps * xr + (1 - eps) * xf
    gp = np.mean((np.linalg.norm(fd_grad(p, x_hat), axis=1) - 1) ** 2)
    expected = np.mean(np_mlp(p, xf)) - np.mean(np_mlp(p, xr)) + lam * gp
    assert float(critic_loss(cfg, critic, p, xr, xf, lam, draw)) == pytest.approx(expected,
                                                                                 rel=1e-8)


@pytest.mark.parametrize("saturating", [True, False])
def test_generator_losses_against_numpy(saturating):
    cfg, critic, p, _, _, state, gen = setup("none", saturating=saturating)
    v = np_mlp(p, np.asarray(training.generate(cfg, state["g_params"], gen["z"])))
    # saturating: E log(1 - D) = -E softplus(v); non-saturating: -E log D = E softplus(-v)
    expected = -np.mean(softplus(v)) if saturating else np.mean(softplus(-v))
    got = generator_loss(cfg, critic, p, state["g_params"], gen["z"], 0.1, gen)
    assert float(got) == pytest.approx(expected, rel=1e-12)


def test_gamma_annealing_schedule():
    cfg = Config(gamma=0.1, anneal=True, steps=100)
    # gamma_t = gamma_0 * 0.01^(t/T): 0.1 at 0, 0.01 half-way, 0.001 at the end
    assert [training.gamma_at(cfg, t) for t in (0, 50, 100)] == pytest.approx(
        [0.1, 0.01, 0.001], rel=1e-14)
    assert training.gamma_at(dataclasses.replace(cfg, anneal=False), 50) == 0.1


# -- runs: reproducible, resumable, stopping on NaN -----------------------------------------------

def flat_state(out):
    return np.concatenate([np.ravel(a) for W, b in out["state"]["g_params"] + out["state"]["d_params"]
                           for a in (W, b)])


def test_same_seed_same_numbers_other_seed_other_numbers():
    a = train(Config(regime="roth", **TINY), progress=False)
    b = train(Config(regime="roth", **TINY), progress=False)
    c = train(Config(regime="roth", seed=1, **TINY), progress=False)
    assert np.array_equal(flat_state(a), flat_state(b)) and a["history"] == b["history"]
    assert not np.array_equal(flat_state(a), flat_state(c))
    assert [h["step"] for h in a["history"]] == [0, 3, 6]


def test_resume_equals_uninterrupted_run(tmp_path):
    whole = train(Config(regime="noise", **TINY), run_dir=tmp_path / "a", progress=False)
    train(Config(regime="noise", **{**TINY, "steps": 3}), run_dir=tmp_path / "b", progress=False)
    resumed = train(Config(regime="noise", **TINY), run_dir=tmp_path / "b", resume=True,
                    progress=False)
    assert np.array_equal(flat_state(whole), flat_state(resumed))
    assert whole["history"] == resumed["history"]
    assert np.array_equal(whole["samples"], resumed["samples"])
    saved = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert saved["status"] == "finished" and saved["history"] == whole["history"]


def test_resume_refuses_a_different_configuration(tmp_path):
    train(Config(regime="none", **{**TINY, "steps": 3}), run_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="different configuration"):
        train(Config(regime="roth", **TINY), run_dir=tmp_path, resume=True, progress=False)
    with pytest.raises(ValueError, match="at step 3, past steps=2"):
        train(Config(regime="none", **{**TINY, "steps": 2}), run_dir=tmp_path, resume=True,
              progress=False)
    with pytest.raises(FileNotFoundError, match="no checkpoint.npz"):
        train(Config(**TINY), run_dir=tmp_path / "empty", resume=True, progress=False)


def test_nan_stops_with_the_step_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    # the critic loss turns NaN at its 5th call, which is step 4 (one critic step per step)
    calls, original = [], training.critic_loss

    def poisoned(*args):
        calls.append(1)
        return original(*args) * (np.nan if len(calls) == 5 else 1.0)

    monkeypatch.setattr(training, "critic_loss", poisoned)
    with pytest.raises(TrainingDiverged, match=r"step 4: critic loss or its gradient is not "
                                               r"finite.*checkpoint of step 3 is kept"):
        train(Config(regime="none", **TINY), run_dir=tmp_path, progress=False)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["status"].startswith("diverged: step 4")
    assert [h["step"] for h in saved["history"]] == [0, 3]
    assert os.path.exists(tmp_path / "checkpoint.npz")
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")]  # no half-written file


def test_bad_configuration_is_named():
    with pytest.raises(ValueError, match="regime: unknown 'wgan'"):
        Config(regime="wgan").validate()
    with pytest.raises(ValueError, match="gamma: expected a finite number >= 0"):
        Config(gamma=-1.0).validate()
    with pytest.raises(ValueError, match="unknown divergence 'kld'"):
        Config(divergence="kld").validate()
    with pytest.raises(ValueError, match="steps: expected a positive integer"):
        Config(steps=0).validate()
