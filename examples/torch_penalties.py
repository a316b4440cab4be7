"""Roth et al.'s Omega_JS and the R1 penalty for a PyTorch critic, written the way a PyTorch
user writes them: an nn.Sequential critic, double backprop, nothing from refgan.

This is the implementation that examples/verify_torch.py checks against refgan, both on the
committed conformance vectors and live with hypothesis. The critic maps x (n, ...) to logits
(n, 1); D = sigmoid(v). The critic minimises

    -E_P log D - E_Q log(1 - D) + (gamma / 2) * penalty,    gamma = the noise VARIANCE
    Omega_JS = mean_P (1 - D)^2 |grad_x v|^2 + mean_Q D^2 |grad_x v|^2
    R1       = mean_P |grad_x v|^2

with one squared norm per sample over every non-batch axis, of the gradient of the LOGIT v.
"""
import torch
import torch.nn.functional as F
from torch import nn


def make_critic(sizes, activation=nn.Tanh, dtype=torch.float64):
    """An MLP critic nn.Sequential(Flatten, Linear, act, ..., Linear) for layer sizes
    (d_in, h1, ..., 1); inputs with several axes per sample are flattened row-major."""
    layers = [nn.Flatten()]
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i > 0:
            layers.append(activation())
        layers.append(nn.Linear(fan_in, fan_out, dtype=dtype))
    return nn.Sequential(*layers)


def logits_and_input_gradients(critic, x):
    """v (n,) and grad_x v per sample (shape of x). create_graph=True keeps the graph through
    the gradient, so a penalty built from it can be differentiated w.r.t. the weights."""
    x = x.detach().requires_grad_(True)
    v = critic(x).squeeze(1)  # (n, 1) -> (n,): an (n, 1) weight would broadcast to (n, n)
    (g,) = torch.autograd.grad(v.sum(), x, create_graph=True)
    return v, g


def squared_norms(g):
    """|g_i|^2 over all non-batch axes: (n,). No sqrt, so no NaN gradient at g_i = 0."""
    return g.flatten(1).pow(2).sum(1)


def omega_js(v_real, g_real, v_fake, g_fake):
    """mean_P (1 - D)^2 |g|^2 + mean_Q D^2 |g|^2, with 1 - sigmoid(v) = sigmoid(-v)."""
    return ((torch.sigmoid(-v_real) ** 2 * squared_norms(g_real)).mean()
            + (torch.sigmoid(v_fake) ** 2 * squared_norms(g_fake)).mean())


def r1(v_real, g_real, v_fake, g_fake):
    """mean_P |grad_x v|^2 (the fake batch does not enter)."""
    return squared_norms(g_real).mean()


PENALTIES = {"js": omega_js, "r1": r1}


def discriminator_loss(v_real, v_fake):
    """-mean_P log sigmoid(v) - mean_Q log(1 - sigmoid(v)), in softplus form."""
    return F.softplus(-v_real).mean() + F.softplus(v_fake).mean()


def critic_loss(critic, x_real, x_fake, gamma, penalty="js"):
    """(loss, penalty, (v_real, g_real, v_fake, g_fake)) for one critic step:
    loss = discriminator_loss + (gamma / 2) * penalty."""
    v_real, g_real = logits_and_input_gradients(critic, x_real)
    v_fake, g_fake = logits_and_input_gradients(critic, x_fake)
    reg = PENALTIES[penalty](v_real, g_real, v_fake, g_fake)
    loss = discriminator_loss(v_real, v_fake) + 0.5 * gamma * reg
    return loss, reg, (v_real, g_real, v_fake, g_fake)
