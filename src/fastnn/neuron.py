"""Neuron: the one-neuron network, for teaching and worked examples."""
import numpy as np

from . import validation
from .network import Network


class Neuron(Network):
    """One neuron: y = f(w . x + b), a Network with a single one-unit layer.

    >>> Neuron(weights=[0, 1], bias=4).feedforward([2, 3])
    0.9990889488055994
    """

    def __init__(self, weights, bias=0.0, activation="sigmoid", dtype=np.float64,
                 backend="compiled"):
        w = validation.as_array(weights, None, np.float64, "weights")
        if w.ndim != 1 or w.size == 0:
            raise ValueError(f"weights must be a non-empty 1-d list of numbers, got shape {w.shape}")
        b = validation.as_array(bias, None, np.float64, "bias")
        if b.ndim != 0:
            raise ValueError(f"bias must be one number, got shape {b.shape}")
        super().__init__([w.size, 1], activation=activation, dtype=dtype, init="zeros",
                         weights=[w.reshape(-1, 1)], biases=[b.reshape(1)], backend=backend)

    @property
    def bias(self):
        return float(self.biases[0][0])

    def feedforward(self, x):
        """f(w . x + b): a float for one sample (1-d x), an array for a batch (2-d)."""
        out = super().feedforward(x)
        return float(out[0]) if out.ndim == 1 else out[:, 0]

    predict = feedforward

    def __repr__(self):
        return (f"Neuron(weights={self.weights[0][:, 0].tolist()}, bias={self.bias}, "
                f"activation={self.activations[0]!r})")
