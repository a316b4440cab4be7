"""The f-GAN bound and the standard GAN losses, against hand calculations.

D = sigmoid(v). Hand values use logits whose sigmoids are simple fractions:
sigmoid(0) = 1/2, sigmoid(log 3) = 3/4, sigmoid(-log 3) = 1/4.
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refgan import (DIVERGENCES, f_gan_generator_loss, f_gan_objective, gan_discriminator_loss,
                    gan_generator_loss)

LOG3 = math.log(3.0)
LOG2 = math.log(2.0)
logits = st.lists(st.floats(-30.0, 30.0), min_size=1, max_size=8).map(np.array)

# REFERENCE section 4, naive forms (fine at moderate v): name -> (f(u), g_f(v), f*(g_f(v))).
TABLE = {
    "kl": (lambda u: u * np.log(u), lambda v: v, lambda v: np.exp(v - 1.0)),
    "reverse_kl": (lambda u: -np.log(u), lambda v: -np.exp(-v), lambda v: v - 1.0),
    "pearson": (lambda u: (u - 1.0) ** 2, lambda v: v, lambda v: v ** 2 / 4.0 + v),
    "neyman": (lambda u: (1.0 - u) ** 2 / u, lambda v: 1.0 - np.exp(-v),
               lambda v: 2.0 - 2.0 * np.exp(-v / 2.0)),
    "hellinger": (lambda u: (np.sqrt(u) - 1.0) ** 2, lambda v: 1.0 - np.exp(-v),
                  lambda v: np.exp(v) - 1.0),
    "js": (lambda u: u * np.log(u) - (u + 1.0) * np.log((1.0 + u) / 2.0),
           lambda v: LOG2 - np.log1p(np.exp(-v)), lambda v: np.log1p(np.exp(v)) - LOG2),
    "gan": (lambda u: u * np.log(u) - (u + 1.0) * np.log(u + 1.0),
            lambda v: -np.log1p(np.exp(-v)), lambda v: np.log1p(np.exp(v))),
    "tv": (lambda u: np.abs(u - 1.0) / 2.0, lambda v: np.tanh(v) / 2.0,
           lambda v: np.tanh(v) / 2.0),
}


def test_table_covers_every_row():
    assert set(TABLE) == set(DIVERGENCES)


@given(logits, logits)
def test_gan_discriminator_loss_is_minus_the_gan_bound(v_real, v_fake):
    # rtol 1e-13: the same softplus terms, summed in a different order.
    assert gan_discriminator_loss(v_real, v_fake) == pytest.approx(
        -f_gan_objective("gan", v_real, v_fake), rel=1e-13, abs=1e-15)


def test_gan_discriminator_loss_by_hand():
    # -mean_P log D - mean_Q log(1 - D)
    # = -(log 1/2 + log 3/4)/2 - (log 1/2 + log 3/4)/2 = log 2 + log 4/3 = log 8/3
    loss = gan_discriminator_loss(np.array([0.0, LOG3]), np.array([0.0, -LOG3]))
    assert loss == pytest.approx(math.log(8.0 / 3.0), rel=1e-14)


def test_gan_discriminator_loss_weights_each_set_by_its_own_size():
    # 1 real, 3 fakes: -log 3/4 - (log 3/4 + log 1/2 + log 1/2)/3
    loss = gan_discriminator_loss(np.array([LOG3]), np.array([-LOG3, 0.0, 0.0]))
    expected = -math.log(0.75) - (math.log(0.75) + 2.0 * math.log(0.5)) / 3.0
    assert loss == pytest.approx(expected, rel=1e-14)


def test_gan_discriminator_loss_at_huge_logits():
    # Confident and right costs 0; confident and wrong costs |v|:
    # real: softplus(-1000) = 0, softplus(1000) = 1000 -> mean 500; fake: the same -> 500.
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow is fine
        loss = gan_discriminator_loss(np.array([1000.0, -1000.0]), np.array([-1000.0, 1000.0]))
    assert loss == 1000.0
    assert gan_discriminator_loss(np.array([1000.0]), np.array([-1000.0])) == 0.0


def test_gan_generator_losses_by_hand():
    v = np.array([0.0, LOG3])  # D = 1/2, 3/4
    # saturating (minimax): mean log(1 - D) = (log 1/2 + log 1/4) / 2
    assert gan_generator_loss(v, saturating=True) == pytest.approx(
        (math.log(0.5) + math.log(0.25)) / 2.0, rel=1e-14)
    # non-saturating: -mean log D = -(log 1/2 + log 3/4) / 2
    assert gan_generator_loss(v, saturating=False) == pytest.approx(
        -(math.log(0.5) + math.log(0.75)) / 2.0, rel=1e-14)


def test_gan_generator_losses_at_huge_logits():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        # D = sigmoid(1000) = 1: log(1 - D) = -1000 exactly (softplus form), not log 0.
        assert gan_generator_loss(np.array([1000.0]), saturating=True) == -1000.0
        # D = sigmoid(-1000): -log D = 1000.
        assert gan_generator_loss(np.array([-1000.0]), saturating=False) == 1000.0
        assert gan_generator_loss(np.array([-1000.0]), saturating=True) == 0.0


@pytest.mark.parametrize("name", list(DIVERGENCES))
def test_f_gan_objective_by_the_table(name):
    _, g, fstar_g = TABLE[name]
    v_real, v_fake = np.array([0.5, -1.0, 2.0]), np.array([1.0, -0.3])  # sizes differ
    expected = np.mean(g(v_real)) - np.mean(fstar_g(v_fake))
    assert f_gan_objective(name, v_real, v_fake) == pytest.approx(expected, rel=1e-12)
    assert f_gan_generator_loss(name, v_fake) == pytest.approx(-np.mean(fstar_g(v_fake)),
                                                               rel=1e-12)


@pytest.mark.parametrize("name", list(DIVERGENCES))
def test_f_gan_objective_at_the_optimal_logit_is_the_divergence(name):
    """Fenchel equality on a two-point space: with P = (3/4, 1/4) and Q = (1/4, 3/4) as sample
    multisets, F(P, Q; g_f(v*)) = D_f(P||Q) = sum_x q(x) f(p(x)/q(x)) exactly."""
    f = TABLE[name][0]
    p, q = np.array([0.75, 0.25]), np.array([0.25, 0.75])
    real = np.array([0, 0, 0, 1])  # sample points drawn from P: point 0 three times
    fake = np.array([0, 1, 1, 1])
    log_ratio = np.log(p) - np.log(q)
    div = DIVERGENCES[name]
    # tv's optimal logit is +-inf (g_f = tanh / 2 saturates); tanh(40) / 2 = 1/2 in float64.
    v_star = np.clip(div.optimal_logit(log_ratio), -40.0, 40.0)
    expected = np.sum(q * f(p / q))
    assert f_gan_objective(name, v_star[real], v_star[fake]) == pytest.approx(expected, rel=1e-12)
    if name == "gan":
        # D_GAN = 2 JS - log 4, with D_JS here the unscaled 2 JS
        assert expected == pytest.approx(np.sum(q * TABLE["js"][0](p / q)) - math.log(4.0))
