"""The f-GAN table (docs/REFERENCE.md section 4) in its naive textbook form, written out
independently of refgan.divergences; valid at moderate v only (it overflows at large |v|).
name -> (g_f(v), f*(g_f(v)))."""
import math

import numpy as np

LOG2 = math.log(2.0)

TABLE = {
    "kl": (lambda v: v, lambda v: np.exp(v - 1.0)),
    "reverse_kl": (lambda v: -np.exp(-v), lambda v: v - 1.0),
    "pearson": (lambda v: v, lambda v: v ** 2 / 4.0 + v),
    "neyman": (lambda v: 1.0 - np.exp(-v), lambda v: 2.0 - 2.0 * np.exp(-v / 2.0)),
    "hellinger": (lambda v: 1.0 - np.exp(-v), lambda v: np.exp(v) - 1.0),
    "js": (lambda v: LOG2 - np.log(1.0 + np.exp(-v)), lambda v: np.log(1.0 + np.exp(v)) - LOG2),
    "gan": (lambda v: -np.log(1.0 + np.exp(-v)), lambda v: np.log(1.0 + np.exp(v))),
    "tv": (lambda v: np.tanh(v) / 2.0, lambda v: np.tanh(v) / 2.0),
}
