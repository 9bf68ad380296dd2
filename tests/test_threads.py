"""Threads: fits of one network from two threads take turns (no lost updates); concurrent
predictions on a network that is not training equal serial ones and change nothing."""
import threading

import numpy as np
import pytest

from fastnn import Network
from helpers import random_classes


def data():
    return random_classes(300, 16, 4)


@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_two_threads_fitting_one_network_take_turns(backend):
    X, Y = data()
    epochs = 150 if backend == "compiled" else 10
    shared = Network([16, 12, 4], seed=0, backend=backend)
    errors = []

    def train():
        try:
            shared.fit(X, Y, epochs=epochs, batch_size=1, shuffle=False)
        except Exception as exc:      # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=train) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    serial = Network([16, 12, 4], seed=0, backend=backend)
    serial.fit(X, Y, epochs=2 * epochs, batch_size=1, shuffle=False)
    # two fits one after the other are one fit of twice the epochs, bit for bit
    np.testing.assert_array_equal(shared.parameters, serial.parameters)


def test_concurrent_predictions_equal_serial_ones_and_change_nothing():
    X, _ = data()
    net = Network([16, 64, 4], seed=0)
    before = net.parameters.copy()
    expected = [net.predict(X[i::8]) for i in range(8)]
    results = [None] * 8

    def predict(i):
        for _ in range(50):
            results[i] = net.predict(X[i::8])

    threads = [threading.Thread(target=predict, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(net.parameters, before)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_can_use_a_network_its_parent_was_training(tmp_path):
    import os
    import time
    import warnings
    X, Y = data()
    net = Network([16, 12, 4], seed=0)
    trainer = threading.Thread(target=lambda: net.fit(X, Y, epochs=5000, batch_size=1))
    trainer.start()
    while net._lock.acquire(blocking=False):    # until the trainer holds the network's lock
        net._lock.release()
        time.sleep(0.001)
    with warnings.catch_warnings():             # 3.12+: "fork() of a multi-threaded process"
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:                                # the child: save and fit must not block
        code = 1
        try:
            net.save(tmp_path / "child.npz")
            net.fit(X[:20], Y[:20], epochs=2)
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child blocked on the network's lock")
    trainer.join()
    assert os.waitstatus_to_exitcode(status) == 0
    assert (tmp_path / "child.npz").exists()
