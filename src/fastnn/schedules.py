"""Learning-rate schedules, with the semantics of ``torch.optim.lr_scheduler``.

A schedule turns the optimizer's learning rate (the base rate) into the rate
of each epoch. It counts the epochs of the optimizer's state, which persists
between ``fit`` calls: a second fit continues the schedule where the first
stopped (``Network.reset_optimizer()`` starts it afresh). Every schedule but
ReduceLROnPlateau is evaluated inside the compiled loop; ReduceLROnPlateau
decides between epochs (so a fit with it runs one compiled call per epoch).
``History.learning_rate`` records the rate of each epoch.

    net.fit(X, y, epochs=100, optimizer="adam", schedule="cosine")     # T_max: the fit
    net.fit(X, y, schedule=fastnn.schedules.StepLR(step_size=30, gamma=0.1))
"""
import math

import numpy as np

from . import _options
from ._options import (REQUIRED, Configurable, non_negative, optional, positive,
                       positive_count, unit_interval)
from ._options import count as _count


class Schedule(Configurable):
    """A learning-rate schedule (see the module's docstring)."""
    #: the kernels' name of the schedule, None for one decided between epochs
    compiled_name = None

    def compiled(self, first_epoch, epochs):
        """(kernel schedule name, its 4 parameters) for a fit of `epochs` epochs whose
        first epoch is the state's epoch `first_epoch`."""
        return self.compiled_name, np.zeros(4)


class Constant(Schedule):
    """The base rate in every epoch."""
    name = compiled_name = "constant"


class StepLR(Schedule):
    """base * gamma ** (epoch // step_size) (torch.optim.lr_scheduler.StepLR)."""
    name, compiled_name = "step", "step"
    OPTIONS = {"step_size": (REQUIRED, positive_count), "gamma": (0.1, positive)}

    def compiled(self, first_epoch, epochs):
        return "step", np.array([self.step_size, self.gamma, 0.0, 0.0])


class ExponentialLR(Schedule):
    """base * gamma ** epoch (torch.optim.lr_scheduler.ExponentialLR)."""
    name, compiled_name = "exponential", "exponential"
    OPTIONS = {"gamma": (REQUIRED, positive)}

    def compiled(self, first_epoch, epochs):
        return "exponential", np.array([self.gamma, 0.0, 0.0, 0.0])


class CosineAnnealingLR(Schedule):
    """Cosine annealing from the base rate to eta_min over T_max epochs, after an optional
    linear warm-up (LinearLR from warmup_start_factor * base over warmup_epochs epochs,
    then CosineAnnealingLR's closed form, as torch's SequentialLR chains them).

    T_max=None anneals over the rest of the fit: eta_min is reached at its end. As
    in PyTorch, past T_max the rate rises again along the cosine.
    """
    name, compiled_name = "cosine", "cosine"
    OPTIONS = {"T_max": (None, optional(positive_count)), "eta_min": (0.0, non_negative),
               "warmup_epochs": (0, _count), "warmup_start_factor": (1 / 3, unit_interval)}

    def compiled(self, first_epoch, epochs):
        t_max = self.T_max
        if t_max is None:
            t_max = max(1, first_epoch + epochs - self.warmup_epochs)
        return "cosine", np.array([t_max, self.eta_min, self.warmup_epochs,
                                   self.warmup_start_factor])


class InverseScaling(Schedule):
    """base / (samples + 1) ** power_t, samples seen before the epoch (scikit-learn's
    learning_rate='invscaling')."""
    name, compiled_name = "invscaling", "invscaling"
    OPTIONS = {"power_t": (0.5, non_negative)}

    def compiled(self, first_epoch, epochs):
        return "invscaling", np.array([self.power_t, 0.0, 0.0, 0.0])


class ReduceLROnPlateau(Schedule):
    """Multiply the rate by `factor` when the monitored loss has not improved for
    `patience` epochs (torch.optim.lr_scheduler.ReduceLROnPlateau, mode 'min',
    threshold_mode 'rel'). The monitored loss is the validation loss with
    ``validation_data``, else the training loss. Decided between epochs."""
    name = "plateau"
    OPTIONS = {"factor": (0.1, unit_interval), "patience": (10, _count),
               "threshold": (1e-4, non_negative), "cooldown": (0, _count),
               "min_lr": (0.0, non_negative)}

    def _check_together(self):
        if not self.factor < 1:
            raise ValueError(f"ReduceLROnPlateau(factor=...) must be < 1, got {self.factor}")

    def compiled(self, first_epoch, epochs):
        return "constant", np.zeros(4)

    def start(self, rate):
        """The state of a fresh plateau schedule starting at `rate`."""
        return {"rate": rate, "best": math.inf, "bad_epochs": 0, "cooldown": 0}

    def step(self, state, loss):
        """Record the monitored loss of an epoch; lowers state["rate"] after a plateau."""
        if loss < state["best"] * (1 - self.threshold):   # NaN never improves
            state["best"], state["bad_epochs"] = float(loss), 0
        else:
            state["bad_epochs"] += 1
        if state["cooldown"] > 0:
            state["cooldown"] -= 1
            state["bad_epochs"] = 0
        if state["bad_epochs"] > self.patience:
            new = max(state["rate"] * self.factor, self.min_lr)
            if state["rate"] - new > 1e-8:
                state["rate"] = new
            state["cooldown"], state["bad_epochs"] = self.cooldown, 0


#: The schedules by name.
SCHEDULES = {cls.name: cls for cls in (Constant, StepLR, ExponentialLR, CosineAnnealingLR,
                                       InverseScaling, ReduceLROnPlateau)}


def get(schedule):
    """A Schedule from None (constant), a name, a dict {"name": ..., **options} or a Schedule."""
    return Constant() if schedule is None else _options.build(schedule, SCHEDULES, "schedule")
