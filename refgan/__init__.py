"""refgan: a float64 reference implementation of GAN gradient regularisation, the analytic
form of instance noise of Roth, Lucchi, Nowozin and Hofmann (2017).

Conventions: gamma is a noise VARIANCE; the critic minimises -F + (gamma/2) Omega; gradients
are of the logit v with respect to the input x, one squared norm per sample.
"""
from .divergences import (DIVERGENCES, Divergence, get_divergence, log_sigmoid, sigmoid,
                          softplus)
from .nets import (ACTIVATIONS, init_mlp, logits_and_input_gradients, mlp, mlp_outputs,
                   squared_norms)
from .objectives import (f_gan_generator_loss, f_gan_objective, gan_discriminator_loss,
                         gan_generator_loss)
from .regularisers import (f_gan_critic_loss, f_gan_critic_loss_and_grad, gan_critic_loss,
                           gan_critic_loss_and_grad, gradient_norms_squared, omega_f,
                           omega_f_terms, omega_js, omega_js_terms, r1_penalty, r2_penalty)
from .noise import (gauss_hermite_rule, laplacian, noise_expectation_gh, noise_expectation_mc,
                    noised_f_gan_objective)
from .fused import explicit_mlp, mlp_logits_and_input_gradients
from . import gaussians

__version__ = "0.1.0"

# The toy experiment (refgan.data, .training, .metrics, .figures), the conformance tools
# (refgan.conformance, .verify, .faults) and the live checker (refgan.oracle, which needs
# hypothesis) are imported by module name.
__all__ = [
    "DIVERGENCES", "Divergence", "get_divergence", "log_sigmoid", "sigmoid", "softplus",
    "ACTIVATIONS", "init_mlp", "logits_and_input_gradients", "mlp", "mlp_outputs",
    "squared_norms", "explicit_mlp", "mlp_logits_and_input_gradients",
    "f_gan_generator_loss", "f_gan_objective", "gan_discriminator_loss", "gan_generator_loss",
    "f_gan_critic_loss", "f_gan_critic_loss_and_grad", "gan_critic_loss",
    "gan_critic_loss_and_grad", "gradient_norms_squared", "omega_f", "omega_f_terms",
    "omega_js", "omega_js_terms", "r1_penalty", "r2_penalty",
    "gauss_hermite_rule", "laplacian", "noise_expectation_gh", "noise_expectation_mc",
    "noised_f_gan_objective", "gaussians",
]
