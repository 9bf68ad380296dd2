"""Callbacks: code that runs between the compiled calls of ``Network.fit``.

``fit(callbacks=[...])`` takes objects with any of these methods (subclass
``Callback`` to get them all):

- ``on_fit_begin(network, epochs)``: before the first epoch; ``network`` is the
  Network being trained, ``epochs`` the most this fit will run.
- ``on_epoch_end(epoch, logs)``: after epoch ``epoch`` (counted from 0 in this
  fit, as ``history.loss[epoch]``); ``logs`` holds ``loss`` and
  ``learning_rate``, and ``val_loss``, ``val_accuracy`` and ``accuracy`` when
  they are recorded. Return True to stop training after this epoch.
- ``on_fit_end(history)``: after the last epoch, also when the fit ends by an
  exception (divergence, Ctrl-C).

An attribute ``every`` (default 1) says how often ``on_epoch_end`` needs to be
called: with 1 every epoch is its own compiled call; with k only every k-th
epoch (and the last) is seen, and the k epochs in between run in one compiled
call, so that a progress display does not slow a fit of tiny epochs down.

Early stopping (``EarlyStopping``, what ``fit(patience=...)`` uses),
checkpoints (``ModelCheckpoint``) and progress (``ProgressBar``, what
``fit(verbose=...)`` uses) are callbacks.
"""
import math
import os
import sys
import time

from . import validation

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "ProgressBar"]


class Callback:
    """The callback protocol, every method doing nothing (see the module's docstring)."""

    #: ``on_epoch_end`` is called after every ``every``-th epoch (and after the last).
    every = 1

    def on_fit_begin(self, network, epochs):
        """Before the first epoch of a fit of at most ``epochs`` epochs."""

    def on_epoch_end(self, epoch, logs):
        """After epoch ``epoch`` (0-based); return True to stop training."""

    def on_fit_end(self, history):
        """After the fit (also when it ends by an exception)."""


def _monitored(logs, monitor):
    """The value watched by a callback: ``monitor``, or val_loss when recorded, else loss."""
    if monitor is None:
        monitor = "val_loss" if "val_loss" in logs else "loss"
    if monitor not in logs:
        raise ValueError(f"monitor={monitor!r} is not recorded in this fit; recorded: "
                         f"{', '.join(sorted(logs))}")
    return monitor, logs[monitor]


def _check_monitor(monitor):
    if monitor is not None and monitor not in ("loss", "val_loss", "accuracy", "val_accuracy"):
        raise ValueError(f"monitor must be None, 'loss', 'val_loss', 'accuracy' or "
                         f"'val_accuracy'; got {monitor!r}")
    return monitor


def _improves(value, best, mode, min_delta):
    if mode == "min":
        return value < best - min_delta           # NaN never improves
    return value > best + min_delta


class EarlyStopping(Callback):
    """Stop when the monitored value has not improved for ``patience`` epochs.

    monitor: None (the validation loss when there is validation data, else
    the training loss), 'loss', 'val_loss', 'accuracy' or 'val_accuracy'
    (the accuracies count as improving upwards). An epoch improves when its
    value beats the best so far by more than ``min_delta``. When patience
    runs out, the parameters of the best epoch are restored (unless
    ``restore_best=False``), ``history.best_epoch`` is set (0-based: the
    index into ``history.loss``), ``history.stopped`` is "patience" and
    ``history.final_loss`` is the best epoch's loss. The optimizer's state is
    not rolled back (as in Keras). ``fit(patience=k, min_delta=d)`` adds
    ``EarlyStopping(k, d)``.
    """

    stop_reason = "patience"

    def __init__(self, patience, min_delta=0.0, monitor=None, restore_best=True):
        self.patience = validation.positive_int(patience, "patience")
        self.min_delta = validation.non_negative_number(min_delta, "min_delta")
        self.monitor = _check_monitor(monitor)
        self.restore_best = bool(restore_best)

    def on_fit_begin(self, network, epochs):
        self.network = network
        # before the first epoch: the best is the starting point, epoch -1
        self.best, self.best_epoch = None, -1
        self.best_parameters = network.parameters.copy() if self.restore_best else None

    def on_epoch_end(self, epoch, logs):
        name, value = _monitored(logs, self.monitor)
        mode = "max" if name.endswith("accuracy") else "min"
        best = self.best if self.best is not None else (math.inf if mode == "min" else -math.inf)
        if _improves(value, best, mode, self.min_delta):
            self.best, self.best_epoch = value, epoch
            if self.restore_best:
                self.best_parameters[...] = self.network.parameters
            self.network.history.best_epoch = epoch
        elif epoch - self.best_epoch >= self.patience:
            if self.restore_best:
                self.network.parameters = self.best_parameters
                self.network.history._restored = True
            return True
        return False

    def on_fit_end(self, history):
        self.network = self.best_parameters = None          # no reference kept after the fit


class ModelCheckpoint(Callback):
    """Save the network to ``path`` after an epoch: every epoch, or (``save_best_only``,
    the default) when the monitored value is the best so far.

    monitor: as ``EarlyStopping``'s (None: the validation loss when there is
    validation data, else the training loss). Saving goes through
    ``Network.save``: a temporary file renamed over ``path``, so a crash
    mid-save leaves the previous checkpoint intact; ``optimizer_state=True``
    saves the optimizer's state too, so that ``Network.load(path)`` continues
    training from the checkpoint. ``best_epoch`` is the epoch (0-based) last
    saved.
    """

    def __init__(self, path, monitor=None, save_best_only=True, optimizer_state=True):
        self.path = os.fspath(path)
        self.monitor = _check_monitor(monitor)
        self.save_best_only = bool(save_best_only)
        self.optimizer_state = bool(optimizer_state)
        self.best = self.best_epoch = None

    def on_fit_begin(self, network, epochs):
        self.network = network
        self.best = None

    def on_epoch_end(self, epoch, logs):
        name, value = _monitored(logs, self.monitor)
        mode = "max" if name.endswith("accuracy") else "min"
        if self.save_best_only and not (
                self.best is None and value == value
                or self.best is not None and _improves(value, self.best, mode, 0.0)):
            return False
        self.network.save(self.path, optimizer_state=self.optimizer_state)
        self.best, self.best_epoch = value, epoch
        return False

    def on_fit_end(self, history):
        self.network = None


class ProgressBar(Callback):
    """Progress of a fit: epoch, loss, validation loss, rate and time left.

    On a terminal: one live line (tqdm's bar when tqdm is installed, else a
    line rewritten with ``\\r``), updated about 100 times per fit. Elsewhere
    (a file, a pipe, a notebook's captured output): plain lines, one every
    ``every`` epochs (default: ten per fit). ``fit(verbose=True)`` adds
    ``ProgressBar()``, ``fit(verbose=k)`` plain lines every k epochs
    (``ProgressBar(every=k, live=False)``). ``stream``: where to write
    (default: ``sys.stdout`` at the time of the fit); ``live``: None (a
    terminal decides), True or False.
    """

    def __init__(self, every=None, stream=None, live=None):
        self.every_asked = None if every is None else validation.positive_int(every, "every")
        self.stream, self.live = stream, live
        self.every = self.every_asked or 1

    def on_fit_begin(self, network, epochs):
        self._out = self.stream if self.stream is not None else sys.stdout
        live = self.live
        if live is None:
            isatty = getattr(self._out, "isatty", None)
            live = bool(isatty and isatty())
        self._live = live
        self.every = self.every_asked or max(1, epochs // (100 if live else 10))
        self._epochs, self._width = epochs, len(str(epochs))
        self._start = time.perf_counter()
        self._bar = None
        if live:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=epochs, unit="epoch", file=self._out, leave=True)
        self._shown = 0

    def _values(self, logs):
        shown = [f"loss {logs['loss']:.6g}"]
        for name in ("val_loss", "accuracy", "val_accuracy"):
            if name in logs:
                shown.append(f"{name} {logs[name]:.6g}")
        return shown

    def on_epoch_end(self, epoch, logs):
        done = epoch + 1
        if self._bar is not None:
            self._bar.update(done - self._shown)
            self._bar.set_postfix_str("  ".join(self._values(logs)), refresh=True)
        elif self._live:
            elapsed = time.perf_counter() - self._start
            rate = done / elapsed if elapsed > 0 else math.inf
            left = (self._epochs - done) / rate if rate > 0 else math.inf
            line = (f"epoch {done:>{self._width}}/{self._epochs}  "
                    f"{'  '.join(self._values(logs))}  {rate:.3g} epochs/s  "
                    f"ETA {_duration(left)}")
            self._out.write("\r" + line.ljust(getattr(self, "_length", 0)))
            self._length = len(line)
            self._out.flush()
        else:
            self._out.write(f"epoch {done:>{self._width}}/{self._epochs}  "
                            f"{'  '.join(self._values(logs))}\n")
            self._out.flush()
        self._shown = done
        return False

    def on_fit_end(self, history):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._live and self._shown:
            self._out.write("\n")
            self._out.flush()
        self._out = None


def _duration(seconds):
    if not math.isfinite(seconds):
        return "?"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
