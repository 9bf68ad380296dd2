"""Loss functions on plain arrays, for users: mean over all samples and outputs.

>>> mse([1, 0, 0, 1], [0, 0, 0, 0])
0.5
"""
import numpy as np

from . import validation
from ._dispatch import kernels

_EPS = np.finfo(np.float64).eps


def mse(y_true, y_pred):
    """Mean squared error: mean((y_true - y_pred)^2), no 1/2 factor."""
    y_true, y_pred = _pair(y_true, y_pred)
    return kernels.mse_loss(y_true, y_pred)


def binary_cross_entropy(y_true, y_pred):
    """mean(-y log p - (1 - y) log(1 - p)) for probabilities p (clipped away from 0 and 1)."""
    y_true, p = _pair(y_true, y_pred)
    p = np.clip(p, _EPS, 1 - _EPS)
    return kernels.sigmoid_bce_loss(y_true, np.log(p) - np.log1p(-p))


def categorical_cross_entropy(y_true, y_pred):
    """mean over samples of -sum_j y_j log p_j for rows of probabilities p."""
    y_true, p = _pair(y_true, y_pred)
    return float(np.mean(-np.sum(y_true * np.log(np.clip(p, _EPS, 1.0)), axis=1)))


def _pair(y_true, y_pred):
    """Both as C-contiguous 2-d float64 arrays of one shape; TypeError for what is not an
    array of real numbers (None, strings, objects, complex), like the rest of the API."""
    a = np.atleast_2d(validation.real_array(y_true, "y_true").astype(np.float64))
    b = np.atleast_2d(validation.real_array(y_pred, "y_pred").astype(np.float64))
    if a.shape != b.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {a.shape} and {b.shape}")
    return np.ascontiguousarray(a), np.ascontiguousarray(b)
