"""The penalties and the regularised critic losses.

(a) A linear critic v = x @ w + b has grad_x v = w for every sample, so every penalty is a
    hand formula in |w|^2; these pin the weights, the gamma/2 factor and the plus sign.
(b) Parameter gradients (through the input gradient: second order) against central finite
    differences over every parameter entry, and a detached variant that fails the same check.
(c) An exactly zero input gradient gives a finite, correct parameter gradient.
(d) Batch sizes that differ, batch size 1, and image-like inputs, against a per-sample loop.
"""
import math

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from hypothesis import given, settings
from hypothesis import strategies as st

from naive_table import TABLE
from refgan import (DIVERGENCES, f_gan_critic_loss, f_gan_critic_loss_and_grad,
                    gan_critic_loss, gan_critic_loss_and_grad, gradient_norms_squared,
                    logits_and_input_gradients, mlp, omega_f, omega_f_terms, omega_js,
                    omega_js_terms, r1_penalty, r2_penalty, sigmoid)

NAMES = list(DIVERGENCES)


def sig(v):
    return 1.0 / (1.0 + np.exp(-v))


# Omega_f's weight on |grad v|^2, w_f(v) = f*''(g_f(v)) g_f'(v)^2, simplified by hand:
HAND_WEIGHT = {
    "kl": lambda v: np.exp(v - 1.0),            # f*'' = e^(t-1), g = v
    "reverse_kl": lambda v: np.ones_like(v),    # f*'' = 1/t^2 = e^2v, g' = e^-v
    "pearson": lambda v: 0.5 * np.ones_like(v),  # f*'' = 1/2, g = v
    "neyman": lambda v: 0.5 * np.exp(-v / 2.0),  # f*'' = (1-t)^-3/2 / 2 = e^(3v/2) / 2, g' = e^-v
    "hellinger": lambda v: 2.0 * np.exp(v),     # f*'' = 2 (1-t)^-3 = 2 e^3v, g' = e^-v
    "js": sig,     # e^t = 2 sig(v): f*'' = 2 e^t / (2 - e^t)^2 = sig(v) / sig(-v)^2, g' = sig(-v)
    "gan": sig,    # e^t = sig(v): f*'' = e^t / (1 - e^t)^2 = sig(v) / sig(-v)^2, g' = sig(-v)
    "tv": lambda v: np.zeros_like(v),           # f* = t is linear
}


def test_hand_tables_cover_every_row():
    assert set(HAND_WEIGHT) == set(TABLE) == set(NAMES)


# ---------------------------------------------------------------- (a) linear critic by hand

def linear_params(w, b):
    return [(np.asarray(w, dtype=np.float64)[:, None], np.array([b], dtype=np.float64))]


def hand_penalties(w, b, x_real, x_fake, gamma):
    """Every quantity from |grad_x v|^2 = |w|^2, the same for every sample."""
    w2 = float(np.sum(np.square(w)))
    vr, vf = x_real @ w + b, x_fake @ w + b
    js = w2 * (np.mean((1.0 - sig(vr)) ** 2) + np.mean(sig(vf) ** 2))
    out = {
        "omega_js": js,
        "r1": w2,
        "r2": w2,
        # -E_P log D - E_Q log(1 - D) + (gamma/2) Omega_JS, with -log D = log(1 + e^-v) and
        # -log(1 - D) = log(1 + e^v) (exact to round-off where 1 - D itself would lose digits)
        "gan_critic_loss": (np.mean(np.log1p(np.exp(-vr))) + np.mean(np.log1p(np.exp(vf)))
                            + gamma / 2.0 * js),
    }
    for name in NAMES:
        g, fstar_g = TABLE[name]
        omega = w2 * np.mean(HAND_WEIGHT[name](vf))
        out["omega_f", name] = omega
        # -(E_P g_f(v) - E_Q f*(g_f(v))) + (gamma/2) Omega_f
        out["f_gan_critic_loss", name] = (-(np.mean(g(vr)) - np.mean(fstar_g(vf)))
                                          + gamma / 2.0 * omega)
    return out


def library_penalties(w, b, x_real, x_fake, gamma):
    params = linear_params(w, b)
    out = {
        "omega_js": omega_js(mlp, params, x_real, x_fake),
        "r1": r1_penalty(mlp, params, x_real),
        "r2": r2_penalty(mlp, params, x_fake),
        "gan_critic_loss": gan_critic_loss(mlp, params, x_real, x_fake, gamma),
    }
    for name in NAMES:
        out["omega_f", name] = omega_f(name, mlp, params, x_fake)
        out["f_gan_critic_loss", name] = f_gan_critic_loss(name, mlp, params, x_real, x_fake,
                                                           gamma)
    return out


# A discriminator that mostly gets it right (real logits > 0, fake < 0), so (1 - D)^2 on real
# and D^2 on fake are small while the swapped weights would be large.
W_LIN, B_LIN, GAMMA = np.array([0.5, -2.0, 1.5]), 0.25, 0.3
X_REAL = np.array([[1.0, -0.5, 0.2], [0.3, -1.0, 0.5], [0.0, 0.2, 1.0]])
X_FAKE = np.array([[-1.0, 0.5, -0.2], [0.4, 0.6, -0.3]])


def test_linear_critic_pins_every_formula():
    hand = hand_penalties(W_LIN, B_LIN, X_REAL, X_FAKE, GAMMA)
    lib = library_penalties(W_LIN, B_LIN, X_REAL, X_FAKE, GAMMA)
    assert hand["r1"] == 6.5  # |w|^2 = 0.25 + 4 + 2.25
    for key in hand:
        # rtol 1e-12: the same quantities by the same arithmetic up to ordering.
        assert lib[key] == pytest.approx(hand[key], rel=1e-12, abs=1e-15), key


def test_the_linear_critic_check_rejects_common_faults():
    """The faults of REFERENCE section 7 (6, 7) give values the check above rejects."""
    vr, vf = X_REAL @ W_LIN + B_LIN, X_FAKE @ W_LIN + B_LIN
    w2 = 6.5
    right = omega_js(mlp, linear_params(W_LIN, B_LIN), X_REAL, X_FAKE)
    swapped = w2 * (np.mean(sig(vr) ** 2) + np.mean((1.0 - sig(vf)) ** 2))
    # the weights D (1 - D) on both sets: equal to Omega_JS only at the optimal discriminator
    both_phi_one_minus_phi = w2 * (np.mean(sig(vr) * (1.0 - sig(vr)))
                                   + np.mean(sig(vf) * (1.0 - sig(vf))))
    assert abs(swapped - right) > 0.5 * right
    assert abs(both_phi_one_minus_phi - right) > 0.1 * right
    loss = gan_critic_loss(mlp, linear_params(W_LIN, B_LIN), X_REAL, X_FAKE, GAMMA)
    bare = gan_critic_loss(mlp, linear_params(W_LIN, B_LIN), X_REAL, X_FAKE, 0.0)
    assert loss - bare == pytest.approx(GAMMA / 2.0 * right, rel=1e-12)  # plus, gamma/2
    for wrong in (GAMMA * right, -GAMMA / 2.0 * right, GAMMA / 4.0 * right):
        assert abs((loss - bare) - wrong) > 0.2 * abs(wrong)


finite_vectors = st.lists(st.floats(-2.0, 2.0), min_size=2, max_size=2)


@settings(max_examples=15)
@given(w=finite_vectors, b=st.floats(-1.0, 1.0), gamma=st.floats(0.0, 2.0),
       n=st.integers(1, 4), m=st.integers(1, 4), seed=st.integers(0, 2 ** 31))
def test_linear_critic_by_hand_for_drawn_critics(w, b, gamma, n, m, seed):
    rng = np.random.default_rng(seed)
    x_real, x_fake = rng.standard_normal((n, 2)), rng.standard_normal((m, 2))
    w = np.array(w)
    hand = hand_penalties(w, b, x_real, x_fake, gamma)
    lib = library_penalties(w, b, x_real, x_fake, gamma)
    for key in hand:
        # rtol 1e-10: |v| < 20 here; the hand forms are exact to ~1e-15 absolute there.
        assert lib[key] == pytest.approx(hand[key], rel=1e-10, abs=1e-13), key


# -------------------------------------------------- (b) parameter gradients, second order

def flatten(params):
    return np.concatenate([np.ravel(a) for layer in params for a in layer])


def unflatten(theta, like):
    out, k = [], 0
    for W, b in like:
        Wn = theta[k:k + W.size].reshape(W.shape)
        k += W.size
        out.append((Wn, theta[k:k + b.size].reshape(b.shape)))
        k += b.size
    return out


def finite_difference_gradient(loss, params, h=1e-5):
    """Central differences over every parameter entry. Step 1e-5 ~ eps^(1/3): truncation
    (h^2/6) |loss'''| ~ 1e-11 and round-off eps |loss| / h ~ 1e-11, far below rtol 1e-6."""
    theta = flatten(params)
    out = np.zeros_like(theta)
    for k in range(theta.size):
        e = np.zeros_like(theta)
        e[k] = h
        out[k] = (loss(unflatten(theta + e, params)) - loss(unflatten(theta - e, params))) / (2 * h)
    return out


def assert_matches_finite_differences(autograd_grad, fd):
    ad = flatten(autograd_grad)
    assert np.all(np.isfinite(ad))
    # rtol 1e-6 entrywise (entries near 0 judged against 1e-6 of the largest entry).
    np.testing.assert_allclose(ad, fd, rtol=1e-6, atol=1e-6 * np.max(np.abs(fd)) + 1e-12)


def random_params(sizes, seed, scale=0.8):
    rng = np.random.default_rng(seed)
    return [(scale * rng.standard_normal((i, o)), scale * rng.standard_normal(o))
            for i, o in zip(sizes[:-1], sizes[1:])]


def critic_of(activation):
    return lambda p, x: mlp(p, x, activation)


def penalty_functions(critic, x_real, x_fake, gamma):
    """name -> loss(params) for every penalty and regularised loss."""
    fns = {
        "omega_js": lambda p: omega_js(critic, p, x_real, x_fake),
        "r1": lambda p: r1_penalty(critic, p, x_real),
        "r2": lambda p: r2_penalty(critic, p, x_fake),
        "gan_critic_loss": lambda p: gan_critic_loss(critic, p, x_real, x_fake, gamma),
    }
    for name in NAMES:
        fns["omega_f", name] = lambda p, name=name: omega_f(name, critic, p, x_fake)
        fns["f_gan_critic_loss", name] = (
            lambda p, name=name: f_gan_critic_loss(name, critic, p, x_real, x_fake, gamma))
    return fns


@pytest.mark.parametrize("activation", ["tanh", "softplus"])
@settings(max_examples=3)
@given(seed=st.integers(0, 2 ** 31), gamma=st.floats(0.1, 2.0))
def test_parameter_gradients_match_finite_differences(activation, seed, gamma):
    rng = np.random.default_rng(seed)
    params = random_params((2, 4, 3, 1), seed)
    x_real, x_fake = rng.standard_normal((3, 2)), rng.standard_normal((4, 2))
    critic = critic_of(activation)
    for key, loss in penalty_functions(critic, x_real, x_fake, gamma).items():
        fd = finite_difference_gradient(loss, params)
        try:
            assert_matches_finite_differences(grad(loss)(params), fd)
        except AssertionError as err:
            raise AssertionError(f"{key}: {err}") from None


def test_value_and_grad_helpers_match_finite_differences():
    rng = np.random.default_rng(11)
    params = random_params((2, 5, 1), 12)
    x_real, x_fake = rng.standard_normal((3, 2)), rng.standard_normal((2, 2))
    critic = critic_of("tanh")
    value, g = gan_critic_loss_and_grad(critic, params, x_real, x_fake, 0.7)
    loss = lambda p: gan_critic_loss(critic, p, x_real, x_fake, 0.7)
    assert value == loss(params)
    assert_matches_finite_differences(g, finite_difference_gradient(loss, params))
    value, g = f_gan_critic_loss_and_grad("hellinger", critic, params, x_real, x_fake, 0.7)
    loss = lambda p: f_gan_critic_loss("hellinger", critic, p, x_real, x_fake, 0.7)
    assert value == loss(params)
    assert_matches_finite_differences(g, finite_difference_gradient(loss, params))


def detached_penalties(critic, params, x_real, x_fake):
    """The fault of REFERENCE section 7.4: input gradients computed once at fixed parameters
    and then used as constants; only the weights D(v) follow the parameters."""
    _, g_real = logits_and_input_gradients(critic, params, x_real)  # plain arrays: no graph
    _, g_fake = logits_and_input_gradients(critic, params, x_fake)
    n_real, n_fake = np.sum(g_real ** 2, axis=1), np.sum(g_fake ** 2, axis=1)

    def js(p):
        return (anp.mean(sigmoid(-critic(p, x_real)) ** 2 * n_real)
                + anp.mean(sigmoid(critic(p, x_fake)) ** 2 * n_fake))

    def r1(p):
        return anp.mean(n_real + 0.0 * critic(p, x_real))
    return {"omega_js": js, "r1": r1}


def test_a_detached_input_gradient_fails_the_finite_difference_check():
    rng = np.random.default_rng(21)
    params = random_params((2, 4, 3, 1), 22)
    x_real, x_fake = rng.standard_normal((3, 2)), rng.standard_normal((4, 2))
    critic = critic_of("tanh")
    right = {"omega_js": lambda p: omega_js(critic, p, x_real, x_fake),
             "r1": lambda p: r1_penalty(critic, p, x_real)}
    for key, wrong in detached_penalties(critic, params, x_real, x_fake).items():
        assert wrong(params) == pytest.approx(right[key](params), rel=1e-12)  # same value
        fd = finite_difference_gradient(right[key], params)
        assert_matches_finite_differences(grad(right[key])(params), fd)
        with pytest.raises(AssertionError):
            assert_matches_finite_differences(grad(wrong)(params), fd)
        # and not narrowly: the detached gradient is off by a sizeable fraction
        err = np.linalg.norm(flatten(grad(wrong)(params)) - fd) / np.linalg.norm(fd)
        assert err > 0.1, (key, err)


# ------------------------------------------------------------ (c) zero input gradient

@pytest.mark.parametrize("activation", ["tanh", "softplus"])
def test_zero_input_gradient_gives_a_finite_correct_parameter_gradient(activation):
    rng = np.random.default_rng(31)
    params = random_params((2, 4, 3, 1), 32)
    params[0] = (np.zeros_like(params[0][0]), params[0][1])  # v no longer depends on x
    x_real, x_fake = rng.standard_normal((3, 2)), rng.standard_normal((4, 2))
    critic = critic_of(activation)
    np.testing.assert_array_equal(gradient_norms_squared(critic, params, x_real), 0.0)
    for key, loss in penalty_functions(critic, x_real, x_fake, 0.5).items():
        fd = finite_difference_gradient(loss, params)
        if (key if isinstance(key, str) else key[0]) in ("omega_js", "r1", "r2", "omega_f"):
            # |g|^2 is O(|dW1|^2) around g = 0: value 0, gradient exactly 0 (not NaN); the
            # finite differences see only O(h^2) ~ 1e-10 of it.
            assert loss(params) == 0.0, key
            np.testing.assert_array_equal(flatten(grad(loss)(params)), 0.0)
            assert np.max(np.abs(fd)) < 1e-8, key
            continue
        try:
            assert_matches_finite_differences(grad(loss)(params), fd)
        except AssertionError as err:
            raise AssertionError(f"{key}: {err}") from None


# ---------------------------------------- (d) batch sizes and image-like inputs, per sample

def per_sample_loop(critic, params, x):
    """Each sample alone: its logit and its input gradient's squared norm over all axes."""
    v, n2 = [], []
    for xi in x:
        one = lambda xi_: critic(params, xi_[None])[0]
        v.append(one(xi))
        n2.append(np.sum(grad(one)(xi) ** 2))
    return np.array(v), np.array(n2)


@pytest.mark.parametrize("n, m, sample_shape", [
    (3, 5, (2,)), (1, 1, (2,)), (1, 4, (3,)), (4, 2, (2, 4, 4)), (1, 3, (2, 4, 4))])
def test_penalties_equal_a_per_sample_loop(n, m, sample_shape):
    """One norm per sample over all non-batch axes; real and fake sets of any sizes."""
    rng = np.random.default_rng(41)
    d = int(np.prod(sample_shape))
    params = random_params((d, 5, 1), 42, scale=0.5)
    x_real = rng.standard_normal((n,) + sample_shape)
    x_fake = rng.standard_normal((m,) + sample_shape)
    critic = critic_of("tanh")
    vr, nr = per_sample_loop(critic, params, x_real)
    vf, nf = per_sample_loop(critic, params, x_fake)
    # rtol 1e-12: identical arithmetic sample by sample.
    tol = dict(rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(gradient_norms_squared(critic, params, x_real), nr, rtol=1e-12)
    real_terms, fake_terms = omega_js_terms(critic, params, x_real, x_fake)
    assert real_terms.shape == (n,) and fake_terms.shape == (m,)
    assert omega_js(critic, params, x_real, x_fake) == pytest.approx(
        np.mean((1.0 - sig(vr)) ** 2 * nr) + np.mean(sig(vf) ** 2 * nf), **tol)
    assert r1_penalty(critic, params, x_real) == pytest.approx(np.mean(nr), **tol)
    assert r2_penalty(critic, params, x_fake) == pytest.approx(np.mean(nf), **tol)
    for name in NAMES:
        assert omega_f_terms(name, critic, params, x_fake).shape == (m,)
        assert omega_f(name, critic, params, x_fake) == pytest.approx(
            np.mean(HAND_WEIGHT[name](vf) * nf), **tol), name


def test_gamma_zero_is_the_unregularised_loss():
    params = random_params((2, 4, 1), 51)
    rng = np.random.default_rng(52)
    x_real, x_fake = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    critic = critic_of("tanh")
    vr, vf = critic(params, x_real), critic(params, x_fake)
    assert gan_critic_loss(critic, params, x_real, x_fake, 0.0) == pytest.approx(
        np.mean(np.log1p(np.exp(-vr))) + np.mean(np.log1p(np.exp(vf))), rel=1e-12)


def test_omega_gan_at_a_very_negative_logit_is_sigmoid_by_hand():
    """A linear critic v = x + b with b = -40 at x = 0: |grad v|^2 = 1 and the weight is
    sigma(-40) = e^-40 / (1 + e^-40) = 4.2483542553e-18 by hand; a sigmoid that cancels in
    its negative tail gives exactly 0. rel 1e-14: a few ulps of exp and one division."""
    params = [(np.array([[1.0]]), np.array([-40.0]))]
    hand = math.exp(-40.0) / (1.0 + math.exp(-40.0))
    assert float(omega_f("gan", mlp, params, np.zeros((1, 1)))) == pytest.approx(
        hand, rel=1e-14, abs=0.0)
    # Omega_JS on the fake side is sigma(v)^2 |grad v|^2 = sigma(-40)^2.
    real, fake = omega_js_terms(mlp, params, np.array([[80.0]]), np.zeros((1, 1)))
    assert float(fake[0]) == pytest.approx(hand ** 2, rel=1e-14, abs=0.0)
    assert float(real[0]) == pytest.approx(hand ** 2, rel=1e-14, abs=0.0)  # sigma(-40) at v=40
