"""Optimizers: the update rules of ``torch.optim``, run inside fastnn's compiled loop.

Each class holds settings only; the state (moments, step count, Rprop's step
sizes) lives on the Network that is trained with it, persists between ``fit``
calls and is saved with the model. Pass an instance or a name to
``Network.fit(optimizer=...)``::

    net.fit(X, y, optimizer="adam")                                  # PyTorch's defaults
    net.fit(X, y, optimizer=fastnn.optimizers.Adam(learning_rate=1e-3, betas=(0.9, 0.99)))

Every rule is the one PyTorch documents for the class of the same name, in
the same order of operations, with the same defaults and the same meaning of
``weight_decay``: SGD, Adam, RMSprop and Adagrad add ``weight_decay * p`` to
the gradient (L2, coupled); AdamW first multiplies the parameters by
``1 - learning_rate * weight_decay`` (decoupled). The one deliberate
difference: SGD's default learning rate is 0.01 (PyTorch's is 1e-3): with
``fit``'s default batches of 32 it trains small networks on standardised data
(digits, breast cancer, wine, diabetes) in 200 epochs without diverging, with
a margin of 3x (0.1 diverges on diabetes).

Weight decay and biases: PyTorch decays every parameter it is given, and so
does fastnn by default (``decay_biases=True``). scikit-learn's ``alpha`` adds
``alpha / (2 n) * sum(W**2)`` to the mean loss of a batch of n samples, over
weights only: that is ``weight_decay = alpha / batch_size`` with
``decay_biases=False`` (exact for full batches; scikit-learn scales a smaller
last batch by its own size).
"""
import numpy as np

from . import _options
from ._dispatch import kernels
from ._options import (REQUIRED, Configurable, flag, fraction, non_negative, pair,  # noqa: F401
                       positive, unit_interval)

# option names that are pairs in the API and two slots in the kernels' hyperparameters
_PAIRS = {"betas": ("beta1", "beta2"), "etas": ("eta_minus", "eta_plus"),
          "step_sizes": ("step_min", "step_max")}


class Optimizer(Configurable):
    """An update rule and its settings (see the module's docstring)."""

    # An optimizer does not change after its construction: the two below are computed
    # once (they took 6 of the 45 us of a one-epoch fit) and kept beside the options
    # (not pickled: __getstate__ saves the options only).

    def hyperparameters(self):
        """The settings as the kernels take them: float64 values named by
        ``kernels.HYPERPARAMETERS`` (read-only)."""
        cached = self.__dict__.get("_hyperparameters")
        if cached is None:
            flat = {}
            for name, value in self._options.items():
                if name in _PAIRS:
                    flat.update(zip(_PAIRS[name], value))
                else:
                    flat[name] = float(value)
            flat.setdefault("decay_biases", 1.0)
            cached = np.array([flat.get(name, 0.0) for name in kernels.HYPERPARAMETERS])
            cached.flags.writeable = False
            self.__dict__["_hyperparameters"] = cached
        return cached

    def settings(self):
        """What identifies the optimizer's state: the rule and every option but the
        learning rate (a new rate keeps the moments, as in PyTorch and Keras)."""
        cached = self.__dict__.get("_settings")
        if cached is None:
            cached = (self.name, tuple((k, v) for k, v in self._options.items()
                                       if k != "learning_rate"))
            self.__dict__["_settings"] = cached
        return cached

    def initial_state(self, n_params, dtype):
        """A fresh state: the buffers of the rule for n_params parameters, zeros."""
        return np.zeros(kernels.state_size(self.name, self.hyperparameters(), n_params), dtype)


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum, dampening and Nesterov momentum.

    g += weight_decay p; with momentum mu: b = g (first step) or mu b + (1 -
    dampening) g, then g = g + mu b (nesterov) or b; p -= learning_rate g.

    >>> SGD(learning_rate=0.05, momentum=0.9)
    SGD(learning_rate=0.05, momentum=0.9)
    """
    name = "sgd"
    OPTIONS = {"learning_rate": (0.01, positive), "momentum": (0.0, non_negative),
               "dampening": (0.0, unit_interval), "nesterov": (False, flag),
               "weight_decay": (0.0, non_negative), "decay_biases": (True, flag)}

    def _check_together(self):
        if self.nesterov and (self.momentum == 0 or self.dampening != 0):
            raise ValueError("SGD(nesterov=True) needs momentum > 0 and dampening = 0, got "
                             f"momentum={self.momentum}, dampening={self.dampening}")


class Adam(Optimizer):
    """Adam (Kingma and Ba), with the bias corrections, L2 weight decay and AMSGrad.

    g += weight_decay p; m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2)
    g^2; (amsgrad: v_max = max(v_max, v), used for v); p -= lr / (1 - beta1^t)
    m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
    """
    name = "adam"
    OPTIONS = {"learning_rate": (1e-3, positive), "betas": ((0.9, 0.999), pair(fraction)),
               "eps": (1e-8, non_negative), "weight_decay": (0.0, non_negative),
               "amsgrad": (False, flag), "decay_biases": (True, flag)}


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr weight_decay, then Adam's step."""
    name = "adamw"
    OPTIONS = {**Adam.OPTIONS, "weight_decay": (1e-2, non_negative)}


class RMSprop(Optimizer):
    """RMSprop, optionally centered and with momentum.

    g += weight_decay p; v = alpha v + (1 - alpha) g^2; avg = sqrt(v) (centered:
    sqrt(v - mean(g)^2)) + eps; with momentum: b = momentum b + g / avg, p -= lr
    b; else p -= lr g / avg.
    """
    name = "rmsprop"
    OPTIONS = {"learning_rate": (1e-2, positive), "alpha": (0.99, unit_interval),
               "eps": (1e-8, non_negative), "weight_decay": (0.0, non_negative),
               "momentum": (0.0, non_negative), "centered": (False, flag),
               "decay_biases": (True, flag)}


class Adagrad(Optimizer):
    """Adagrad: s += g^2; p -= lr / (1 + (t - 1) lr_decay) g / (sqrt(s) + eps)."""
    name = "adagrad"
    OPTIONS = {"learning_rate": (1e-2, positive), "lr_decay": (0.0, non_negative),
               "weight_decay": (0.0, non_negative),
               "initial_accumulator_value": (0.0, non_negative),
               "eps": (1e-10, non_negative), "decay_biases": (True, flag)}

    def initial_state(self, n_params, dtype):
        return np.full(n_params, self.initial_accumulator_value, dtype)


def _etas(value, name):
    minus, plus = pair(positive)(value, name)
    if not 0 < minus < 1 < plus:
        raise ValueError(f"{name} must be (eta_minus, eta_plus) with 0 < eta_minus < 1 < "
                         f"eta_plus, got {value!r}")
    return minus, plus


def _step_sizes(value, name):
    low, high = pair(non_negative)(value, name)
    if not low <= high or high == 0:
        raise ValueError(f"{name} must be (min, max) with 0 <= min <= max and max > 0, "
                         f"got {value!r}")
    return low, high


class Rprop(Optimizer):
    """Resilient backpropagation (Riedmiller and Braun), the classic default of FANN.

    Each parameter has its own step, starting at learning_rate: it grows by
    eta_plus while the gradient keeps its sign, shrinks by eta_minus when it
    flips (and that parameter does not move in that step), clipped to
    step_sizes; p -= step sign(g). It needs full batches (batch_size=None).
    """
    name = "rprop"
    OPTIONS = {"learning_rate": (1e-2, positive), "etas": ((0.5, 1.2), _etas),
               "step_sizes": ((1e-6, 50.0), _step_sizes)}


#: The optimizers by name.
OPTIMIZERS = {cls.name: cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Rprop)}


#: (name, learning_rate) -> the Optimizer get built for them: optimizers do not change,
#: and building one from a name took 5 of the 45 us of a one-epoch fit
_BY_NAME = {}


def get(optimizer, learning_rate=None):
    """An Optimizer from a name, a dict {"name": ..., **options} or an Optimizer;
    `learning_rate`, when not None, replaces its learning rate."""
    if type(optimizer) is not str or type(learning_rate) not in (float, type(None)):
        return _options.build(optimizer, OPTIMIZERS, "optimizer", learning_rate=learning_rate)
    key = (optimizer, learning_rate)
    built = _BY_NAME.get(key)
    if built is None:
        built = _options.build(optimizer, OPTIMIZERS, "optimizer", learning_rate=learning_rate)
        if len(_BY_NAME) >= 256:
            _BY_NAME.clear()
        _BY_NAME[key] = built
    return built
