"""What a checkpoint of a toy run is judged by.

Sample quality, against the data's known mixture (centres c_k, std s):
  - a generated sample is HIGH-QUALITY when it lies within `n_std` * s of its nearest centre
    (Euclidean distance; default 3 std, as in VEEGAN's toy metrics);
  - a mode is COVERED when at least `min_fraction` of all generated samples are high-quality
    samples nearest to it (default 1%: with 7 equal modes a fair share is 14%).
  - for data on a plane of R^3: the mean absolute distance of the samples to that plane.
Critic state, on a real and a generated batch:
  - the standard GAN discriminator loss -E_P log D - E_Q log(1 - D) (no penalty),
  - Omega_JS(P, Q; v) (the paper's penalty, whatever the regime trained with),
  - mean |grad_x v| on real and on generated samples.
"""
import numpy as onp

from . import checks
from .nets import logits_and_input_gradients, squared_norms
from .objectives import gan_discriminator_loss
from .regularisers import omega_js

HIGH_QUALITY_STD = 3.0
MODE_MIN_FRACTION = 0.01


def nearest_centre(x, centres):
    """Index (n,) of the nearest centre and the distance (n,) to it, for x (n, d), centres (K, d)."""
    d2 = onp.sum((x[:, None, :] - centres[None]) ** 2, axis=2)
    k = onp.argmin(d2, axis=1)
    return k, onp.sqrt(d2[onp.arange(len(x)), k])


def sample_quality(x, centres, std, n_std=HIGH_QUALITY_STD, min_fraction=MODE_MIN_FRACTION):
    """{'high_quality': fraction of samples within n_std * std of their nearest centre,
        'modes_covered': number of centres with >= min_fraction of all samples high-quality
                         and nearest to them,
        'mode_fractions': list (K,) of those fractions}."""
    x = checks.as_samples("x", x)
    centres = onp.asarray(centres, dtype=float)
    checks.same_feature_shape("x", x, "centres", centres)
    k, dist = nearest_centre(x, centres)
    good = dist <= n_std * checks.nonnegative("std", std)
    fractions = onp.bincount(k[good], minlength=len(centres)) / len(x)
    return {"high_quality": float(onp.mean(good)),
            "modes_covered": int(onp.sum(fractions >= min_fraction)),
            "mode_fractions": fractions.tolist()}


def plane_distance(x, point, normal):
    """Mean |(x_i - point) . n| over samples x (n, 3), n the unit normal of the plane."""
    x = checks.as_samples("x", x)
    n = onp.asarray(normal, dtype=float)
    return float(onp.mean(onp.abs((x - point) @ (n / onp.linalg.norm(n)))))


def critic_metrics(critic, params, x_real, x_fake):
    """{'disc_loss', 'omega_js', 'grad_real', 'grad_fake'} as in the module docstring."""
    v_r, g_r = logits_and_input_gradients(critic, params, x_real)
    v_f, g_f = logits_and_input_gradients(critic, params, x_fake)
    return {"disc_loss": float(gan_discriminator_loss(v_r, v_f)),
            "omega_js": float(omega_js(critic, params, x_real, x_fake)),
            "grad_real": float(onp.mean(onp.sqrt(squared_norms(g_r)))),
            "grad_fake": float(onp.mean(onp.sqrt(squared_norms(g_f))))}
