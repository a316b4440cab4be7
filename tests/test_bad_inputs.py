"""Bad input is an early, clear error that names the argument; never a NaN or a broadcast.

Each case is (call, exception type, regular expression the message must match); the
expression names the argument at fault and says what was expected.
"""
import numpy as np
import pytest

import refgan
from refgan import (f_gan_critic_loss, f_gan_objective, gan_critic_loss,
                    gan_discriminator_loss, gan_generator_loss, get_divergence,
                    gradient_norms_squared, init_mlp, logits_and_input_gradients, mlp,
                    mlp_outputs, omega_f, omega_js, r1_penalty, r2_penalty)
from refgan import gaussians
from refgan.noise import laplacian, noise_expectation_gh, noise_expectation_mc

PARAMS = init_mlp((2, 3, 1), rng=0)
X = np.random.default_rng(1).standard_normal((4, 2))
V = np.array([0.5, -1.0, 2.0])


def with_value(x, index, value):
    x = x.copy()
    x[index] = value
    return x


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
        with pytest.raises(FloatingPointError, match=rf"Omega_f terms \({name}\)"):
            f_gan_critic_loss(name, mlp, params, X, X, 0.1)


def test_unknown_divergence_message_lists_every_valid_name():
    with pytest.raises(ValueError) as err:
        get_divergence("chi-cubed")
    assert all(name in str(err.value) for name in refgan.DIVERGENCES)
