"""Bad input is an early, clear error that names the argument; never a NaN or a broadcast.

Each case is (call, exception type, regular expression the message must match); the
expression names the argument at fault and says what was expected.
"""
import numpy as np
import pytest

import refgan
from refgan import (explicit_mlp, f_gan_critic_loss, f_gan_objective, gan_critic_loss,
                    gan_discriminator_loss, gan_generator_loss, get_divergence,
                    gradient_norms_squared, init_mlp, logits_and_input_gradients, mlp,
                    mlp_outputs, omega_f, omega_js, r1_penalty, r2_penalty)
from refgan import gaussians
from refgan.noise import (laplacian, noise_expectation_gh, noise_expectation_mc,
                          noised_f_gan_objective)

PARAMS = init_mlp((2, 3, 1), rng=0)
X = np.random.default_rng(1).standard_normal((4, 2))
V = np.array([0.5, -1.0, 2.0])


def with_value(x, index, value):
    x = x.copy()
    x[index] = value
    return x


def with_param(params, layer, which, index, value):
    """A copy of params with one entry of params[layer][which] (0: W, 1: b) replaced."""
    params = [(W.copy(), b.copy()) for W, b in params]
    params[layer][which][index] = value
    return params


def critic_n_by_1(params, x):
    return mlp_outputs(params, x)  # (n, 1): would broadcast against (n,) into (n, n)


CASES = {
    # wrong shapes
    "1-d real samples": (lambda: omega_js(mlp, PARAMS, X[:, 0], X), ValueError,
                         r"x_real: expected an array of shape \(n, d\)"),
    "1-d fake samples": (lambda: omega_f("kl", mlp, PARAMS, X[:, 0]), ValueError,
                         r"x_fake: expected an array of shape \(n, d\)"),
    "1-d samples for R1": (lambda: r1_penalty(mlp, PARAMS, X[:, 0]), ValueError, r"x: expected"),
    "1-d samples for the loss": (lambda: gan_critic_loss(mlp, PARAMS, X, X[:, 0], 0.1),
                                 ValueError, r"x_fake: expected an array"),
    "feature shapes differ": (
        lambda: omega_js(mlp, PARAMS, X, np.ones((4, 3))), ValueError,
        r"x_real has samples of shape \(2,\) but x_fake has \(3,\)"),
    "feature shapes differ in the f-GAN loss": (
        lambda: f_gan_critic_loss("js", mlp, PARAMS, X, np.ones((2, 1, 2)), 0.1), ValueError,
        r"x_real has samples of shape \(2,\) but x_fake has \(1, 2\)"),
    "critic returns (n, 1)": (lambda: omega_js(critic_n_by_1, PARAMS, X, X), ValueError,
                              r"critic\(params, x\): expected shape \(4,\).*got \(4, 1\)"),
    "critic returns (n, 1) to R2": (lambda: r2_penalty(critic_n_by_1, PARAMS, X), ValueError,
                                    r"critic\(params, x\).*squeeze"),
    "critic returns (n, 1) to gradients": (
        lambda: logits_and_input_gradients(critic_n_by_1, PARAMS, X), ValueError,
        r"critic\(params, x\): expected shape \(4,\)"),
    "logits of shape (n, 1)": (lambda: gan_discriminator_loss(V[:, None], V), ValueError,
                               r"v_real: expected logits of shape \(n,\)"),
    "fake logits of shape (n, 1)": (lambda: f_gan_objective("kl", V, V[:, None]), ValueError,
                                    r"v_fake: expected logits of shape \(n,\)"),
    "scalar logits": (lambda: gan_generator_loss(np.float64(0.3)), ValueError, r"v_fake"),
    "params do not chain to the input": (lambda: mlp(PARAMS, np.ones((4, 3))), ValueError,
                                         r"params\[0\]: expected W of shape \(3, k\)"),
    "params not a list of pairs": (lambda: mlp([np.ones((2, 1))], X), TypeError,
                                   r"params\[0\]: expected a \(W, b\) pair"),
    "critic with several outputs": (lambda: mlp(init_mlp((2, 3, 2), rng=0), X), ValueError,
                                    r"params: a critic's last layer needs 1 output"),
    # NaN / inf samples and logits
    "NaN real sample": (lambda: omega_js(mlp, PARAMS, with_value(X, (1, 0), np.nan), X),
                        ValueError, r"x_real: contains 1 NaN or infinite"),
    "inf fake sample": (lambda: gan_critic_loss(mlp, PARAMS, X, with_value(X, (0, 1), np.inf),
                                                0.1), ValueError, r"x_fake: contains 1 NaN"),
    "NaN sample for R1": (lambda: r1_penalty(mlp, PARAMS, with_value(X, (2, 1), np.nan)),
                          ValueError, r"x: contains 1 NaN"),
    "NaN logit": (lambda: gan_discriminator_loss(with_value(V, 0, np.nan), V), ValueError,
                  r"v_real: contains 1 NaN"),
    "inf logit": (lambda: f_gan_objective("gan", V, with_value(V, 2, -np.inf)), ValueError,
                  r"v_fake: contains 1 NaN or infinite"),
    "complex samples": (lambda: r2_penalty(mlp, PARAMS, X + 0j), TypeError,
                        r"x: expected real numbers"),
    # gamma, variances
    "gamma < 0": (lambda: gan_critic_loss(mlp, PARAMS, X, X, -0.1), ValueError,
                  r"gamma: expected a finite number >= 0, got -0.1"),
    "gamma < 0 in the f-GAN loss": (lambda: f_gan_critic_loss("kl", mlp, PARAMS, X, X, -1e-9),
                                    ValueError, r"gamma: expected a finite number >= 0"),
    "gamma NaN": (lambda: gan_critic_loss(mlp, PARAMS, X, X, np.nan), ValueError,
                  r"gamma: expected a finite number >= 0, got nan"),
    "gamma not a number": (lambda: gan_critic_loss(mlp, PARAMS, X, X, "0.1x"), TypeError,
                           r"gamma: expected a real number"),
    "gamma < 0 for Monte Carlo noise": (
        lambda: noise_expectation_mc(lambda x: x[:, 0], X, -0.5), ValueError, r"gamma"),
    "gamma < 0 for quadrature": (lambda: noise_expectation_gh(lambda x: x[:, 0], X, -0.5),
                                 ValueError, r"gamma"),
    "negative variance": (lambda: gaussians.kl_divergence([0.0], -1.0, [0.0], 1.0), ValueError,
                          r"P variance: expected a finite number >= 0"),
    "negative noise variance": (lambda: gaussians.squared_hellinger([0.0], 1.0, [1.0], 1.0,
                                                                    gamma=-0.2),
                                ValueError, r"gamma: expected a finite number >= 0"),
    "negative init scale": (lambda: init_mlp((2, 3, 1), rng=0, scale=-0.1), ValueError,
                            r"scale: expected a finite number >= 0"),
    # unknown names
    "unknown divergence": (lambda: omega_f("wasserstein", mlp, PARAMS, X), ValueError,
                           r"unknown divergence 'wasserstein'; valid names: kl, reverse_kl"),
    "unknown divergence in the loss": (
        lambda: f_gan_critic_loss("chi", mlp, PARAMS, X, X, 0.1), ValueError,
        r"unknown divergence 'chi'; valid names: .*hellinger"),
    "unknown activation": (lambda: mlp(PARAMS, X, activation="sigmoid"), ValueError,
                           r"activation: unknown 'sigmoid'; valid: tanh"),
    "unknown init": (lambda: init_mlp((2, 3, 1), rng=0, init="he"), ValueError,
                     r"init: unknown 'he'; valid: truncated_normal"),
    "sizes too short": (lambda: init_mlp((2,), rng=0), ValueError, r"sizes: need at least"),
    "size zero": (lambda: init_mlp((2, 0, 1), rng=0), ValueError,
                  r"sizes\[1\]: expected a positive integer"),
    # empty batches
    "empty real batch": (lambda: omega_js(mlp, PARAMS, np.zeros((0, 2)), X), ValueError,
                         r"x_real: the batch is empty"),
    "empty fake batch": (lambda: f_gan_critic_loss("kl", mlp, PARAMS, X, np.zeros((0, 2)), 0.1),
                         ValueError, r"x_fake: the batch is empty"),
    "empty batch for gradients": (lambda: gradient_norms_squared(mlp, PARAMS, np.zeros((0, 2))),
                                  ValueError, r"x: the batch is empty"),
    "empty logits": (lambda: gan_discriminator_loss(V, np.array([])), ValueError,
                     r"v_fake: the batch is empty"),
    "empty batch for the Laplacian": (lambda: laplacian(lambda x: x[:, 0], np.zeros((0, 2))),
                                      ValueError, r"x: the batch is empty"),
    # gamma is a real number: a string, a bool or an array is not one
    "gamma a numeric string": (lambda: gan_critic_loss(mlp, PARAMS, X, X, "0.1"), TypeError,
                               r"gamma: expected a real number, got '0.1'"),
    "gamma a bool": (lambda: gan_critic_loss(mlp, PARAMS, X, X, True), TypeError,
                     r"gamma: expected a real number, got True"),
    "gamma a bool in the f-GAN loss": (
        lambda: f_gan_critic_loss("kl", mlp, PARAMS, X, X, False), TypeError,
        r"gamma: expected a real number, got False"),
    "gamma an array of two": (lambda: gan_critic_loss(mlp, PARAMS, X, X, np.array([0.1, 0.2])),
                              TypeError, r"gamma: expected a real number"),
    "gamma a string for Monte Carlo noise": (
        lambda: noise_expectation_mc(lambda x: x[:, 0], X, "0.1"), TypeError,
        r"gamma: expected a real number"),
    "gamma a bool for the noised objective": (
        lambda: noised_f_gan_objective("kl", mlp, PARAMS, X, X, True), TypeError,
        r"gamma: expected a real number"),
    # parameters: finite real arrays
    "NaN parameter for Omega_JS": (
        lambda: omega_js(mlp, with_param(PARAMS, 0, 0, (1, 2), np.nan), X, X), ValueError,
        r"params\[0\]\[0\]: contains 1 NaN or infinite"),
    "inf bias in the critic": (lambda: mlp(with_param(PARAMS, 1, 1, 0, np.inf), X), ValueError,
                               r"params\[1\]\[1\]: contains 1 NaN or infinite"),
    "NaN parameter of any critic": (
        lambda: logits_and_input_gradients(lambda p, x: x[:, 0] * p[0], [np.array(np.nan)], X),
        ValueError, r"params\[0\]: contains 1 NaN"),
    "NaN parameter to the fused critic": (
        lambda: explicit_mlp()(with_param(PARAMS, 0, 1, 2, np.nan), X), ValueError,
        r"params\[0\]\[1\]: contains 1 NaN"),
    "complex parameter": (lambda: mlp([(PARAMS[0][0] + 0j, PARAMS[0][1]), PARAMS[1]], X),
                          TypeError, r"params\[0\]\[0\]: expected real numbers"),
    "string parameter": (lambda: mlp([(PARAMS[0][0], np.array(["a", "b", "c"])), PARAMS[1]], X),
                         TypeError, r"params\[0\]\[1\]: expected real numbers"),
    # samples to the critic itself
    "1-d samples to the critic": (lambda: mlp(PARAMS, X[:, 0]), ValueError,
                                  r"x: expected an array of shape \(n, d\)"),
    "NaN sample to the critic": (lambda: mlp(PARAMS, with_value(X, (0, 0), np.nan)), ValueError,
                                 r"x: contains 1 NaN"),
    "noised objective with mismatched samples": (
        lambda: noised_f_gan_objective("kl", mlp, PARAMS, X, np.ones((4, 3)), 0.1), ValueError,
        r"x_real has samples of shape \(2,\) but x_fake has \(3,\)"),
    # seeds and flags
    "seed a string for init": (lambda: init_mlp([2, 1], "a"), TypeError,
                               r"rng: expected a numpy Generator or an integer seed, got 'a'"),
    "negative seed": (lambda: init_mlp([2, 1], -3), ValueError, r"rng: .*>= 0, got -3"),
    "seed a string for Monte Carlo noise": (
        lambda: noise_expectation_mc(lambda x: x[:, 0], X, 0.1, seed="x"), TypeError,
        r"seed: expected a numpy Generator or an integer seed, got 'x'"),
    "saturating a string": (lambda: gan_generator_loss(V, saturating="no"), TypeError,
                            r"saturating: expected True or False, got 'no'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_raises_a_clear_error(case):
    call, error, message = CASES[case]
    with pytest.raises(error, match=message):
        call()


def test_the_same_call_with_good_input_succeeds():
    # The cases above fail for the reason named, not because the call is broken anyway.
    assert np.isfinite(omega_js(mlp, PARAMS, X, X))
    assert np.isfinite(f_gan_critic_loss("js", mlp, PARAMS, X, X, 0.1))
    assert np.isfinite(gan_critic_loss(mlp, PARAMS, X, X, 0.0))
    assert np.isfinite(gan_discriminator_loss(V, V))
    assert np.isfinite(gaussians.kl_divergence([0.0], 1.0, [0.0], 2.0))
    assert mlp(PARAMS, X, activation="relu").shape == (4,)


def test_an_n_by_1_critic_never_becomes_an_n_by_n_penalty():
    """REFERENCE section 7.9: (n, 1) logits against (n,) norms would silently broadcast."""
    with pytest.raises(ValueError, match=r"\(squeeze the trailing axis\)"):
        omega_f("gan", critic_n_by_1, PARAMS, X)


@pytest.mark.parametrize("name", ["kl", "hellinger"])
def test_an_overflowing_penalty_is_an_error_not_a_nan(name):
    """A constant logit of 1000: w_f(1000) = e^999 (kl) or 2 e^1000 (hellinger) overflows and
    |grad v|^2 = 0, so the term would be inf * 0 = NaN."""
    params = [(np.zeros((2, 1)), np.array([1000.0]))]
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(FloatingPointError, match=rf"Omega_f terms \({name}\)"):
            omega_f(name, mlp, params, X)
        # in the loss, F = -f*(g(1000)) overflows first: the same error as at gamma = 0
        with pytest.raises(FloatingPointError, match=rf"critic loss \({name}\)"):
            f_gan_critic_loss(name, mlp, params, X, X, 0.1)


def test_an_overflowing_penalty_with_a_finite_objective_is_an_error_in_the_loss():
    """hellinger at v = 709.5: f*(g(v)) = e^v - 1 = 1.6e308 is finite, w(v) = 2 e^v is not."""
    params = [(np.zeros((2, 1)), np.array([709.5]))]
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(FloatingPointError, match=r"Omega_f terms \(hellinger\)"):
            f_gan_critic_loss("hellinger", mlp, params, X, X[:1], 0.1)  # one: the mean's sum


def test_unknown_divergence_message_lists_every_valid_name():
    with pytest.raises(ValueError) as err:
        get_divergence("chi-cubed")
    assert all(name in str(err.value) for name in refgan.DIVERGENCES)


# -- a non-finite loss or gradient is an error that names it ------------------------------

def last_bias(value):
    """The 2-3-1 network of the tests with its output bias set: v = ... + value."""
    return [PARAMS[0], (PARAMS[1][0], np.array([value]))]


@pytest.mark.parametrize("name", ["reverse_kl", "neyman", "hellinger"])
@pytest.mark.parametrize("gamma", [0.0, 0.1])
def test_a_logit_of_minus_1000_is_an_error_not_an_infinite_loss(name, gamma):
    """g_f(-1000) = -e^1000 (reverse_kl) or 1 - e^1000 (neyman, hellinger) is -inf, so F is
    -inf and the gradient inf - inf = NaN: raise, naming the loss and the divergence."""
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(FloatingPointError, match=rf"critic loss \({name}\): .*non-finite"):
            refgan.f_gan_critic_loss_and_grad(name, mlp, last_bias(-1000.0), X, X[:3], gamma)
        with pytest.raises(FloatingPointError, match=rf"critic loss \({name}\)"):
            f_gan_critic_loss(name, mlp, last_bias(-1000.0), X, X[:3], gamma)


def test_kl_at_plus_1000_raises_the_same_error_with_and_without_the_penalty():
    """f*(g(1000)) = e^999 overflows: the same FloatingPointError at gamma 0 and gamma > 0."""
    messages = []
    for gamma in (0.0, 0.1):
        with np.errstate(over="ignore", invalid="ignore"):
            with pytest.raises(FloatingPointError, match=r"critic loss \(kl\)") as err:
                f_gan_critic_loss("kl", mlp, last_bias(1000.0), X, X, gamma)
        messages.append(str(err.value))
    assert messages[0] == messages[1]


def test_an_overflowing_logit_is_an_error_in_the_gan_loss():
    """A weight of 1e308 on an input of about 10 overflows the logit to inf."""
    params = [(np.array([[1e308], [0.0]]), np.zeros(1))]
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(FloatingPointError, match=r"non-finite"):
            gan_critic_loss(mlp, params, 10.0 + X, X, 0.0)
        with pytest.raises(FloatingPointError, match=r"non-finite"):
            omega_js(mlp, params, 10.0 + X, X)


def test_a_finite_loss_with_an_overflowing_gradient_is_an_error():
    """Linear critic v = x + b, reverse_kl, one real point x = 10, b = -719: v = -709 and
    the loss e^709 + ... = 8.2e307 is finite, but dloss/dW = -x e^709 overflows to -inf."""
    params = [(np.array([[1.0]]), np.array([-719.0]))]
    x_real, x_fake = np.array([[10.0]]), np.array([[0.0]])
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.isfinite(f_gan_critic_loss("reverse_kl", mlp, params, x_real, x_fake, 0.0))
        with pytest.raises(FloatingPointError,
                           match=r"gradient of the critic loss \(reverse_kl\).*non-finite"):
            refgan.f_gan_critic_loss_and_grad("reverse_kl", mlp, params, x_real, x_fake, 0.0)


# -- float32, integer and nested-list inputs are computed in float64 ------------------------

LINEAR_W = np.array([[0.5], [-1.25]])  # exact in float32: the hand values below are exact


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_other_dtypes_are_cast_to_float64(dtype):
    """A linear critic v = x w + b has grad v = w, so Omega_pearson = |w|^2 / 2 and
    R1 = |w|^2, by hand: 0.90625 * (1, 2) for w = (0.5, -1.25), (2, 3) for integers. The
    results are float64 and exact (rel 1e-15); float32 arithmetic would not even be float64."""
    w = LINEAR_W if dtype == np.float32 else np.array([[2.0], [3.0]])
    params = [(w.astype(dtype), np.zeros(1, dtype))]
    x = X.astype(dtype)
    s = float(np.sum(w ** 2))
    omega = omega_f("pearson", mlp, params, x)
    r1 = r1_penalty(mlp, params, x)
    assert np.asarray(omega).dtype == np.float64 and np.asarray(r1).dtype == np.float64
    assert float(omega) == pytest.approx(0.5 * s, rel=1e-15)
    assert float(r1) == pytest.approx(s, rel=1e-15)
    assert mlp(params, x).dtype == np.float64


def test_float32_tanh_network_gives_the_float64_answer():
    """The same network in float32 and float64 (the float32 values are exact in float64): the
    results agree to rel 1e-14 and are float64. A float32 computation differs by ~1e-7."""
    p32 = [(W.astype(np.float32), b.astype(np.float32)) for W, b in init_mlp((2, 5, 1), rng=3)]
    p64 = [(W.astype(np.float64), b.astype(np.float64)) for W, b in p32]
    x32 = X.astype(np.float32)
    x64 = x32.astype(np.float64)
    for fn in (lambda p, x: omega_js(mlp, p, x, x[:2]),
               lambda p, x: logits_and_input_gradients(mlp, p, x)[1],
               lambda p, x: gan_critic_loss(explicit_mlp(), p, x, x[:3], 0.3)):
        got, want = fn(p32, x32), fn(p64, x64)
        assert np.asarray(got).dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)
    loss, grads = refgan.gan_critic_loss_and_grad(mlp, p32, x32, x32[:3], 0.3)
    loss64, grads64 = refgan.gan_critic_loss_and_grad(mlp, p64, x64, x64[:3], 0.3)
    assert loss == pytest.approx(loss64, rel=1e-14)
    for (dW, db), (dW64, db64) in zip(grads, grads64):
        assert dW.dtype == db.dtype == np.float64
        np.testing.assert_allclose(dW, dW64, rtol=1e-13, atol=1e-16)
        np.testing.assert_allclose(db, db64, rtol=1e-13, atol=1e-16)


def test_integer_and_nested_list_parameters_have_float64_gradients():
    """Integer arrays and nested lists of numbers are parameters like any other: the loss
    and gradient equal those of the same float64 arrays (exactly: the values are the same)."""
    p64 = [(np.array([[1.0, -2.0], [0.0, 3.0]]), np.array([1.0, 0.0])),
           (np.array([[2.0], [-1.0]]), np.array([0.0]))]
    as_int = [(W.astype(np.int64), b.astype(np.int64)) for W, b in p64]
    as_lists = [(W.tolist(), b.tolist()) for W, b in p64]
    want = refgan.gan_critic_loss_and_grad(mlp, p64, X, X[:2], 0.2)
    for params in (as_int, as_lists):
        for fn in (refgan.gan_critic_loss_and_grad,
                   lambda c, p, *a: refgan.f_gan_critic_loss_and_grad("js", c, p, *a)):
            loss, grads = fn(mlp, params, X, X[:2], 0.2)
            if fn is refgan.gan_critic_loss_and_grad:
                assert loss == want[0]
                for (dW, db), (dW64, db64) in zip(grads, want[1]):
                    np.testing.assert_array_equal(dW, dW64)
                    np.testing.assert_array_equal(db, db64)
            assert all(a.dtype == np.float64 for layer in grads for a in layer)
