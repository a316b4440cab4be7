"""The explicit input gradient (refgan.fused) against the nested-autograd reference.

The reference is refgan.mlp with grad_x v taken by autograd (refgan.nets), a different
algorithm from the backward pass written out in refgan.fused. On hypothesis-drawn networks
(depth, widths, activation, input shape incl. (n, 2, 4, 4)) both paths must agree to relative
1e-10 on v, g, every penalty, both regularised critic losses and their parameter gradients.
Two exact algorithms differ by rounding, ~1e-15 relative; a wrong act', a factor of 2, a
missing layer or a dropped second-order term is an O(1) relative difference (the mutation
test below shows such a fault is caught at this tolerance).
"""
import math

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from autograd.misc import flatten
from hypothesis import example, given, settings
from hypothesis import strategies as st

from refgan import (DIVERGENCES, explicit_mlp, f_gan_critic_loss_and_grad, gan_critic_loss,
                    gan_critic_loss_and_grad, logits_and_input_gradients, mlp, mlp_outputs,
                    mlp_logits_and_input_gradients, omega_f, omega_f_terms, omega_js, r1_penalty,
                    r2_penalty)
from refgan.fused import mlp_outputs as fused_mlp_outputs
from refgan.fused import tanh as fused_tanh
from refgan.objectives import f_gan_objective, gan_discriminator_loss

ACTS = ["tanh", "softplus", "relu", "linear"]
RTOL = 1e-10  # the bar: 1e5 times rounding, 1e-10 times an O(1) fault


def reference_critic(activation):
    """refgan.mlp as a plain function: no attribute, so the nested-autograd path is used."""
    return lambda params, x: mlp(params, x, activation)


def leaves(tree):
    """The arrays of a loss value, a gradient [(dW, db), ...] or a (loss, gradient) pair."""
    if isinstance(tree, (list, tuple)):
        return [leaf for item in tree for leaf in leaves(item)]
    return [np.asarray(tree, dtype=np.float64)]


def assert_close(actual, expected, what):
    """Relative 1e-10 for each array (the loss, each dW, each db) against its own largest
    entry, so that a small layer's gradient is not hidden behind a large one's. Arrays whose
    entries are all below 1e-12 of the largest of all (e.g. dead relu units) are compared on
    that scale: there the difference is rounding of zero, not a value."""
    actual, expected = leaves(actual), leaves(expected)
    assert len(actual) == len(expected), what
    overall = max(np.max(np.abs(e), initial=0.0) for e in expected)
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert a.shape == e.shape, f"{what}, array {i}: shape {a.shape} != {e.shape}"
        scale = max(np.max(np.abs(e), initial=0.0), 1e-12 * overall, 1e-300)
        err = np.max(np.abs(a - e), initial=0.0) / scale
        assert err <= RTOL, f"{what}, array {i}: relative difference {err:.2e}"


def random_network(seed, d_in, widths):
    """Weights ~ N(0, 1/fan_in) scaled by 1.5 and biases ~ N(0, 0.5^2): pre-activations of
    order 1, so tanh and softplus are curved and relu has units on both sides of 0."""
    rng = np.random.default_rng(seed)
    sizes = [d_in, *widths, 1]
    return [(1.5 * rng.standard_normal((a, b)) / np.sqrt(a), 0.5 * rng.standard_normal(b))
            for a, b in zip(sizes[:-1], sizes[1:])]


networks = st.fixed_dictionaries({
    "seed": st.integers(0, 2 ** 31),
    "widths": st.lists(st.integers(1, 6), min_size=0, max_size=3),
    "activation": st.sampled_from(ACTS),
    "sample_shape": st.sampled_from([(1,), (2,), (3,), (4,), (3, 2), (2, 4, 4)]),
    "n": st.integers(1, 5),
    "m": st.integers(1, 5),
})


def draw(net):
    params = random_network(net["seed"], int(np.prod(net["sample_shape"])), net["widths"])
    rng = np.random.default_rng(net["seed"] + 1)
    x_real = rng.standard_normal((net["n"], *net["sample_shape"]))
    x_fake = 1.3 * rng.standard_normal((net["m"], *net["sample_shape"])) + 0.2
    return params, x_real, x_fake


@settings(max_examples=40)
@given(net=networks)
@example(net={"seed": 1, "widths": [5, 4], "activation": "softplus", "sample_shape": (2, 4, 4),
              "n": 3, "m": 2})
@example(net={"seed": 2, "widths": [6, 6, 6], "activation": "tanh", "sample_shape": (3,),
              "n": 4, "m": 5})
def test_logits_and_input_gradients_equal_the_reference(net):
    params, x, _ = draw(net)
    v_ref, g_ref = logits_and_input_gradients(reference_critic(net["activation"]), params, x)
    v, g = mlp_logits_and_input_gradients(params, x, net["activation"])
    assert g.shape == x.shape
    assert_close(v, v_ref, "v")
    assert_close(g, g_ref, "g")
    critic = explicit_mlp(net["activation"])
    assert_close(critic(params, x), v_ref, "explicit_mlp(params, x)")
    v2, g2 = logits_and_input_gradients(critic, params, x)  # the dispatch in refgan.nets
    assert_close(v2, v_ref, "v via nets")
    assert_close(g2, g_ref, "g via nets")


@settings(max_examples=40)
@given(net=networks, gamma=st.sampled_from([0.0, 0.1, 1.7]))
@example(net={"seed": 1, "widths": [5, 4], "activation": "softplus", "sample_shape": (2, 4, 4),
              "n": 3, "m": 2}, gamma=0.1)
@example(net={"seed": 2, "widths": [6, 6, 6], "activation": "tanh", "sample_shape": (3,),
              "n": 4, "m": 5}, gamma=1.7)
def test_penalties_losses_and_parameter_gradients_equal_the_reference(net, gamma):
    params, x_real, x_fake = draw(net)
    ref, fast = reference_critic(net["activation"]), explicit_mlp(net["activation"])
    for name, fn in {
        "omega_js": lambda c, p: omega_js(c, p, x_real, x_fake),
        "r1": lambda c, p: r1_penalty(c, p, x_real),
        "r2": lambda c, p: r2_penalty(c, p, x_fake),
    }.items():
        assert_close(fn(fast, params), fn(ref, params), name)
        assert_close(grad(lambda p: fn(fast, p))(params), grad(lambda p: fn(ref, p))(params),
                     f"d {name} / d params")
    assert_close(gan_critic_loss_and_grad(fast, params, x_real, x_fake, gamma),
                 gan_critic_loss_and_grad(ref, params, x_real, x_fake, gamma),
                 "gan_critic_loss and its gradient")
    for div in DIVERGENCES:
        if div == "tv":  # Omega_tv is identically 0: nothing to compare relatively
            continue
        assert_close(omega_f_terms(div, fast, params, x_fake),
                     omega_f_terms(div, ref, params, x_fake), f"Omega_{div} per row")
        assert_close(f_gan_critic_loss_and_grad(div, fast, params, x_real, x_fake, gamma),
                     f_gan_critic_loss_and_grad(div, ref, params, x_real, x_fake, gamma),
                     f"f_gan_critic_loss({div}) and its gradient")


@settings(max_examples=20)
@given(net=networks, d_out=st.integers(1, 3))
def test_generator_outputs_and_their_gradient_equal_the_reference(net, d_out):
    """fused.mlp_outputs (a generator) has the same values as refgan.mlp_outputs, bit for bit
    (the same operations), and the same gradient of a loss through a critic to 1e-10."""
    params, z, _ = draw(net)
    fan_in = params[-1][0].shape[0]  # widen the last layer from 1 to d_out outputs
    params[-1] = (np.random.default_rng(net["seed"]).standard_normal((fan_in, d_out)),
                  np.full(d_out, 0.3))
    act = net["activation"]
    np.testing.assert_array_equal(fused_mlp_outputs(params, z, act), mlp_outputs(params, z, act))
    weights = np.linspace(-1.0, 2.0, d_out)

    def loss(outputs):
        return lambda p: anp.sum(anp.tanh(outputs(p, z, act)) * weights)
    assert_close(grad(loss(fused_mlp_outputs))(params), grad(loss(mlp_outputs))(params),
                 "d loss / d generator params")


def test_total_variation_penalty_is_zero_on_both_paths():
    params, _, x_fake = draw({"seed": 3, "widths": [4], "activation": "tanh",
                              "sample_shape": (2,), "n": 3, "m": 3})
    assert omega_f("tv", explicit_mlp("tanh"), params, x_fake) == 0.0
    assert omega_f("tv", reference_critic("tanh"), params, x_fake) == 0.0


def test_a_wrong_activation_derivative_is_caught_at_this_tolerance(monkeypatch):
    """Mutation: tanh' = 1 - h (a plausible slip) must fail the same comparison."""
    import refgan.fused as fused
    act, _ = fused.PAIRS["tanh"]
    monkeypatch.setitem(fused.PAIRS, "tanh", (act, lambda a, h: 1.0 - h))
    params, x, _ = draw({"seed": 5, "widths": [4, 3], "activation": "tanh",
                         "sample_shape": (3,), "n": 4, "m": 1})
    _, g_ref = logits_and_input_gradients(reference_critic("tanh"), params, x)
    _, g = fused.mlp_logits_and_input_gradients(params, x, "tanh")
    with pytest.raises(AssertionError, match="relative difference"):
        assert_close(g, g_ref, "g")


def test_input_gradient_matches_central_differences():
    """A second, independent reference: central differences of refgan.mlp in each input
    coordinate (h = 1e-5: error ~ h^2 |v'''| ~ 1e-10 plus rounding 1e-16/h ~ 1e-11; the
    tolerance 1e-8 is far below the O(1) size of g)."""
    params, x, _ = draw({"seed": 11, "widths": [5, 4], "activation": "softplus",
                         "sample_shape": (2, 4, 4), "n": 3, "m": 1})
    _, g = mlp_logits_and_input_gradients(params, x, "softplus")
    h, fd = 1e-5, np.zeros_like(x)
    for idx in np.ndindex(*x.shape[1:]):
        e = np.zeros_like(x)
        e[(slice(None), *idx)] = h
        fd[(slice(None), *idx)] = (mlp(params, x + e, "softplus")
                                   - mlp(params, x - e, "softplus")) / (2 * h)
    assert np.max(np.abs(fd)) > 0.1  # the comparison is not between zeros
    np.testing.assert_allclose(g, fd, rtol=0, atol=1e-8)


def test_relu_ties_follow_the_reference_convention():
    """At a pre-activation of exactly 0, autograd's maximum(a, 0) gives relu' = 1/2; the
    explicit path uses the same value, so both agree even at a tie. Hand calculation: one
    hidden unit, W1 = [[2]], b1 = 0, W2 = [[3]], x = 0: g = 3 * (1/2) * 2 = 3."""
    params = [(np.array([[2.0]]), np.array([0.0])), (np.array([[3.0]]), np.array([0.0]))]
    x = np.zeros((1, 1))
    _, g_ref = logits_and_input_gradients(reference_critic("relu"), params, x)
    _, g = mlp_logits_and_input_gradients(params, x, "relu")
    np.testing.assert_array_equal(g_ref, [[3.0]])
    np.testing.assert_array_equal(g, [[3.0]])


def test_fused_tanh_gradient_is_sech_squared():
    """d tanh(a)/da = 1/cosh(a)^2, written independently; absolute 1e-15 because 1 - tanh^2
    loses relative accuracy where sech^2 is below rounding of 1 (|a| > 18), not absolute."""
    a = np.array([-800.0, -20.0, -3.0, -0.5, 0.0, 1e-9, 0.7, 4.0, 25.0, 1000.0])
    d = np.array([grad(lambda t: fused_tanh(t))(t) for t in a])
    with np.errstate(over="ignore"):
        expected = 1.0 / np.cosh(a) ** 2
    np.testing.assert_allclose(d, expected, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(fused_tanh(a), np.tanh(a))


def test_loss_with_one_critic_evaluation_equals_the_two_term_formula():
    """gan_critic_loss takes the logits from the penalty's pass; it must equal the loss
    written term by term, -F from critic(x) plus (gamma/2) Omega_JS, and so must its gradient
    (relative 1e-12: the same operations in a different order)."""
    params, x_real, x_fake = draw({"seed": 7, "widths": [5, 3], "activation": "tanh",
                                   "sample_shape": (3,), "n": 4, "m": 5})
    gamma = 0.3
    for c in (reference_critic("tanh"), explicit_mlp("tanh")):
        def two_terms(p):
            return (gan_discriminator_loss(mlp(p, x_real), mlp(p, x_fake))
                    + gamma / 2 * omega_js(c, p, x_real, x_fake))

        def f_two_terms(p):
            return (-f_gan_objective("kl", mlp(p, x_real), mlp(p, x_fake))
                    + gamma / 2 * omega_f("kl", c, p, x_fake))
        np.testing.assert_allclose(gan_critic_loss(c, params, x_real, x_fake, gamma),
                                   two_terms(params), rtol=1e-12)
        np.testing.assert_allclose(flatten(gan_critic_loss_and_grad(c, params, x_real, x_fake,
                                                                    gamma)[1])[0],
                                   flatten(grad(two_terms)(params))[0], rtol=1e-12)
        np.testing.assert_allclose(flatten(f_gan_critic_loss_and_grad(
            "kl", c, params, x_real, x_fake, gamma))[0],
            flatten((f_two_terms(params), grad(f_two_terms)(params)))[0], rtol=1e-12)


# ------------------------------------------------------------ the interface and bad input

def test_nets_uses_the_critics_own_input_gradient_and_checks_its_shapes():
    x = np.ones((3, 2))
    marker = np.full((3, 2), 7.0)

    def critic(params, x):
        return anp.sum(x, axis=1)
    critic.logits_and_input_gradients = lambda params, x: (anp.sum(x, axis=1), marker)
    assert logits_and_input_gradients(critic, None, x)[1] is marker  # dispatched, not recomputed

    critic.logits_and_input_gradients = lambda params, x: (anp.sum(x, axis=1)[:, None], marker)
    with pytest.raises(ValueError, match=r"expected shape \(3,\).*squeeze"):
        logits_and_input_gradients(critic, None, x)
    critic.logits_and_input_gradients = lambda params, x: (anp.sum(x, axis=1), marker[:, :1])
    with pytest.raises(ValueError, match=r"\[1\]: expected the shape of x \(3, 2\)"):
        logits_and_input_gradients(critic, None, x)


def test_bad_input_is_an_early_named_error():
    params = random_network(0, 3, [4])
    with pytest.raises(ValueError, match="activation: unknown 'selu'"):
        explicit_mlp("selu")
    with pytest.raises(ValueError, match="activation: unknown"):
        mlp_logits_and_input_gradients(params, np.ones((2, 3)), "sigmoid")
    with pytest.raises(ValueError, match="x: contains 1 NaN"):
        mlp_logits_and_input_gradients(params, np.array([[0.0, np.nan, 1.0]]))
    with pytest.raises(ValueError, match=r"params\[0\]: expected W of shape \(2, k\)"):
        mlp_logits_and_input_gradients(params, np.ones((2, 2)))
    two_outputs = random_network(0, 3, [4])[:-1] + [(np.ones((4, 2)), np.zeros(2))]
    with pytest.raises(ValueError, match="last layer needs 1 output, got 2"):
        explicit_mlp("tanh")(two_outputs, np.ones((2, 3)))


def test_softplus_input_gradient_in_the_negative_tail_by_hand():
    """x = 0 -> a = x - 40 -> softplus(a) -> v: dv/dx = softplus'(-40) = sigma(-40) =
    e^-40 / (1 + e^-40) = 4.2483542553e-18 by hand, on both paths (a sigmoid that cancels
    in its negative tail gives 0 on the explicit path). rel 1e-14: a few ulps."""
    params = [(np.array([[1.0]]), np.array([-40.0])), (np.array([[1.0]]), np.array([0.0]))]
    hand = math.exp(-40.0) / (1.0 + math.exp(-40.0))
    x = np.zeros((1, 1))
    for critic in (explicit_mlp("softplus"), reference_critic("softplus")):
        g = logits_and_input_gradients(critic, params, x)[1]
        assert float(g[0, 0]) == pytest.approx(hand, rel=1e-14, abs=0.0), critic
