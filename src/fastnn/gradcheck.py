"""Numerical gradients by central differences, to check backpropagation.

Central differences need float64: with h = 1e-5, a float32 parameter moves by
a step it can barely represent and the loss changes in its last digits. A
float32 network is therefore differentiated through a float64 copy.
"""
import numpy as np


def numerical_gradient(network, X, y, loss=None, h=1e-5):
    """(L(w + h) - L(w - h)) / 2h for every parameter w, one at a time, in float64.

    A flat float64 array in the layout of ``network.parameters``. The network
    is not changed.
    """
    twin = _float64_copy(network)
    params = twin._params
    grad = np.empty(params.shape, dtype=np.float64)
    saved = params.copy()
    for i in range(params.size):
        params[i] = saved[i] + h
        up = twin.loss(X, y, loss)
        params[i] = saved[i] - h
        down = twin.loss(X, y, loss)
        params[i] = saved[i]
        grad[i] = (up - down) / (2 * h)
    return grad


def check_gradients(network, X, y, loss=None, h=1e-5):
    """The largest relative error between backpropagation and central differences.

    max |analytic - numeric| / max(1e-8, |analytic| + |numeric|) over all
    parameters. The gradients agree when it is below ~1e-7 for a float64
    network, ~1e-3 for a float32 one (whose backpropagation runs in float32).
    """
    analytic = network.gradients(X, y, loss).astype(np.float64)
    numeric = numerical_gradient(network, X, y, loss, h)
    scale = np.maximum(1e-8, np.abs(analytic) + np.abs(numeric))
    return float(np.max(np.abs(analytic - numeric) / scale))


def _float64_copy(network):
    """A float64 network with the architecture, backend and parameters of `network`."""
    from .network import Network
    sizes, activations = network.layer_sizes, network.activations
    twin = Network([sizes[0]] + list(zip(sizes[1:], activations)), dtype=np.float64,
                   init="zeros", backend=network.backend)
    with network._lock:                 # not halfway through another thread's update
        twin.parameters = network._params
    return twin
