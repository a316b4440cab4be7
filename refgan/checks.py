"""Input validation: fail early, name the argument, say what was expected.

Every public function of refgan validates its arguments with these helpers so that a
wrong shape, a NaN or a negative variance is an error at the call, never a silent NaN or
an (n, n) broadcast further down.
"""
import numbers

import numpy as onp
from autograd.tracer import getval, isbox


def as_samples(name, x, min_ndim=2):
    """Check a batch of samples: shape (n, ...) with n >= 1, finite, real.

    Returns a float64 array: lists, integers and float32 are cast (the reference computes
    in float64 whatever it is given). An autograd box is returned unchanged, so this can be
    used inside functions that autograd differentiates.
    """
    raw = getval(x)
    if not hasattr(raw, "shape"):
        raw = onp.asarray(raw)
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
    return x if isbox(x) else raw.astype(onp.float64, copy=False)


def _real_array(name, value):
    """A finite real array of any numeric dtype, as float64 (a bool or a string is not one)."""
    arr = onp.asarray(value)
    if (arr.dtype == object or not onp.issubdtype(arr.dtype, onp.number)
            or onp.iscomplexobj(arr)):
        raise TypeError(f"{name}: expected real numbers, got dtype {arr.dtype}")
    if not onp.all(onp.isfinite(arr)):
        raise ValueError(f"{name}: contains {int(onp.sum(~onp.isfinite(arr)))} NaN or "
                         "infinite value(s)")
    return arr.astype(onp.float64, copy=False)


def _numbers_only(value):
    """A non-empty nested list of plain numbers, i.e. an array written as lists."""
    if isinstance(value, (list, tuple)):
        return len(value) > 0 and all(_numbers_only(v) for v in value)
    return isinstance(value, numbers.Number) and not isinstance(value, onp.ndarray)


def _nested_shape(value):
    """The shape of a rectangular nesting of lists, None when it is ragged."""
    if not isinstance(value, (list, tuple)):
        return ()
    shapes = {_nested_shape(v) for v in value}
    if len(shapes) != 1 or None in shapes:
        return None
    return (len(value),) + shapes.pop()


def float64_params(params, name="params"):
    """Parameters (any nesting of lists, tuples and dicts of arrays, e.g. [(W, b), ...]) with
    every array finite and real, cast to float64 (integers, float32 and nested lists of
    numbers are converted; a float64 array is returned as it is). Other leaves (None, custom
    objects) pass through. Autograd boxes are checked and returned unchanged.
    Raises TypeError or ValueError naming the entry, e.g. params[0][1]."""
    if isbox(params):
        float64_params(getval(params), name)  # check only: the box is differentiated as is
        return params
    if isinstance(params, dict):
        return {k: float64_params(v, f"{name}[{k!r}]") for k, v in params.items()}
    if isinstance(params, (list, tuple)):
        # an array written as nested lists; a ragged one, e.g. a pair ([[1.0], [2.0]], [0.5])
        # written as lists, is a container
        if _numbers_only(params) and _nested_shape(params) is not None:
            return _real_array(name, params)
        items = [float64_params(v, f"{name}[{i}]") for i, v in enumerate(params)]
        return items if isinstance(params, list) else tuple(items)
    if isinstance(params, (onp.ndarray, onp.generic, numbers.Number, str, bytes)):
        return _real_array(name, params)
    return params


def finite_tree(name, tree):
    """Raise FloatingPointError when any array of a nested list/tuple/dict holds NaN or inf
    (a parameter gradient)."""
    leaves = tree.values() if isinstance(tree, dict) else tree
    if isinstance(tree, (list, tuple, dict)):
        for leaf in leaves:
            finite_tree(name, leaf)
    elif tree is not None:
        finite_values(name, tree)


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


def real_number(name, value):
    """A real number as a float: an int, a float, a numpy real scalar or a 0-d real array.
    A bool, a string (even "0.1") or an array of several values is a TypeError."""
    raw = value[()] if isinstance(value, onp.ndarray) and value.ndim == 0 else value
    if isinstance(raw, (bool, onp.bool_)) or not isinstance(raw, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {value!r}")
    return float(raw)


def finite_real(name, value):
    """A finite real number (see real_number)."""
    value = real_number(name, value)
    if not onp.isfinite(value):
        raise ValueError(f"{name}: expected a finite real number, got {value}")
    return value


def nonnegative(name, value):
    """A variance, standard deviation or count: a finite real number >= 0."""
    value = real_number(name, value)
    if not onp.isfinite(value) or value < 0:
        raise ValueError(f"{name}: expected a finite number >= 0, got {value}")
    return value


def positive(name, value):
    """A variance that divides: a finite real number > 0."""
    value = real_number(name, value)
    if not onp.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a finite number > 0, got {value}")
    return value


def boolean(name, value):
    """A flag: True or False (numpy's bool too); "no" or 0 are not flags."""
    if not isinstance(value, (bool, onp.bool_)):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def rng(name, value):
    """numpy.random.default_rng(value) for a Generator, SeedSequence, BitGenerator, None or
    an integer seed >= 0; anything else is a TypeError naming the argument."""
    if isinstance(value, (onp.random.Generator, onp.random.SeedSequence,
                          onp.random.BitGenerator)) or value is None:
        return onp.random.default_rng(value)
    if isinstance(value, (bool, onp.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected a numpy Generator or an integer seed, got {value!r}")
    if value < 0:
        raise ValueError(f"{name}: expected an integer seed >= 0, got {value}")
    return onp.random.default_rng(int(value))


def positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, onp.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)
