"""The objectives the critic and the generator optimise, from logits, in stable form.

    f-GAN bound   F(P, Q; psi) = E_P[g_f(v)] - E_Q[f*(g_f(v))]           (critic maximises)
    standard GAN  F = E_P[log sigmoid(v)] + E_Q[log(1 - sigmoid(v))]     (= the 'gan' row)

Expectations are means over the samples given. All logs of sigmoids are softplus forms.
Logits of another real dtype (integers, float32) are cast to float64.
"""
import autograd.numpy as np

from . import checks
from .divergences import get_divergence, softplus


def _logits(name, v):
    v = checks.as_samples(name, v, min_ndim=1)
    if np.ndim(v) != 1:
        raise ValueError(f"{name}: expected logits of shape (n,), got {np.shape(v)}")
    return v


def f_gan_objective(divergence, v_real, v_fake):
    """F(P, Q; psi) = mean_P g_f(v) - mean_Q f*(g_f(v)), v_real (n,), v_fake (m,). A scalar;
    at the optimal critic it equals D_f(P||Q)."""
    div = get_divergence(divergence)
    v_real, v_fake = _logits("v_real", v_real), _logits("v_fake", v_fake)
    return np.mean(div.activation(v_real)) - np.mean(div.conjugate_of_activation(v_fake))


def gan_discriminator_loss(v_real, v_fake):
    """-F = -mean_P log D - mean_Q log(1 - D) = mean_P softplus(-v) + mean_Q softplus(v),
    with D = sigmoid(v). Equals -f_gan_objective('gan', ...)."""
    v_real, v_fake = _logits("v_real", v_real), _logits("v_fake", v_fake)
    return np.mean(softplus(-v_real)) + np.mean(softplus(v_fake))


def gan_generator_loss(v_fake, saturating=True):
    """The generator's loss on its samples' logits (m,):
    saturating (minimax)  mean_Q log(1 - D) = -mean softplus(v)
    non-saturating        -mean_Q log D     =  mean softplus(-v).
    saturating must be True or False."""
    v_fake = _logits("v_fake", v_fake)
    if checks.boolean("saturating", saturating):
        return -np.mean(softplus(v_fake))
    return np.mean(softplus(-v_fake))


def f_gan_generator_loss(divergence, v_fake):
    """The f-GAN generator minimises the bound's fake term: -mean_Q f*(g_f(v))."""
    div = get_divergence(divergence)
    return -np.mean(div.conjugate_of_activation(_logits("v_fake", v_fake)))
