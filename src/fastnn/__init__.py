"""fastnn: fast, clear multi-layer perceptrons on the CPU.

The arithmetic lives in two interchangeable backends with the same functions:
the compiled Cython kernels (``fastnn.kernels``, the default) and
``fastnn._reference`` (plain NumPy, the ground truth). The compiled module is
chosen for this CPU by ``fastnn._dispatch`` (AVX2 + FMA build or baseline);
a broken build fails loudly at import instead of falling back to slow code.
"""
from . import callbacks, losses
from ._dispatch import kernels
from ._version import __version__
from .errors import ModelFormatError, TrainingDivergedError
from .gradcheck import check_gradients, numerical_gradient
from .network import BACKENDS, Layer, Network
from .neuron import Neuron
from .training import History

__all__ = ["BACKENDS", "History", "Layer", "callbacks", "ModelFormatError", "Network", "Neuron",
           "TrainingDivergedError", "check_gradients", "kernels", "losses",
           "numerical_gradient", "__version__"]
