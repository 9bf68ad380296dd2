"""Numerical gradients by central differences, to check backpropagation."""
import numpy as np


def numerical_gradient(network, X, y, loss=None, h=1e-5):
    """(L(w + h) - L(w - h)) / 2h for every parameter w, one at a time.

    A flat array in the layout of ``network.parameters``. The network's
    parameters are restored exactly afterwards.
    """
    params = network._params
    grad = np.empty(params.shape, dtype=np.float64)
    with network._lock:
        saved = params.copy()
        try:
            for i in range(params.size):
                params[i] = saved[i] + h
                up = network.loss(X, y, loss)
                params[i] = saved[i] - h
                down = network.loss(X, y, loss)
                params[i] = saved[i]
                grad[i] = (up - down) / (2 * h)
        finally:
            params[...] = saved
    return grad


def check_gradients(network, X, y, loss=None, h=1e-5):
    """The largest relative error between backpropagation and central differences.

    max |analytic - numeric| / max(1e-8, |analytic| + |numeric|) over all
    parameters; below ~1e-7 in float64 means the gradients agree.
    """
    analytic = network.gradients(X, y, loss)
    numeric = numerical_gradient(network, X, y, loss, h)
    scale = np.maximum(1e-8, np.abs(analytic) + np.abs(numeric))
    return float(np.max(np.abs(analytic - numeric) / scale))
