"""MLP parameters, the forward pass, and per-sample input gradients.

Expected values: the layer formula x @ W + b written out with numpy, the truncated normal's
standard deviation from its closed form, and central finite differences for input gradients.
"""
import math

import numpy as np
import pytest
from autograd import grad
from hypothesis import given, settings
from hypothesis import strategies as st

from refgan import ACTIVATIONS, init_mlp, logits_and_input_gradients, mlp, squared_norms

SIZES = (3, 5, 4, 1)


def test_init_shapes_and_zero_biases():
    params = init_mlp(SIZES, rng=0)
    assert [W.shape for W, _ in params] == [(3, 5), (5, 4), (4, 1)]
    assert [b.shape for _, b in params] == [(5,), (4,), (1,)]
    for W, b in params:
        assert W.dtype == np.float64 and b.dtype == np.float64
        assert np.all(b == 0.0)


def test_truncated_normal_bound_and_std():
    scale = 0.1
    (W, _), = init_mlp((400, 500), rng=1, init="truncated_normal", scale=scale)
    assert np.max(np.abs(W)) <= 2.0 * scale
    # Standard normal cut at +-a: var = 1 - 2 a phi(a) / (Phi(a) - Phi(-a)); a = 2 gives 0.8796.
    a = 2.0
    phi = math.exp(-a * a / 2.0) / math.sqrt(2.0 * math.pi)
    mass = math.erf(a / math.sqrt(2.0))
    truncated_std = scale * math.sqrt(1.0 - 2.0 * a * phi / mass)
    # 200,000 draws: the sample std has relative standard error ~0.16%; rtol 1% is 6 standard
    # errors, while an untruncated N(0, 0.1^2) would be 12% off.
    assert np.std(W) == pytest.approx(truncated_std, rel=0.01)
    assert abs(np.mean(W)) < 5.0 * truncated_std / math.sqrt(W.size)


def test_normal_and_glorot_inits():
    (W, _), = init_mlp((400, 500), rng=2, init="normal", scale=0.3)
    assert np.std(W) == pytest.approx(0.3, rel=0.01)  # 6 standard errors, as above
    (W, _), = init_mlp((40, 60), rng=2, init="glorot")
    limit = math.sqrt(6.0 / (40 + 60))
    assert np.max(np.abs(W)) <= limit
    assert np.std(W) == pytest.approx(limit / math.sqrt(3.0), rel=0.05)  # uniform std; 2400 draws


def test_seeds_reproduce():
    a, b = init_mlp(SIZES, rng=7), init_mlp(SIZES, rng=7)
    c = init_mlp(SIZES, rng=np.random.default_rng(7))
    for (Wa, ba), (Wb, bb), (Wc, _) in zip(a, b, c):
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(ba, bb)
        np.testing.assert_array_equal(Wa, Wc)
    assert not np.array_equal(a[0][0], init_mlp(SIZES, rng=8)[0][0])


def random_params(sizes, seed, scale=0.8):
    """Weights and biases both random, large enough that the activations are non-linear."""
    rng = np.random.default_rng(seed)
    return [(scale * rng.standard_normal((i, o)), scale * rng.standard_normal(o))
            for i, o in zip(sizes[:-1], sizes[1:])]


def mlp_critic(activation):
    return lambda p, x: mlp(p, x, activation)


HAND_ACTIVATIONS = {
    "tanh": np.tanh,
    "softplus": lambda a: np.log1p(np.exp(a)),
    "relu": lambda a: np.where(a > 0, a, 0.0),
    "linear": lambda a: a,
}


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_mlp_is_the_layer_formula(activation):
    params = random_params(SIZES, 0)
    x = np.random.default_rng(1).standard_normal((6, 3))
    (W1, b1), (W2, b2), (W3, b3) = params
    act = HAND_ACTIVATIONS[activation]
    expected = (act(act(x @ W1 + b1) @ W2 + b2) @ W3 + b3)[:, 0]
    v = mlp(params, x, activation)
    assert v.shape == (6,)
    np.testing.assert_allclose(v, expected, rtol=1e-13, atol=1e-14)  # same arithmetic


def test_image_like_inputs_are_flattened_row_major():
    x = np.random.default_rng(3).standard_normal((5, 2, 4, 4))
    params = random_params((32, 6, 1), 4)
    flat = np.stack([[x[i, c, h, w] for c in range(2) for h in range(4) for w in range(4)]
                     for i in range(5)])
    np.testing.assert_allclose(mlp(params, x), mlp(params, flat), rtol=1e-14)
    v, g = logits_and_input_gradients(mlp_critic("tanh"), params, x)
    assert v.shape == (5,) and g.shape == (5, 2, 4, 4)


def central_differences(fn, x, h):
    """d fn(x)_i / d x[i, k] for every sample i and coordinate k, shape of x; also returns the
    largest change of any OTHER sample's output (samples must not interact)."""
    g = np.zeros_like(x)
    leak = 0.0
    for idx in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        up, down = fn(x + e), fn(x - e)
        i = idx[0]
        g[idx] = (up[i] - down[i]) / (2.0 * h)
        others = np.delete(up - fn(x), i)
        leak = max(leak, float(np.max(np.abs(others), initial=0.0)))
    return g, leak


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@settings(max_examples=8)
@given(seed=st.integers(0, 2 ** 31), n=st.integers(1, 5), d=st.integers(1, 4))
def test_input_gradients_match_finite_differences(activation, seed, n, d):
    rng = np.random.default_rng(seed)
    params = random_params((d, 5, 4, 1), seed)
    x = rng.standard_normal((n, d))
    critic = mlp_critic(activation)
    if activation == "relu":
        # Away from kinks: every pre-activation at least 1e-3 from 0, far beyond the step.
        h1 = x @ params[0][0] + params[0][1]
        a2 = np.maximum(h1, 0.0) @ params[1][0] + params[1][1]
        keep = (np.min(np.abs(h1), axis=1) > 1e-3) & (np.min(np.abs(a2), axis=1) > 1e-3)
        if not keep.any():
            return
        x = x[keep]
    v, g = logits_and_input_gradients(critic, params, x)
    np.testing.assert_allclose(v, critic(params, x), rtol=1e-15)
    # Step 1e-5: truncation error ~h^2 |v'''| ~ 1e-10 and round-off ~1e-16 / h ~ 1e-11, both
    # far below the 1e-6 relative tolerance.
    fd, leak = central_differences(lambda x_: critic(params, x_), x, 1e-5)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6 * np.max(np.abs(fd)))
    assert leak == 0.0  # moving one sample changes no other sample's output


def test_batch_gradients_equal_each_sample_alone():
    params = random_params((3, 6, 1), 5)
    x = np.random.default_rng(6).standard_normal((4, 3))
    critic = mlp_critic("softplus")
    _, g = logits_and_input_gradients(critic, params, x)
    for i in range(4):
        alone = grad(lambda xi: critic(params, xi[None])[0])(x[i])
        np.testing.assert_allclose(g[i], alone, rtol=1e-13, atol=1e-15)  # same arithmetic


def test_linear_critic_gradient_is_its_weight():
    w, b = np.array([0.5, -2.0, 1.5]), 0.25
    x = np.random.default_rng(0).standard_normal((4, 3))
    v, g = logits_and_input_gradients(mlp, [(w[:, None], np.array([b]))], x)
    np.testing.assert_allclose(v, x @ w + b, rtol=1e-14)
    np.testing.assert_array_equal(g, np.tile(w, (4, 1)))


def test_squared_norms_sum_over_every_non_batch_axis():
    g = np.arange(2 * 2 * 3, dtype=np.float64).reshape(2, 2, 3)
    # sample 0: 0^2 + ... + 5^2 = 55; sample 1: 6^2 + ... + 11^2 = 451
    np.testing.assert_array_equal(squared_norms(g), [55.0, 451.0])
