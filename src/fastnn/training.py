"""The fit loop around the backends' train_epochs: chunks of epochs, shuffling, what is
decided between epochs (early stopping, ReduceLROnPlateau), progress, the History, and
the optimizer's state that persists between fits."""
from dataclasses import dataclass

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
#: interrupt, which raises); 4 is decided here, between compiled calls.
STOP_REASONS = ("epochs", "target_loss", "diverged", "interrupted", "patience")
STOP_DIVERGED, STOP_PATIENCE = 2, 4


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
    verbose: object = False
    patience: int = None            # epochs without improvement before stopping
    min_delta: float = 0.0          # the least decrease that counts as an improvement
    validation_loss: object = None  # a function: the loss on held-out data, now


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

    The losses are kept as float64 arrays filled by the compiled engine as
    epochs complete (8 bytes per epoch), so the history agrees with the
    parameters after any exception; ``loss`` converts them to a list when read.
    ``best_epoch`` (with patience) and ``val_loss`` (with validation data)
    count epochs from 1, like ``epochs``.
    """

    def __init__(self):
        self._chunks = []          # [losses (NaN after the last completed epoch), rates, run]
        self.stopped = "interrupted"    # until the fit ends otherwise
        self.val_loss = []
        self.best_epoch = None

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
    def final_loss(self):
        for chunk in reversed(self._chunks):
            run = self._run(chunk)
            if run:
                return float(chunk[0][run - 1])
        return None

    def __repr__(self):
        return (f"History(epochs={self.epochs}, final_loss={self.final_loss!r}, "
                f"stopped={self.stopped!r})")


def run(backend, X, Y, params, sizes, activations, state, plan, history, say=print):
    """Train in place; the epochs run in compiled calls of many epochs each.

    ``history`` is filled as the epochs complete, so it agrees with the
    parameters whatever exception ends the fit (Ctrl-C, divergence, an error
    in the validation pass or in printing). Memory for the losses grows with
    the epochs run, not with the epochs asked for.

    With ``plan.patience``, ``plan.validation_loss`` or a ReduceLROnPlateau
    schedule every epoch is its own compiled call, followed by the checks: the
    monitored loss (the validation loss if given, else the epoch's training
    loss) must fall by more than ``min_delta`` within ``patience`` epochs, or
    training stops and the parameters of the best epoch are restored.
    """
    n = X.shape[0]
    every = _progress_interval(plan.verbose, plan.epochs)
    monitor = _Monitor(plan, params, history) if plan.patience or plan.validation_loss else None
    plateau = _plateau_state(plan, state)
    chunk = 1 if monitor or plateau else min(every or plan.epochs, _MAX_CHUNK_EPOCHS)
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
        if stop != STOP_DIVERGED and (monitor or plateau):
            monitored = monitor.measure(losses[ran - 1]) if monitor else losses[ran - 1]
            if plateau:
                plan.schedule.step(plateau, monitored)
            if monitor and monitor.stops_after(done, monitored):
                stop = STOP_PATIENCE
        if every and (done % every == 0 or stop or done == plan.epochs):
            line = f"epoch {done:>{len(str(plan.epochs))}}/{plan.epochs}  loss {losses[ran - 1]:.6g}"
            say(line + (f"  val_loss {history.val_loss[-1]:.6g}" if history.val_loss else ""))
    if monitor and plan.patience:
        history.best_epoch = monitor.best_epoch
    history.stopped = STOP_REASONS[stop]
    if stop == STOP_DIVERGED:
        last = history.final_loss
        what = (f"the training loss became {last}" if not np.isfinite(last)
                else "the parameters overflowed")
        raise TrainingDivergedError(
            f"{what} at epoch {done}: reduce learning_rate (now {rate}), scale the "
            f"inputs and targets, or clip the gradient (clip_norm=...); the network is left "
            f"as it was at the start of epoch {done}", history)
    return history


def _plateau_state(plan, state):
    """ReduceLROnPlateau's state on the TrainingState (started afresh for a new schedule)."""
    if not isinstance(plan.schedule, ReduceLROnPlateau):
        return None
    if state.plateau is None or state.plateau[0] != plan.schedule:
        state.plateau = (plan.schedule, plan.schedule.start(state.optimizer.learning_rate))
    return state.plateau[1]


class _Monitor:
    """Validation losses and early stopping: the best monitored loss so far, its epoch
    and its parameters."""

    def __init__(self, plan, params, history):
        self.plan, self.params, self.history = plan, params, history
        self.best, self.best_epoch, self.best_params = np.inf, 0, params.copy()

    def measure(self, train_loss):
        """The monitored loss of the epoch just run (recording the validation loss)."""
        if self.plan.validation_loss is None:
            return float(train_loss)
        value = self.plan.validation_loss()
        self.history.val_loss.append(value)
        return value

    def stops_after(self, epoch, value):
        """Record epoch `epoch`'s monitored loss; True (best parameters restored) when
        patience runs out."""
        if value < self.best - self.plan.min_delta:      # NaN never improves
            self.best, self.best_epoch = value, epoch
            if self.plan.patience:
                self.best_params[...] = self.params
        elif self.plan.patience and epoch - self.best_epoch >= self.plan.patience:
            self.params[...] = self.best_params
            return True
        return False


def _progress_interval(verbose, epochs):
    if verbose is True:
        return max(1, epochs // 10)
    if not verbose:
        return 0
    if isinstance(verbose, int) and verbose > 0:
        return verbose
    raise ValueError(f"verbose must be True, False or a number of epochs > 0, got {verbose!r}")
