"""The fit loop around the backends' train_epochs: chunks of epochs, shuffling, what is
decided between epochs (early stopping, ReduceLROnPlateau), progress, the History, and
the optimizer's state that persists between fits."""
import math
from dataclasses import dataclass, field

import numpy as np

from .errors import TrainingDivergedError
from .optimizers import Optimizer
from .schedules import ReduceLROnPlateau, Schedule

#: Shuffled epochs are planned in chunks of at most this many sample indices.
_MAX_ORDER_ENTRIES = 1 << 22
#: Epochs per compiled call at most, so that fit(epochs=10**9, target_loss=...) does not
#: reserve a loss buffer for epochs it may never run.
_MAX_CHUNK_EPOCHS = 1 << 16

#: Why a fit stopped. Codes 0-3 are the engine's (train_epochs returns 0-2; 3 is its
#: interrupt, which raises); 4 and 5 are decided here, between compiled calls, by a callback
#: (4: EarlyStopping, whose ``stop_reason`` is "patience"; 5: any other).
STOP_REASONS = ("epochs", "target_loss", "diverged", "interrupted", "patience", "callback")
STOP_DIVERGED, STOP_PATIENCE, STOP_CALLBACK = 2, 4, 5


@dataclass
class Plan:
    """What one fit call asks for (validated by Network.fit)."""
    epochs: int
    batch_size: int
    loss: str
    shuffle: bool
    rng: np.random.Generator
    optimizer: Optimizer
    schedule: Schedule
    clip_norm: float = 0.0
    target_loss: float = None
    validation: object = None       # a function: (loss, accuracy or None) on held-out data
    accuracy: object = None         # a function: the accuracy on the training data, now
    callbacks: list = field(default_factory=list)


class TrainingState:
    """The optimizer's state on a Network: its settings, buffers and counters.

    ``buffers`` (the rule's moments, step sizes, ...) and ``counters`` (int64:
    updates, epochs and samples so far) are updated in place by the engine,
    which restores them with the parameters when an epoch diverges or is
    interrupted. ``plateau`` is ReduceLROnPlateau's state, when one was used.
    """

    def __init__(self, optimizer, n_params, dtype):
        self.optimizer = optimizer
        self.buffers = optimizer.initial_state(n_params, dtype)
        self.counters = np.zeros(3, np.int64)
        self.plateau = None         # (the schedule, its state dict)

    @property
    def step(self):
        return int(self.counters[0])

    @property
    def epoch(self):
        return int(self.counters[1])

    @property
    def samples(self):
        return int(self.counters[2])

    def describe(self):
        """A snapshot: settings, counters and a copy of the buffers."""
        return {"optimizer": self.optimizer, "step": self.step, "epoch": self.epoch,
                "samples": self.samples, "buffers": self.buffers.copy()}


class History:
    """What one fit did: the loss and learning rate of each epoch run, and why it stopped.

    Epochs are counted from 0, as list indices: ``loss[e]``, ``val_loss[e]``,
    ``accuracy[e]``, ``val_accuracy[e]`` and ``learning_rate[e]`` belong to
    epoch ``e`` of this fit, ``best_epoch`` is such an index, and a callback's
    ``on_epoch_end(epoch, logs)`` gets it too; ``epochs`` is the number run.
    Each ``fit`` returns a new History of its own epochs (``net.history`` is
    replaced, not appended to; the optimizer's state and its schedule continue).

    The losses are kept as float64 arrays filled by the compiled engine as
    epochs complete (8 bytes per epoch), so the history agrees with the
    parameters after any exception; ``loss`` converts them to a list when read.
    ``val_loss`` and ``val_accuracy`` (a classification output: sigmoid or
    softmax) are recorded with ``validation_data``, ``accuracy`` with
    ``metrics=["accuracy"]``.
    """

    def __init__(self):
        self._chunks = []          # [losses (NaN after the last completed epoch), rates, run]
        self.stopped = "interrupted"    # until the fit ends otherwise
        self.val_loss = []
        self.val_accuracy = []
        self.accuracy = []
        self.best_epoch = None
        self._restored = False

    def _new_chunk(self, count, rate):
        """Buffers for a compiled call of `count` epochs; rate: the constant rate, or None
        for a per-epoch rates buffer."""
        losses = np.full(count, np.nan)
        rates = np.full(count, np.nan) if rate is None else rate
        self._chunks.append([losses, rates, None])
        return losses, (rates if rate is None else None)

    def _close_chunk(self, ran):
        self._chunks[-1][2] = ran

    @staticmethod
    def _run(chunk):
        losses, _, ran = chunk
        # an interrupted call ran its epochs up to the first NaN (a NaN loss otherwise
        # only ends a diverged call, which returns and is closed)
        return ran if ran is not None else int(np.argmax(np.isnan(np.append(losses, np.nan))))

    @property
    def loss_array(self):
        """The loss of each epoch, as a float64 array."""
        return np.concatenate([c[0][:self._run(c)] for c in self._chunks] or [np.empty(0)])

    @property
    def loss(self):
        """The loss of each epoch (a list)."""
        return self.loss_array.tolist()

    @property
    def learning_rate(self):
        """The learning rate used in each epoch (a list)."""
        parts = []
        for chunk in self._chunks:
            run = self._run(chunk)
            rates = chunk[1]
            parts.append(rates[:run] if isinstance(rates, np.ndarray) else np.full(run, rates))
        return np.concatenate(parts or [np.empty(0)]).tolist()

    @property
    def epochs(self):
        """The number of epochs run."""
        return sum(self._run(c) for c in self._chunks)

    @property
    def restored(self):
        """True when early stopping restored the parameters of ``best_epoch``."""
        return self._restored

    @property
    def final_loss(self):
        """The training loss of the epoch whose parameters the network holds: the last
        epoch's, or the best epoch's when early stopping restored it (None before any)."""
        if self._restored and self.best_epoch is not None:
            return float(self.loss_array[self.best_epoch])
        for chunk in reversed(self._chunks):
            run = self._run(chunk)
            if run:
                return float(chunk[0][run - 1])
        return None

    def plot(self, ax=None):
        """Plot the loss (and validation loss) per epoch, and the accuracies when recorded.

        Needs matplotlib. ax: None (a new figure: one panel, or two when
        accuracies are recorded), one Axes, or a sequence of two. Returns the
        Axes drawn on (a list).
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError("History.plot() needs matplotlib, which is not installed: "
                              "pip install matplotlib") from None
        panels = 2 if self.accuracy or self.val_accuracy else 1
        if ax is None:
            _, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.5), squeeze=False)
            axes = list(axes[0])
        else:
            axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
            if len(axes) < panels:
                raise ValueError(f"ax must hold {panels} Axes for this history (loss and "
                                 f"accuracy), got {len(axes)}")
        series = [[("loss", self.loss), ("val_loss", self.val_loss)],
                  [("accuracy", self.accuracy), ("val_accuracy", self.val_accuracy)]]
        for axis, lines in zip(axes, series[:panels]):
            for name, values in lines:
                if values:
                    axis.plot(range(len(values)), values, label=name)
            if self.best_epoch is not None:
                axis.axvline(self.best_epoch, color="0.6", linestyle=":", label="best epoch")
            axis.set_xlabel("epoch")
            axis.set_ylabel(lines[0][0])
            axis.legend()
        return axes

    def __repr__(self):
        return (f"History(epochs={self.epochs}, final_loss={self.final_loss!r}, "
                f"stopped={self.stopped!r})")


def run(backend, X, Y, params, sizes, activations, state, plan, history, network=None):
    """Train in place; the epochs run in compiled calls of many epochs each.

    ``history`` is filled as the epochs complete, so it agrees with the
    parameters whatever exception ends the fit (Ctrl-C, divergence, an error
    in the validation pass or in a callback). Memory for the losses grows with
    the epochs run, not with the epochs asked for.

    Every epoch is its own compiled call when something must happen after each
    (validation data, training accuracy, ReduceLROnPlateau, a callback with
    ``every == 1``); otherwise the epochs between the callbacks' calls run in
    one compiled call (the whole fit, without callbacks). After each epoch
    (or chunk) the metrics are recorded, ReduceLROnPlateau steps on the
    monitored loss (the validation loss if given, else the training loss),
    and the due callbacks run; one returning True stops training.
    """
    n = X.shape[0]
    callbacks = plan.callbacks
    for callback in callbacks:
        if hasattr(callback, "on_fit_begin"):
            callback.on_fit_begin(network, plan.epochs)
    try:
        return _run(backend, X, Y, params, sizes, activations, state, plan, history, n)
    finally:
        for callback in callbacks:
            if hasattr(callback, "on_fit_end"):
                callback.on_fit_end(history)


def _run(backend, X, Y, params, sizes, activations, state, plan, history, n):
    callbacks = plan.callbacks
    plateau = _plateau_state(plan, state)
    per_epoch = plan.validation is not None or plan.accuracy is not None or plateau
    intervals = [_every(c) for c in callbacks if hasattr(c, "on_epoch_end")]
    chunk = 1 if per_epoch else min(math.gcd(*intervals) if intervals else plan.epochs,
                                    _MAX_CHUNK_EPOCHS)
    if plan.shuffle:
        chunk = min(chunk, max(1, _MAX_ORDER_ENTRIES // n))
    optimizer = state.optimizer
    hyperparameters = optimizer.hyperparameters()
    schedule, schedule_parameters = plan.schedule.compiled(state.epoch, plan.epochs)
    target = -np.inf if plan.target_loss is None else plan.target_loss
    done, stop = 0, 0
    while done < plan.epochs and stop == 0:
        count = min(chunk, plan.epochs - done)
        order = None
        if plan.shuffle:
            order = plan.rng.permuted(np.broadcast_to(np.arange(n), (count, n)), axis=1)
        rate = plateau["rate"] if plateau else optimizer.learning_rate
        losses, rates = history._new_chunk(count, rate if schedule == "constant" else None)
        ran, stop = backend.train_epochs(
            X, Y, params, sizes, activations, plan.loss, plan.batch_size, count,
            optimizer=optimizer.name, hyperparameters=hyperparameters, learning_rate=rate,
            state=state.buffers, counters=state.counters, schedule=schedule,
            schedule_parameters=schedule_parameters, clip_norm=plan.clip_norm, order=order,
            target_loss=target, losses_out=losses, rates_out=rates)
        history._close_chunk(ran)
        done += ran
        if stop == STOP_DIVERGED:
            break
        last = done == plan.epochs or stop != 0
        due = [c for c in callbacks if hasattr(c, "on_epoch_end")
               and (last or done % _every(c) == 0)]
        if not (per_epoch or due):
            continue
        logs = {"loss": float(losses[ran - 1]),
                "learning_rate": float(rate if rates is None else rates[ran - 1])}
        if plan.validation is not None:
            val_loss, val_accuracy = plan.validation()
            history.val_loss.append(val_loss)
            logs["val_loss"] = val_loss
            if val_accuracy is not None:
                history.val_accuracy.append(val_accuracy)
                logs["val_accuracy"] = val_accuracy
        if plan.accuracy is not None:
            logs["accuracy"] = plan.accuracy()
            history.accuracy.append(logs["accuracy"])
        if plateau:
            plan.schedule.step(plateau, logs.get("val_loss", logs["loss"]))
        for callback in due:
            if callback.on_epoch_end(done - 1, logs) and not stop:
                stop = STOP_PATIENCE if getattr(callback, "stop_reason", None) == "patience" \
                    else STOP_CALLBACK
    history.stopped = STOP_REASONS[stop]
    if stop == STOP_DIVERGED:
        last = history.final_loss
        if not np.isfinite(last):
            what = f"the training loss became {last}"
        else:
            what = "the parameters overflowed"
        raise TrainingDivergedError(
            f"{what} at epoch {done - 1} (history.loss[{done - 1}]): "
            f"{''.join(h + '; or ' for h in unscaled_data(X, Y, plan.loss))}reduce "
            f"learning_rate (now {rate}) or clip the gradient (clip_norm=...); the network is "
            f"left as it was at the start of that epoch", history)
    return history


def _every(callback):
    """How often a callback's on_epoch_end wants to run (a positive int)."""
    every = getattr(callback, "every", 1)
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"{type(callback).__name__}.every must be an integer >= 1, "
                         f"got {every!r}")
    return every


def unscaled_data(X, Y, loss):
    """What in the data is likely to make training diverge, as advice: unscaled inputs,
    unscaled targets (for mse), both or neither (a list)."""
    # a column whose mean magnitude is above 10 is not standardised (those are about 0.8)
    hints = []
    inputs, targets = np.abs(X).mean(0).max(), np.abs(Y).mean(0).max()
    if inputs > 10:
        hints.append(f"the inputs are not scaled (a column's mean magnitude is {inputs:.3g}): "
                     f"standardise them, e.g. (X - X.mean(0)) / X.std(0)")
    if loss == "mse" and targets > 10:
        hints.append(f"the targets are not scaled (a column's mean magnitude is "
                     f"{targets:.3g}): standardise y too, and undo it on the predictions")
    return hints


def _plateau_state(plan, state):
    """ReduceLROnPlateau's state on the TrainingState (started afresh for a new schedule)."""
    if not isinstance(plan.schedule, ReduceLROnPlateau):
        return None
    if state.plateau is None or state.plateau[0] != plan.schedule:
        state.plateau = (plan.schedule, plan.schedule.start(state.optimizer.learning_rate))
    return state.plateau[1]


def progress_callback(verbose):
    """The ProgressBar for fit's ``verbose`` (None for False); ValueError for bad values."""
    if verbose is False or verbose is None or verbose == 0 and not isinstance(verbose, bool):
        return None
    from .callbacks import ProgressBar
    if verbose is True:
        return ProgressBar()
    if isinstance(verbose, int) and not isinstance(verbose, bool) and verbose > 0:
        return ProgressBar(every=verbose, live=False)
    raise ValueError(f"verbose must be True, False or a number of epochs > 0, got {verbose!r}")
