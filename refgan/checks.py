"""Input validation: fail early, name the argument, say what was expected.

Every public function of refgan validates its arguments with these helpers so that a
wrong shape, a NaN or a negative variance is an error at the call, never a silent NaN or
an (n, n) broadcast further down.
"""
import numpy as onp
from autograd.tracer import getval


def as_samples(name, x, min_ndim=2):
    """Check a batch of samples: shape (n, ...) with n >= 1, finite, real.

    Returns the argument unchanged (autograd boxes stay boxed), so it can be used
    inside functions that autograd differentiates.
    """
    raw = getval(x)
    if not hasattr(raw, "shape"):
        raw = onp.asarray(raw)
        x = raw
    if raw.ndim < min_ndim:
        raise ValueError(f"{name}: expected an array of shape (n, d) or (n, ...) with a batch "
                         f"axis first, got shape {raw.shape}")
    if raw.shape[0] == 0:
        raise ValueError(f"{name}: the batch is empty (shape {raw.shape}); need at least one sample")
    if not onp.issubdtype(raw.dtype, onp.number) or onp.iscomplexobj(raw):
        raise TypeError(f"{name}: expected real numbers, got dtype {raw.dtype}")
    if not onp.all(onp.isfinite(raw)):
        bad = int(onp.sum(~onp.isfinite(raw)))
        raise ValueError(f"{name}: contains {bad} NaN or infinite value(s)")
    return x


def same_feature_shape(name_a, a, name_b, b):
    """Real and fake batches may differ in size but not in the shape of one sample."""
    sa, sb = onp.shape(getval(a))[1:], onp.shape(getval(b))[1:]
    if sa != sb:
        raise ValueError(f"{name_a} has samples of shape {sa} but {name_b} has {sb}; "
                         "they must match")


def per_sample(name, v, n):
    """A per-sample quantity must have shape exactly (n,): (n, 1) would broadcast to (n, n)."""
    shape = onp.shape(getval(v))
    if shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},), one value per sample, got {shape}"
                         + (" (squeeze the trailing axis)" if shape == (n, 1) else ""))
    return v


def finite_values(name, v):
    """Raise when a computed per-sample array holds NaN or inf (never return a silent NaN)."""
    raw = getval(v)
    if not onp.all(onp.isfinite(raw)):
        raise FloatingPointError(f"{name}: produced {int(onp.sum(~onp.isfinite(raw)))} "
                                 "non-finite value(s)")
    return v


def nonnegative(name, value):
    """A variance, standard deviation or count: a finite real number >= 0."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a real number, got {value!r}") from None
    if not onp.isfinite(value) or value < 0:
        raise ValueError(f"{name}: expected a finite number >= 0, got {value}")
    return value


def positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, onp.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)
