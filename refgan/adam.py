"""Adam (Kingma and Ba 2015) on parameters given as nested lists/tuples of arrays.

With g the gradient at step t = 1, 2, ...:
    m_t = b1 m_{t-1} + (1 - b1) g,         v_t = b2 v_{t-1} + (1 - b2) g^2
    theta_t = theta_{t-1} - lr * m_hat / (sqrt(v_hat) + eps),
    m_hat = m_t / (1 - b1^t),  v_hat = v_t / (1 - b2^t)
(the form of the paper's Algorithm 1, as in TensorFlow up to where eps sits). The state is a
plain dict of arrays so that a checkpoint can save it and a resumed run continues exactly.
"""
import numpy as onp
from autograd.misc import flatten

from . import checks


def adam_init(params):
    """Zero moments for params (any nested list/tuple of arrays): {'m', 'v' (flat), 't': 0}."""
    flat, _ = flatten(params)
    return {"m": onp.zeros_like(flat), "v": onp.zeros_like(flat), "t": 0}


def adam_step(params, grads, state, lr=1e-3, b1=0.5, b2=0.999, eps=1e-8):
    """One Adam update. Returns (new params with the structure of params, new state).
    Defaults are the paper's toy setting (lr 1e-3, beta1 0.5)."""
    lr = checks.nonnegative("lr", lr)
    flat, unflatten = flatten(params)
    g, _ = flatten(grads)
    if g.shape != flat.shape:
        raise ValueError(f"grads: expected {flat.size} numbers in the structure of params, "
                         f"got {g.size}")
    t = state["t"] + 1
    m = b1 * state["m"] + (1.0 - b1) * g
    v = b2 * state["v"] + (1.0 - b2) * g ** 2
    m_hat, v_hat = m / (1.0 - b1 ** t), v / (1.0 - b2 ** t)
    return unflatten(flat - lr * m_hat / (onp.sqrt(v_hat) + eps)), {"m": m, "v": v, "t": t}
