"""Ctrl-C during a long fit: it stops within a fraction of a second, the network is left at
the end of the last completed epoch, the history holds those epochs, KeyboardInterrupt
propagates."""
import os
import signal
import threading
import time

import numpy as np
import pytest

import fastnn
from fastnn import Network
from helpers import random_classes

#: How soon a fit must stop after Ctrl-C: a fraction of a second in a release build;
#: the debug build (-O0, bounds checks) trains ~10x slower between polls.
LATENCY = 5.0 if fastnn.kernels.DEBUG_BUILD or os.environ.get("FASTNN_SLOW_BUILD") else 0.5

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name == "nt",
                                reason="needs POSIX signals")


def interrupt_after(seconds):
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def data():
    return random_classes(600, 64, 10)


@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_ctrl_c_stops_a_long_fit_at_an_epoch_boundary(backend):
    X, Y = data()
    net = Network([64, 32, 10], seed=0, backend=backend)
    timer = interrupt_after(0.3)
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, Y, epochs=10**6, learning_rate=0.1, batch_size=1, shuffle=False)
    stopped_after = time.perf_counter() - start
    timer.join()
    assert stopped_after < 0.3 + LATENCY
    history = net.history
    assert history.stopped == "interrupted" and all(np.isfinite(history.loss))
    # the parameters are exactly those after the completed epochs
    replay = Network([64, 32, 10], seed=0, backend=backend)
    if history.epochs:
        replay.fit(X, Y, epochs=history.epochs, learning_rate=0.1, batch_size=1, shuffle=False)
        assert replay.history.loss == history.loss
    np.testing.assert_array_equal(net.parameters, replay.parameters)


def test_ctrl_c_reaches_a_tiny_network_trained_for_many_epochs():
    # work per batch is tiny here, so the engine polls rarely; it must still respond
    net = Network([2, 2, 1], seed=0)
    X, y = [[-2, -1], [25, 6], [17, 4], [-15, -6]], [1, 0, 0, 1]
    timer = interrupt_after(0.2)
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, y, epochs=5 * 10**6, batch_size=1, shuffle=False)
    timer.join()
    assert time.perf_counter() - start < 0.2 + LATENCY
    assert net.history.stopped == "interrupted" and net.history.epochs > 1000
    # the parameters and losses are exactly those of the completed epochs
    replay = Network([2, 2, 1], seed=0)
    replay.fit(X, y, epochs=net.history.epochs, batch_size=1, shuffle=False)
    assert replay.history.loss == net.history.loss
    np.testing.assert_array_equal(net.parameters, replay.parameters)


def test_a_custom_signal_handler_exception_propagates_unchanged():
    class Stop(Exception):
        pass

    def handler(signum, frame):
        raise Stop("stop now")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        X, Y = data()
        net = Network([64, 32, 10], seed=0)
        timer = interrupt_after(0.2)
        with pytest.raises(Stop, match="stop now"):
            net.fit(X, Y, epochs=10**6, batch_size=1, shuffle=False)
        timer.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert np.all(np.isfinite(net.parameters))


class _Breaks:
    """A stream whose writes raise `error` from the `after`-th on (a closed pipe, Ctrl-C)."""

    def __init__(self, error, after):
        self.error, self.after, self.writes = error, after, 0

    def write(self, text):
        self.writes += 1
        if self.writes >= self.after:
            raise self.error
        return len(text)

    def flush(self):
        pass


def _replay_agrees(net, X, Y, backend, **options):
    """The network is exactly where its history says: replaying that many epochs from the
    start reaches the same parameters and the same optimizer state."""
    history = net.history
    replay = Network([64, 32, 10], seed=0, backend=backend)
    if history.epochs:
        replay.fit(X, Y, epochs=history.epochs, **options)
        assert replay.history.loss == history.loss
    np.testing.assert_array_equal(net.parameters, replay.parameters)
    if history.epochs:
        assert net.optimizer_state["step"] == replay.optimizer_state["step"]
        np.testing.assert_array_equal(net.optimizer_state["buffers"],
                                      replay.optimizer_state["buffers"])


@pytest.mark.parametrize("backend", ["compiled", "numpy"])
@pytest.mark.parametrize("error", [BrokenPipeError, KeyboardInterrupt])
def test_an_exception_from_the_progress_print_leaves_history_and_parameters_agreeing(
        backend, error, monkeypatch):
    X, Y = data()
    X, Y = X[:100], Y[:100]
    net = Network([64, 32, 10], seed=0, backend=backend)
    options = dict(learning_rate=0.01, batch_size=4, shuffle=False, optimizer="adam")
    monkeypatch.setattr("sys.stdout", _Breaks(error, after=5))
    with pytest.raises(error):
        net.fit(X, Y, epochs=50, verbose=1, **options)
    monkeypatch.undo()
    assert net.history.stopped == "interrupted" and net.history.epochs >= 2
    _replay_agrees(net, X, Y, backend, **options)


@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_an_error_in_the_validation_pass_leaves_history_and_parameters_agreeing(
        backend, monkeypatch):
    X, Y = data()
    X, Y = X[:100], Y[:100]
    net = Network([64, 32, 10], seed=0, backend=backend)
    calls = []
    measure = Network._validation_loss

    def failing_on_the_fourth(self, validation_data, loss):
        function = measure(self, validation_data, loss)

        def measured():
            calls.append(1)
            if len(calls) == 4:
                raise MemoryError("no memory for the validation pass")
            return function()
        return measured

    monkeypatch.setattr(Network, "_validation_loss", failing_on_the_fourth)
    options = dict(learning_rate=0.1, batch_size=4, shuffle=False, optimizer="sgd")
    with pytest.raises(MemoryError):
        net.fit(X, Y, epochs=50, validation_data=(X[:20], Y[:20]), **options)
    monkeypatch.undo()
    assert net.history.epochs == 4 and len(net.history.val_loss) == 3
    _replay_agrees(net, X, Y, backend, **options)


def test_ctrl_c_twice_in_quick_succession_leaves_history_and_parameters_agreeing():
    X, Y = data()
    net = Network([64, 32, 10], seed=0)
    options = dict(learning_rate=0.1, batch_size=1, shuffle=False, optimizer="sgd")
    timers = [interrupt_after(0.3), interrupt_after(0.35)]

    def fit():
        try:
            net.fit(X, Y, epochs=10**6, verbose=1, **options)
        finally:
            time.sleep(1.0)          # the second Ctrl-C lands in fit or here

    with open(os.devnull, "w") as quiet, pytest.raises(KeyboardInterrupt):
        import contextlib
        with contextlib.redirect_stdout(quiet):
            fit()
    for timer in timers:
        timer.join()
    assert net.history.stopped == "interrupted"
    _replay_agrees(net, X, Y, "compiled", **options)
