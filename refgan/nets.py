"""Multi-layer perceptrons as plain lists of (W, b) pairs, and per-sample input gradients.

Layout (the one the conformance vectors use): W has shape (fan_in, fan_out) and a layer is
x @ W + b. A critic is any function `critic(params, x) -> v` with x of shape (n, ...) and v of
shape (n,), whose samples do not interact (no batch norm); `mlp` is the default one.
"""
import autograd.numpy as np
import numpy as onp
from autograd import make_vjp
from autograd.tracer import getval

from . import checks
from .divergences import softplus

ACTIVATIONS = {
    "tanh": np.tanh,
    "softplus": softplus,
    "relu": lambda a: np.maximum(a, 0.0),
    "linear": lambda a: a,
}


def init_mlp(sizes, rng, init="truncated_normal", scale=0.1):
    """Parameters [(W1, b1), ..., (WL, bL)] for layer sizes (d_in, h1, ..., d_out).

    init: 'truncated_normal' (the paper's: N(0, scale^2) cut at 2 scale, biases 0),
          'normal' (N(0, scale^2), biases 0) or 'glorot' (uniform +-sqrt(6/(fan_in+fan_out)),
          scale ignored, biases 0). rng: a numpy Generator or an int seed >= 0.
    """
    rng = checks.rng("rng", rng)
    sizes = [checks.positive_int(f"sizes[{i}]", s) for i, s in enumerate(sizes)]
    if len(sizes) < 2:
        raise ValueError(f"sizes: need at least (d_in, d_out), got {sizes}")
    scale = checks.nonnegative("scale", scale)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        if init == "truncated_normal":
            W = rng.standard_normal((fan_in, fan_out))
            while onp.any(onp.abs(W) > 2.0):  # redraw the tails, as tf.truncated_normal does
                bad = onp.abs(W) > 2.0
                W[bad] = rng.standard_normal(int(bad.sum()))
            W = scale * W
        elif init == "normal":
            W = scale * rng.standard_normal((fan_in, fan_out))
        elif init == "glorot":
            limit = onp.sqrt(6.0 / (fan_in + fan_out))
            W = rng.uniform(-limit, limit, (fan_in, fan_out))
        else:
            raise ValueError(f"init: unknown {init!r}; valid: truncated_normal, normal, glorot")
        params.append((W, onp.zeros(fan_out)))
    return params


def check_layers(params, d_in):
    """params must be a non-empty list of (W, b), W (fan_in, fan_out), b (fan_out,), chaining
    from d_in inputs (the flattened size of one sample). Returns params with every array
    finite and float64 (see checks.float64_params)."""
    params = checks.float64_params(params)
    _check_layer_shapes(getval(params), d_in)  # under autograd params is a boxed sequence
    return params


def _check_layer_shapes(params, d_in):
    if not isinstance(params, (list, tuple)) or len(params) == 0:
        raise TypeError("params: expected a non-empty list of (W, b) pairs")
    fan_in = d_in
    for i, layer in enumerate(params):
        layer = getval(layer)
        if not isinstance(layer, (list, tuple)) or len(layer) != 2:
            raise TypeError(f"params[{i}]: expected a (W, b) pair")
        w_shape, b_shape = np.shape(layer[0]), np.shape(layer[1])
        if len(w_shape) != 2 or w_shape[0] != fan_in or b_shape != (w_shape[1],):
            raise ValueError(f"params[{i}]: expected W of shape ({fan_in}, k) and b of shape "
                             f"(k,), got W {w_shape} and b {b_shape}")
        fan_in = w_shape[1]


def mlp_outputs(params, x, activation="tanh"):
    """Forward pass x (n, ...) -> (n, d_out); hidden layers use `activation`, the last is linear.
    Inputs with several axes per sample are flattened (row-major) to (n, prod(...)).
    Integer, float32 or nested-list params and x are cast to float64."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation: unknown {activation!r}; valid: {', '.join(ACTIVATIONS)}")
    act = ACTIVATIONS[activation]
    x = checks.as_samples("x", x)
    h = np.reshape(x, (np.shape(x)[0], -1))
    return forward(check_layers(params, np.shape(h)[1]), h, act)


def forward(params, h, act):
    """The layer loop on flattened inputs h (n, d_in): act on every layer but the last."""
    for W, b in params[:-1]:
        h = act(np.dot(h, W) + b)
    W, b = params[-1]
    return np.dot(h, W) + b


def mlp(params, x, activation="tanh"):
    """The critic: logits v of shape (n,) for a batch x of shape (n, ...). The last layer
    must have one output."""
    out = mlp_outputs(params, x, activation)
    if np.shape(out)[1] != 1:
        raise ValueError(f"params: a critic's last layer needs 1 output, got {np.shape(out)[1]}")
    return out[:, 0]


def logits_and_input_gradients(critic, params, x):
    """v = critic(params, x) of shape (n,) and g_i = grad_x v(x_i), of the shape of x.

    One forward and one backward pass: since samples do not interact, the gradient of
    sum_i v(x_i) with respect to x holds each sample's own input gradient in its row.
    Works inside autograd, so the result can be differentiated again (nested gradients).

    A critic function that carries an attribute `logits_and_input_gradients(params, x)`
    returning (v, g) computes them itself (refgan.fused.explicit_mlp writes the MLP's input
    gradient out, so a penalty's parameter gradient is first order); otherwise this nested
    autograd path, the reference, is used.

    params and x are cast to float64 (checks.float64_params, checks.as_samples); a NaN or
    inf in v or g is a FloatingPointError, never a silent NaN further on."""
    params, x = checks.float64_params(params), checks.as_samples("x", x)
    n = np.shape(x)[0]
    explicit = getattr(critic, "logits_and_input_gradients", None)
    if explicit is not None:
        v, g = explicit(params, x)
        name = "critic.logits_and_input_gradients(params, x)"
        checks.per_sample(f"{name}[0]", v, n)
        if np.shape(g) != np.shape(x):
            raise ValueError(f"{name}[1]: expected the "
                             f"shape of x {np.shape(x)}, got {np.shape(g)}")
    else:
        name = "critic(params, x)"
        vjp, v = make_vjp(lambda x_: critic(params, x_))(x)
        checks.per_sample(name, v, n)
        g = vjp(np.ones(n))
    return (checks.finite_values(f"{name}: the logits", v),
            checks.finite_values(f"{name}: the input gradients", g))


def squared_norms(g):
    """|g_i|^2 summed over every non-batch axis: shape (n,). No square root, no epsilon, so
    the gradient at g_i = 0 is exactly 0."""
    return np.sum(np.reshape(g, (np.shape(g)[0], -1)) ** 2, axis=1)
