"""The fit loop around the backends' train_epochs: chunks, shuffling, progress, history."""
from dataclasses import dataclass, field

import numpy as np

from .errors import TrainingDivergedError

#: Shuffled epochs are planned in chunks of at most this many sample indices.
_MAX_ORDER_ENTRIES = 1 << 22
#: Epochs per compiled call at most, so that fit(epochs=10**9, target_loss=...) does not
#: reserve a loss buffer for epochs it may never run.
_MAX_CHUNK_EPOCHS = 1 << 16

STOP_REASONS = {0: "epochs", 1: "target_loss", 2: "diverged"}


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


@dataclass
class History:
    """What one fit did: the loss of each epoch run, and why it stopped."""
    loss: list = field(default_factory=list)
    stopped: str = "epochs"      # "epochs", "target_loss", "diverged" or "interrupted"

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
    """
    n = X.shape[0]
    every = _progress_interval(plan.verbose, plan.epochs)
    chunk = min(every or plan.epochs, _MAX_CHUNK_EPOCHS)
    if plan.shuffle:
        chunk = min(chunk, max(1, _MAX_ORDER_ENTRIES // n))
    losses = []                                 # the losses of each chunk run
    done, stop = 0, 0
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
            record(History(loss=np.concatenate(losses).tolist(), stopped="interrupted"))
            raise
        losses.append(chunk_losses[:ran])
        done += ran
        if every and (done % every == 0 or stop or done == plan.epochs):
            say(f"epoch {done:>{len(str(plan.epochs))}}/{plan.epochs}  loss {losses[-1][-1]:.6g}")
    history = History(loss=np.concatenate(losses).tolist(), stopped=STOP_REASONS[stop])
    record(history)
    if stop == 2:
        last = history.loss[-1]
        what = (f"the training loss became {last}" if not np.isfinite(last)
                else "the parameters overflowed")
        raise TrainingDivergedError(
            f"{what} at epoch {done}: reduce "
            f"learning_rate (now {plan.learning_rate}) or scale the inputs; the network "
            f"is left as it was at the start of epoch {done}", history)
    return history


def _progress_interval(verbose, epochs):
    if verbose is True:
        return max(1, epochs // 10)
    if not verbose:
        return 0
    if isinstance(verbose, int) and verbose > 0:
        return verbose
    raise ValueError(f"verbose must be True, False or a number of epochs > 0, got {verbose!r}")
