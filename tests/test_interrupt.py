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
