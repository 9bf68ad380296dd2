"""Turns what users pass into what the backends accept, or raises a clear error.

Every public entry point calls these before any compiled code runs; a
rejected call changes nothing.
"""
import math
import numbers

import numpy as np

from ._dispatch import kernels
from ._reference import ACTIVATIONS  # noqa: F401  (one list of names)
from ._reference import LOSSES as _LOSS_TABLE

LOSSES = tuple(_LOSS_TABLE)
DTYPES = {"float32": np.float32, "float64": np.float64}


def as_dtype(dtype):
    """np.float32 or np.float64 from anything naming one of them."""
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return DTYPES[name]


def as_samples(X, n_features, dtype, name="X"):
    """X as a C-contiguous (n_samples, n_features) array of `dtype`; 1-d is one sample.

    Returns (array, was_single_sample).
    """
    array = _numeric_array(X, name)
    single = array.ndim == 1
    if single:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-d (n_samples, n_features) or 1-d (one sample), "
                         f"got {array.ndim}-d with shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one sample, got shape {array.shape}")
    if array.shape[1] != n_features:
        hint = ""
        if single:
            hint = (f"; a 1-d {name} is one sample: for {array.shape[1]} samples of "
                    f"{n_features} feature{'s' if n_features > 1 else ''} pass "
                    f"{name}.reshape(-1, {n_features})")
        raise ValueError(f"{name} has {array.shape[1]} features, but this Network expects "
                         f"{n_features}{hint}")
    return _finite(np.ascontiguousarray(array, dtype=dtype), name), single


def as_targets(y, n_samples, n_outputs, loss, dtype, name="y", samples_name="X"):
    """y as a C-contiguous (n_samples, n_outputs) array; class labels one-hot for 'cce'."""
    array = _numeric_array(y, name)
    if loss == "cce" and array.ndim == 1 and n_outputs > 1:
        labels = array
        if not np.all(np.equal(np.mod(labels, 1), 0)) or labels.min(initial=0) < 0 \
                or labels.max(initial=0) >= n_outputs:
            raise ValueError(f"{name} as class labels must be integers in [0, {n_outputs}), "
                             f"got values from {labels.min()} to {labels.max()}")
        array = np.eye(n_outputs, dtype=dtype)[labels.astype(np.intp)]
    elif array.ndim == 1 and n_outputs == 1:
        array = array.reshape(-1, 1)
    elif array.ndim == 1 and n_samples == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2 or array.shape[1] != n_outputs:
        raise ValueError(f"{name} must have shape ({n_samples}, {n_outputs}), "
                         f"got shape {array.shape}")
    if array.shape[0] != n_samples:
        raise ValueError(f"{samples_name} and {name} must hold the same number of samples: "
                         f"{samples_name} has {n_samples}, {name} has {array.shape[0]}")
    array = _finite(np.ascontiguousarray(array, dtype=dtype), name)
    if loss in ("bce", "cce") and (array.min() < 0 or array.max() > 1):
        raise ValueError(f"{name} must lie in [0, 1] for loss {loss!r}, got values from "
                         f"{array.min()} to {array.max()}")
    return array


def as_array(value, shape, dtype, name):
    """`value` as a C-contiguous array of `shape` (None: any) and `dtype`, all finite."""
    array = _numeric_array(value, name)
    if shape is not None and array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {array.shape}")
    with np.errstate(over="ignore"):                # 1e39 becomes inf in float32:
        converted = np.asarray(array, dtype=dtype, order="C")   # checked after the cast
    if not kernels.all_finite(converted):
        too_large = bool(np.all(np.isfinite(array)))
        raise ValueError(f"{name} contains " + (f"values too large for {np.dtype(dtype).name}"
                                                if too_large else "NaN or infinity"))
    return converted


def seed(value, name="seed"):
    """None or a non-negative integer (a NumPy random seed)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)
                              or value < 0):
        raise ValueError(f"{name} must be None or an integer >= 0, got {value!r}")
    return value


def positive_number(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def non_negative_number(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def positive_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def choice(value, options, name):
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}")
    return value


def _numeric_array(value, name):
    if value is None:
        raise TypeError(f"{name} must be an array of numbers, got None")
    try:
        array = np.asarray(value)
    except ValueError as error:                     # ragged nested lists
        raise ValueError(f"{name} must be a rectangular array of numbers: {error}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return array


def _finite(array, name):
    if not kernels.all_finite(array):
        raise ValueError(f"{name} contains NaN or infinity")
    return array
