"""Turns what users pass into what the backends accept, or raises a clear error.

Every public entry point calls these before any compiled code runs; a
rejected call changes nothing.
"""
import math
import numbers
import operator
import sys

import numpy as np

from ._dispatch import kernels
from ._reference import ACTIVATIONS  # noqa: F401  (one list of names)
from ._reference import LOSSES as _LOSS_TABLE

LOSSES = tuple(_LOSS_TABLE)
DTYPES = {"float32": np.float32, "float64": np.float64}
#: The largest count (epochs, batch size, ...) the compiled kernels take (a C Py_ssize_t).
MAX_COUNT = sys.maxsize


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
    array = real_array(X, name)
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
    return _converted(array, None, dtype, name), single


def _integral(values):
    """Where values are whole numbers (False for NaN and infinities, without a warning)."""
    with np.errstate(invalid="ignore"):
        return np.equal(np.mod(values, 1), 0)


def as_targets(y, n_samples, n_outputs, loss, dtype, name="y", samples_name="X"):
    """y as a C-contiguous (n_samples, n_outputs) array; class labels one-hot for 'cce'."""
    _refuse_labels_of_other_types(y, loss, n_outputs, name)
    array = real_array(y, name)
    if loss == "cce" and array.ndim == 1 and n_outputs > 1:
        labels = array
        integral = _integral(labels)
        if not np.all(integral):
            odd = labels[~integral][0]
            raise ValueError(f"{name} as class labels must be integers in [0, {n_outputs}), "
                             f"got {float(odd)!r}, which is not an integer")
        if labels.min(initial=0) < 0 or labels.max(initial=0) >= n_outputs:
            raise ValueError(f"{name} as class labels must be integers in [0, {n_outputs}), "
                             f"got values from {labels.min()} to {labels.max()}")
        array = np.eye(n_outputs, dtype=dtype)[labels.astype(np.intp)]
    elif array.ndim == 1 and n_outputs == 1:
        array = array.reshape(-1, 1)
    elif array.ndim == 1 and n_samples == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2 or array.shape[1] != n_outputs:
        hint = ""
        if array.ndim == 1 and n_outputs > 1 and array.size and \
                np.all(_integral(array)) and array.min() >= 0 \
                and array.max() < n_outputs:
            hint = (f"; a 1-d {name} of integers in [0, {n_outputs}) looks like class labels: "
                    f"train a softmax output (Network(..., output='softmax')) with "
                    f"loss='cce', which takes labels")
        raise ValueError(f"{name} must have shape ({n_samples}, {n_outputs}), "
                         f"got shape {array.shape}{hint}")
    if array.shape[0] != n_samples:
        raise ValueError(f"{samples_name} and {name} must hold the same number of samples: "
                         f"{samples_name} has {n_samples}, {name} has {array.shape[0]}")
    array = _converted(array, None, dtype, name)
    if loss in ("bce", "cce") and (array.min() < 0 or array.max() > 1):
        raise ValueError(f"{name} must lie in [0, 1] for loss {loss!r}, got values from "
                         f"{array.min()} to {array.max()}")
    return array


def _refuse_labels_of_other_types(y, loss, n_outputs, name):
    """String labels (and boolean labels for 'cce') get a message saying what to pass."""
    if isinstance(y, np.ndarray):
        kind = y.dtype.kind
    elif isinstance(y, (list, tuple)) and len(y) and isinstance(y[0], (str, bytes, bool,
                                                                       np.bool_)):
        kind = "U" if isinstance(y[0], (str, bytes)) else "b"
    else:
        return
    fix = (f"class labels for Network.fit are integers 0 to n_classes - 1 with a softmax "
           f"output and loss='cce' (classes, y = np.unique(y, return_inverse=True)), or use "
           f"fastnn.sklearn.MLPClassifier, which takes labels of any type")
    if kind in "USO" and (kind != "O" or any(isinstance(v, (str, bytes)) for v in
                                              np.ravel(y)[:1])):
        raise TypeError(f"{name} holds strings (dtype {np.asarray(y).dtype}), not numbers: "
                        f"{fix}")
    if kind == "b" and loss == "cce" and np.ndim(y) == 1 and n_outputs > 1:
        raise ValueError(f"{name} holds booleans, not class labels: {fix} (for two "
                         f"classes: {name}.astype(int))")


def as_array(value, shape, dtype, name):
    """`value` as a C-contiguous array of `shape` (None: any) and `dtype`, all finite."""
    return _converted(real_array(value, name), shape, dtype, name)


def real_array(value, name):
    """`value` as a NumPy array of real numbers (bool, int or float); a TypeError naming
    `name` for None, strings, objects and complex numbers."""
    if value is None:
        raise TypeError(f"{name} must be an array of numbers, got None")
    try:
        array = np.asarray(value)
    except ValueError as error:                     # ragged nested lists
        raise ValueError(f"{name} must be a rectangular array of numbers: {error}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return array


def seed(value, name="seed"):
    """None or a non-negative integer (a NumPy random seed)."""
    if value is None:
        return None
    number = _integer(value)
    if number is None or number < 0:
        raise ValueError(f"{name} must be None or an integer >= 0, got {describe(value)}")
    return number


def positive_number(value, name):
    """A finite real number > 0, as a float; ValueError naming `name` otherwise."""
    number = _real(value, name, "> 0")
    if not number > 0:
        raise ValueError(f"{name} must be a finite number > 0, got {describe(value)}")
    return number


def non_negative_number(value, name):
    """A finite real number >= 0, as a float; ValueError naming `name` otherwise."""
    number = _real(value, name, ">= 0")
    if not number >= 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {describe(value)}")
    return number


def positive_int(value, name, minimum=1, maximum=MAX_COUNT):
    """An integer in [minimum, maximum], as a plain int; ValueError naming `name` otherwise.

    The value is converted (operator.index) before it is compared, so an int subclass
    cannot misreport its size; the default maximum is the largest count the compiled
    kernels take, so nothing beyond their range reaches them.
    """
    number = _integer(value)
    if number is None or number < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {describe(value)}")
    if number > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}, got {describe(value)}")
    return number


def describe(value):
    """repr(value) for a message; an integer too long to print is described by its size."""
    number = _integer(value)
    if number is not None and number.bit_length() > 128:
        return f"{'a negative' if number < 0 else 'an'} integer of {number.bit_length()} bits"
    return repr(value)


def _integer(value):
    """A plain int from an integer (not a bool), else None."""
    if type(value) is int:                  # the common case, without the ABC checks
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def _real(value, name, bound):
    """A float from a real number (not a bool); ValueError naming `name` if it is none, or
    is not finite, or is too large for a float (math.isfinite(10**400) raises OverflowError)."""
    number = None
    if type(value) is float:                # the common case, without the checks below
        number = value
    elif not isinstance(value, (bool, np.bool_)) and isinstance(value, numbers.Real):
        try:
            with np.errstate(over="ignore"):
                number = float(value)
        except OverflowError:
            raise ValueError(f"{name} must be a finite number {bound}, got {describe(value)}: "
                             f"too large for a float") from None
        except (TypeError, ValueError):
            number = None
    if number is None or not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number {bound}, got {describe(value)}")
    return number


def choice(value, options, name):
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}")
    return value


def _converted(array, shape, dtype, name):
    """array checked for shape, cast to a C-contiguous `dtype` array, and checked finite
    after the cast: a value that overflows float32 is named as such, not as infinity."""
    if shape is not None and array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {array.shape}")
    if array.dtype.kind != "f" or array.dtype.itemsize <= np.dtype(dtype).itemsize:
        # no float narrowing, so no overflow (and no errstate: ~1 us, on every predict)
        converted = np.asarray(array, dtype=dtype, order="C")
    else:
        with np.errstate(over="ignore"):            # 1e39 becomes inf in float32:
            converted = np.asarray(array, dtype=dtype, order="C")   # checked after the cast
    if not kernels.all_finite(converted):
        if np.all(np.isfinite(array)):
            largest = np.max(np.abs(array[np.isinf(converted)]))
            kind = np.dtype(dtype).name
            raise ValueError(f"{name} contains values too large for {kind}: {largest:g} "
                             f"overflows {kind} (largest finite value {np.finfo(dtype).max:g})")
        raise ValueError(f"{name} contains NaN or infinity")
    return converted
