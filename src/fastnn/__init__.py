"""fastnn: fast, clear multi-layer perceptrons on the CPU.

The arithmetic lives in two interchangeable backends with the same functions:
``fastnn._kernels`` (compiled Cython, the default) and ``fastnn._reference``
(plain NumPy, the ground truth). The compiled module is imported directly:
a broken build fails loudly here instead of falling back to slow code.
"""
from . import _kernels, _reference
from ._version import __version__

#: The arithmetic backends by name: same functions, same signatures, same results.
BACKENDS = {"compiled": _kernels, "numpy": _reference}

__all__ = ["BACKENDS", "__version__"]
