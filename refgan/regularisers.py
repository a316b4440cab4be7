"""The analytic form of instance noise (Roth, Lucchi, Nowozin, Hofmann 2017), and the
gradient-norm penalties it is compared with.

    Omega_f(Q; psi)    = E_Q[ f*''(psi) |grad_x psi|^2 ],             psi = g_f(v)
                       = E_Q[ w_f(v) |grad_x v|^2 ],  w_f = f*''(g_f(v)) g_f'(v)^2
    Omega_JS(P, Q; v)  = E_P[ (1 - D)^2 |grad_x v|^2 ] + E_Q[ D^2 |grad_x v|^2 ],  D = sigmoid(v)
    R1 = E_P |grad_x v|^2,   R2 = E_Q |grad_x v|^2

Gradients are of the LOGIT v with respect to the INPUT x, one norm per sample over all
non-batch axes. The critic minimises  -F + (gamma/2) Omega  (gamma is the noise variance).
Everything is autograd-traceable: `autograd.grad` of these with respect to `params`
differentiates through the input gradient (the second-order part is kept).

Inputs: params and samples of any real dtype (integers, float32, nested lists) are cast to
float64; NaN or inf in them is an error naming the argument. Outputs: a non-finite logit,
input gradient, penalty term or loss raises FloatingPointError naming it (a logit of -1000
makes reverse_kl's F = -inf, for instance), so a loss is never inf or NaN; the *_and_grad
functions also raise when the parameter gradient holds NaN or inf.
"""
import autograd.numpy as np
from autograd import value_and_grad

from . import checks
from .checks import float64_params
from .divergences import get_divergence, sigmoid
from .nets import logits_and_input_gradients, squared_norms
from .objectives import f_gan_objective, gan_discriminator_loss


def _batch(name, x):
    return checks.as_samples(name, x)


def _pair(x_real, x_fake):
    x_real, x_fake = _batch("x_real", x_real), _batch("x_fake", x_fake)
    checks.same_feature_shape("x_real", x_real, "x_fake", x_fake)
    return x_real, x_fake


def _gamma(gamma):
    return checks.nonnegative("gamma", gamma)


# -- per-sample terms: the penalty is their mean (exposed for quadrature and for checking) --

def omega_f_terms(divergence, critic, params, x_fake):
    """Per-sample terms w_f(v_i) |grad_x v_i|^2 on Q's samples, shape (m,)."""
    div = get_divergence(divergence)
    return _omega_f_terms_and_logits(div, critic, params, _batch("x_fake", x_fake))[0]


def _omega_f_terms_and_logits(div, critic, params, x_fake):
    """(terms, v_fake): the logits come with the input gradients."""
    v, g = logits_and_input_gradients(critic, params, x_fake)
    return _omega_f_terms_from(div, v, g), v


def _omega_f_terms_from(div, v, g):
    # w_f(v) overflows at huge logits for kl, hellinger, neyman: inf * 0 would be a silent NaN
    return checks.finite_values(f"Omega_f terms ({div.name})",
                                div.penalty_weight(v) * squared_norms(g))


def _logits(critic, params, x):
    """critic(params, x), checked: shape (n,) and finite."""
    v = checks.per_sample("critic(params, x)", critic(params, x), np.shape(x)[0])
    return checks.finite_values("critic(params, x): the logits", v)


def _finite_loss(div_name, loss):
    return checks.finite_values(f"critic loss ({div_name})", loss)


def omega_js_terms(critic, params, x_real, x_fake):
    """Per-sample terms ((1 - D_i)^2 |grad v_i|^2 on P's samples (n,),
    D_j^2 |grad v_j|^2 on Q's samples (m,)). 1 - sigmoid(v) is written sigmoid(-v)."""
    x_real, x_fake = _pair(x_real, x_fake)
    return _omega_js_terms_and_logits(critic, float64_params(params), x_real, x_fake)[:2]


def _omega_js_terms_and_logits(critic, params, x_real, x_fake):
    """(real terms, fake terms, v_real, v_fake): the logits come with the input gradients."""
    v_r, g_r = logits_and_input_gradients(critic, params, x_real)
    v_f, g_f = logits_and_input_gradients(critic, params, x_fake)
    return (sigmoid(-v_r) ** 2 * squared_norms(g_r), sigmoid(v_f) ** 2 * squared_norms(g_f),
            v_r, v_f)


def gradient_norms_squared(critic, params, x):
    """|grad_x v(x_i)|^2 for each sample, shape (n,)."""
    return squared_norms(logits_and_input_gradients(critic, params, _batch("x", x))[1])


# -- the penalties --

def omega_f(divergence, critic, params, x_fake):
    """Omega_f(Q; psi) = mean_Q f*''(psi) |grad_x psi|^2 with psi = g_f(critic(params, x)).
    x_fake: (m, ...). A scalar >= 0 (identically 0 for 'tv')."""
    return np.mean(omega_f_terms(divergence, critic, params, x_fake))


def omega_js(critic, params, x_real, x_fake):
    """Omega_JS(P, Q; v) = mean_P (1 - D)^2 |grad v|^2 + mean_Q D^2 |grad v|^2, D = sigmoid(v).
    x_real (n, ...), x_fake (m, ...), n and m may differ. A scalar >= 0."""
    real, fake = omega_js_terms(critic, params, x_real, x_fake)
    return np.mean(real) + np.mean(fake)


def r1_penalty(critic, params, x_real):
    """R1 = mean_P |grad_x v|^2 (Mescheder et al. 2018); the loss adds (gamma/2) R1."""
    return np.mean(gradient_norms_squared(critic, params, x_real))


def r2_penalty(critic, params, x_fake):
    """R2 = mean_Q |grad_x v|^2; the loss adds (gamma/2) R2."""
    return np.mean(gradient_norms_squared(critic, params, x_fake))


# -- regularised critic losses (to minimise) --

def gan_critic_loss(critic, params, x_real, x_fake, gamma):
    """Standard GAN discriminator loss with Roth et al.'s penalty:
        -E_P log D - E_Q log(1 - D) + (gamma/2) Omega_JS(P, Q; v).  A scalar."""
    gamma = _gamma(gamma)
    x_real, x_fake = _pair(x_real, x_fake)
    params = float64_params(params)
    if gamma == 0.0:
        return _finite_loss("gan", gan_discriminator_loss(_logits(critic, params, x_real),
                                                          _logits(critic, params, x_fake)))
    # The penalty's pass gives the logits too: evaluate the critic once per batch, not twice.
    real, fake, v_r, v_f = _omega_js_terms_and_logits(critic, params, x_real, x_fake)
    return _finite_loss("gan", gan_discriminator_loss(v_r, v_f)
                        + 0.5 * gamma * (np.mean(real) + np.mean(fake)))


def f_gan_critic_loss(divergence, critic, params, x_real, x_fake, gamma):
    """f-GAN critic loss with the analytic instance-noise penalty:
        -F(P, Q; g_f(v)) + (gamma/2) Omega_f(Q; g_f(v)).  A scalar.
    -F is checked before the penalty, so an overflowing F (kl at v = 1000) raises the same
    FloatingPointError, naming the loss and the divergence, for every gamma."""
    div = get_divergence(divergence)
    gamma = _gamma(gamma)
    x_real, x_fake = _pair(x_real, x_fake)
    params = float64_params(params)
    v_r = _logits(critic, params, x_real)
    if gamma == 0.0:
        return _finite_loss(div.name, -f_gan_objective(div, v_r, _logits(critic, params, x_fake)))
    # The penalty's pass gives the fake logits too: one critic evaluation per batch.
    v_f, g_f = logits_and_input_gradients(critic, params, x_fake)
    minus_f = _finite_loss(div.name, -f_gan_objective(div, v_r, v_f))
    penalty = np.mean(_omega_f_terms_from(div, v_f, g_f))
    return _finite_loss(div.name, minus_f + 0.5 * gamma * penalty)


# Value and gradient with respect to params (argument 1, 2), through the nested gradients.
_gan_value_and_grad = value_and_grad(gan_critic_loss, 1)
_f_gan_value_and_grad = value_and_grad(f_gan_critic_loss, 2)


def gan_critic_loss_and_grad(critic, params, x_real, x_fake, gamma):
    """(loss, d loss / d params) of gan_critic_loss; the gradient has the structure of params
    and is float64 (params are cast before autograd sees them). A NaN or inf in the gradient
    is a FloatingPointError."""
    loss, grads = _gan_value_and_grad(critic, float64_params(params), x_real, x_fake, gamma)
    checks.finite_tree("gradient of the critic loss (gan)", grads)
    return loss, grads


def f_gan_critic_loss_and_grad(divergence, critic, params, x_real, x_fake, gamma):
    """(loss, d loss / d params) of f_gan_critic_loss; the gradient has the structure of
    params and is float64. A NaN or inf in the gradient is a FloatingPointError (a finite loss
    can still have an overflowing gradient, e.g. reverse_kl's e^-v x at v = -709)."""
    div = get_divergence(divergence)
    loss, grads = _f_gan_value_and_grad(div, critic, float64_params(params), x_real, x_fake,
                                        gamma)
    checks.finite_tree(f"gradient of the critic loss ({div.name})", grads)
    return loss, grads
