"""The MLP critic's input gradient written out in the forward pass.

The reference (refgan.nets.logits_and_input_gradients) gets g_i = grad_x v(x_i) from autograd,
so a penalty's parameter gradient differentiates autograd's own backward pass (nested
gradients). Here the backward pass of the scalar output to the input is written out with
autograd.numpy operations, so autograd differentiates only once (first order) for the
parameter gradient. For layers a_l = h_{l-1} @ W_l + b_l, h_l = act(a_l) (l < L), v = a_L:

    e_{L-1} = dv/dh_{L-1} = W_L[:, 0]                          (width_{L-1},)
    e_{l-1} = dv/dh_{l-1} = (e_l * act'(a_l)) @ W_l.T          (n, width_{l-1}), per sample
    g       = e_0, reshaped to the shape of x                    (n, ...)

(e_l * act'(a_l) is the usual backpropagated error delta_l = dv/da_l.)
Same parameters, same outputs, same values as refgan.mlp; tests/test_fused.py proves it
against the nested-autograd reference on random networks.
"""
import autograd.numpy as np
import numpy as onp
from autograd.extend import defvjp, primitive

from . import checks
from .divergences import sigmoid
from .nets import ACTIVATIONS, check_layers, forward


@primitive
def tanh(a):
    """np.tanh with its vjp written from the output, g (1 - tanh(a)^2): autograd's own
    (g / cosh(a)^2) evaluates one more transcendental per element on every backward pass."""
    return onp.tanh(a)


defvjp(tanh, lambda ans, a: lambda g: g * (1.0 - ans ** 2))


def _relu_prime(a, h):
    # autograd differentiates np.maximum(a, 0) with weight 1/2 on each side of a tie, so the
    # reference's relu'(0) is 1/2; match it so both paths agree even at a = 0 exactly.
    return np.where(a > 0.0, 1.0, np.where(a == 0.0, 0.5, 0.0))


# (act, act') with act'(a) given a and h = act(a) (tanh' is cheapest from h).
PAIRS = {
    "tanh": (tanh, lambda a, h: 1.0 - h ** 2),
    "softplus": (ACTIVATIONS["softplus"], lambda a, h: sigmoid(a)),
    "relu": (ACTIVATIONS["relu"], _relu_prime),
    "linear": (ACTIVATIONS["linear"], lambda a, h: np.ones_like(a)),
}


def _activation_pair(activation):
    if activation not in PAIRS:
        raise ValueError(f"activation: unknown {activation!r}; valid: {', '.join(PAIRS)}")
    return PAIRS[activation]


def _flat_input(params, x):
    """(params, h): params checked to chain from d to 1 output and cast to float64, x (n, ...)
    flattened to h (n, d) in float64."""
    x = checks.as_samples("x", x)
    h = np.reshape(x, (np.shape(x)[0], -1))
    params = check_layers(params, np.shape(h)[1])
    if np.shape(params[-1][0])[1] != 1:
        raise ValueError(f"params: a critic's last layer needs 1 output, "
                         f"got {np.shape(params[-1][0])[1]}")
    return params, h


def mlp_outputs(params, x, activation="tanh"):
    """refgan.nets.mlp_outputs (x (n, ...) -> (n, d_out), the same values), with tanh's
    backward pass from its output: a faster generator for training."""
    act, _ = _activation_pair(activation)
    x = checks.as_samples("x", x)
    h = np.reshape(x, (np.shape(x)[0], -1))
    return forward(check_layers(params, np.shape(h)[1]), h, act)


def mlp_logits(params, x, activation="tanh"):
    """The critic's logits v (n,) for x (n, ...): the values of refgan.mlp, with tanh's
    backward pass from its output."""
    act, _ = _activation_pair(activation)
    params, h = _flat_input(params, x)
    for W, b in params[:-1]:
        h = act(np.dot(h, W) + b)
    W, b = params[-1]
    return np.dot(h, W[:, 0]) + b[0]


def mlp_logits_and_input_gradients(params, x, activation="tanh"):
    """v = mlp(params, x, activation) of shape (n,) and g_i = grad_x v(x_i) of the shape of x
    (n, ...), with the backward pass written out (see the module docstring). Differentiable
    by autograd with respect to params and x. Integer, float32 or nested-list params and x
    are cast to float64."""
    act, act_prime = _activation_pair(activation)
    params, h = _flat_input(params, x)
    n = np.shape(h)[0]
    slopes = []  # act'(a_l) for each hidden layer, (n, width_l)
    for W, b in params[:-1]:
        a = np.dot(h, W) + b
        h = act(a)
        slopes.append(act_prime(a, h))
    W, b = params[-1]
    v = np.dot(h, W[:, 0]) + b[0]
    e = W[:, 0]  # dv/dh_{L-1}: the same row for every sample
    for (W, _), slope in zip(reversed(params[:-1]), reversed(slopes)):
        e = np.dot(e * slope, W.T)  # dv/dh_{l-1} = (dv/dh_l * act'(a_l)) @ W_l.T
    g = e if np.ndim(e) == 2 else e * np.ones((n, 1))  # no hidden layer: g = W_1[:, 0]
    return v, np.reshape(g, np.shape(x))


def explicit_mlp(activation="tanh"):
    """A critic function (params, x) -> v (n,), equal to refgan.mlp(params, x, activation),
    that carries `logits_and_input_gradients(params, x)` = mlp_logits_and_input_gradients:
    refgan.nets.logits_and_input_gradients, and so every penalty, then uses the explicit
    input gradient instead of nested autograd."""
    _activation_pair(activation)

    def critic(params, x):
        return mlp_logits(params, x, activation)

    def logits_and_input_gradients(params, x):
        return mlp_logits_and_input_gradients(params, x, activation)

    critic.logits_and_input_gradients = logits_and_input_gradients
    critic.__name__ = critic.__qualname__ = f"explicit_mlp_{activation}"
    return critic
