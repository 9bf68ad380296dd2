"""The fit loop around the backends' train_epochs: chunks, shuffling, progress, history."""
from dataclasses import dataclass, field

import numpy as np

from .errors import TrainingDivergedError

#: Shuffled epochs are planned in chunks of at most this many sample indices.
_MAX_ORDER_ENTRIES = 1 << 22
#: Epochs per compiled call at most, so that fit(epochs=10**9, target_loss=...) does not
#: reserve a loss buffer for epochs it may never run.
_MAX_CHUNK_EPOCHS = 1 << 16

STOP_REASONS = {0: "epochs", 1: "target_loss", 2: "diverged", 4: "patience"}
STOP_PATIENCE = 4       # decided here, between compiled calls (3 is the engine's interrupt)


@dataclass
class Plan:
    """What one fit call asks for (validated by Network.fit)."""
    epochs: int
    learning_rate: float
    batch_size: int
    loss: str
    shuffle: bool
    rng: np.random.Generator
    target_loss: float = None
    verbose: object = False
    patience: int = None            # epochs without improvement before stopping
    min_delta: float = 0.0          # the least decrease that counts as an improvement
    validation_loss: object = None  # a function: the loss on held-out data, now


@dataclass
class History:
    """What one fit did: the loss of each epoch run, and why it stopped."""
    loss: list = field(default_factory=list)
    stopped: str = "epochs"   # "epochs", "target_loss", "patience", "diverged" or "interrupted"
    val_loss: list = field(default_factory=list)   # per epoch, with validation_data
    best_epoch: int = None    # the epoch whose parameters were kept, with patience

    @property
    def epochs(self):
        """The number of epochs run."""
        return len(self.loss)

    @property
    def final_loss(self):
        return self.loss[-1] if self.loss else None

    def __repr__(self):
        return (f"History(epochs={self.epochs}, final_loss={self.final_loss!r}, "
                f"stopped={self.stopped!r})")


def run(backend, X, Y, params, sizes, activations, plan, record, say=print):
    """Train in place; the epochs run in compiled calls of many epochs each.

    ``record(history)`` receives the History before anything is raised: after a
    divergence, and after an interrupt (Ctrl-C), when the network is at the end
    of the last completed epoch and the exception propagates. Memory for the
    losses grows with the epochs run, not with the epochs asked for.

    With ``plan.patience`` or ``plan.validation_loss`` every epoch is its own
    compiled call, followed by the check: the monitored loss (the validation
    loss if given, else the epoch's training loss) must fall by more than
    ``min_delta`` within ``patience`` epochs, or training stops and the
    parameters of the best epoch are restored.
    """
    n = X.shape[0]
    every = _progress_interval(plan.verbose, plan.epochs)
    monitor = _Monitor(plan, params) if plan.patience or plan.validation_loss else None
    chunk = 1 if monitor else min(every or plan.epochs, _MAX_CHUNK_EPOCHS)
    if plan.shuffle:
        chunk = min(chunk, max(1, _MAX_ORDER_ENTRIES // n))
    losses = []                                 # the losses of each chunk run
    done, stop = 0, 0

    def history(stopped):
        return History(loss=np.concatenate(losses).tolist() if losses else [], stopped=stopped,
                       val_loss=monitor.val_loss if monitor else [],
                       best_epoch=monitor.best_epoch if monitor and plan.patience else None)

    while done < plan.epochs and stop == 0:
        count = min(chunk, plan.epochs - done)
        order = None
        if plan.shuffle:
            order = plan.rng.permuted(np.broadcast_to(np.arange(n), (count, n)), axis=1)
        chunk_losses = np.full(count, np.nan)   # NaN until an epoch completes
        try:
            ran, stop = backend.train_epochs(
                X, Y, params, sizes, activations, plan.loss, plan.learning_rate,
                plan.batch_size, count, order,
                -np.inf if plan.target_loss is None else plan.target_loss, chunk_losses)
        except BaseException:
            completed = int(np.argmax(np.isnan(np.append(chunk_losses, np.nan))))
            losses.append(chunk_losses[:completed])
            record(history("interrupted"))
            raise
        losses.append(chunk_losses[:ran])
        done += ran
        if monitor and stop != 2 and monitor.stops_after(done, chunk_losses[ran - 1]):
            stop = STOP_PATIENCE
        if every and (done % every == 0 or stop or done == plan.epochs):
            line = f"epoch {done:>{len(str(plan.epochs))}}/{plan.epochs}  loss {losses[-1][-1]:.6g}"
            say(line + (f"  val_loss {monitor.val_loss[-1]:.6g}"
                        if monitor and monitor.val_loss else ""))
    result = history(STOP_REASONS[stop])
    record(result)
    if stop == 2:
        last = result.loss[-1]
        what = (f"the training loss became {last}" if not np.isfinite(last)
                else "the parameters overflowed")
        raise TrainingDivergedError(
            f"{what} at epoch {done}: reduce "
            f"learning_rate (now {plan.learning_rate}) or scale the inputs; the network "
            f"is left as it was at the start of epoch {done}", result)
    return result


class _Monitor:
    """Early stopping: the best monitored loss so far, its epoch and its parameters."""

    def __init__(self, plan, params):
        self.plan, self.params = plan, params
        self.val_loss = []
        self.best, self.best_epoch, self.best_params = np.inf, 0, params.copy()

    def stops_after(self, epoch, train_loss):
        """Record epoch `epoch`; True (best parameters restored) when patience runs out."""
        value = train_loss
        if self.plan.validation_loss is not None:
            value = self.plan.validation_loss()
            self.val_loss.append(value)
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
