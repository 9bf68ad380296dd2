"""Threads: fits of one network from two threads take turns (no lost updates); concurrent
predictions on a network that is not training equal serial ones and change nothing."""
import os
import threading
import time

import numpy as np
import pytest

from fastnn import Network
from helpers import random_classes


def data():
    return random_classes(300, 16, 4)


def _wait_for_child(pid, message, seconds=30):
    """The forked child's wait status; kills it and fails with `message` if it hangs."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail(message)


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
            net.fit(X[:20], Y[:20], epochs=2)      # shuffles: the network's generator
            code = 0
        finally:
            os._exit(code)
    status = _wait_for_child(pid, "the forked child blocked on the network's lock")
    trainer.join()
    assert os.waitstatus_to_exitcode(status) == 0
    assert (tmp_path / "child.npz").exists()


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_child_forked_while_a_thread_holds_the_networks_generator_can_shuffle():
    """The parent's thread was shuffling (numpy's generator lock held) at the fork: the
    child gets the generator's state behind a new lock."""
    import warnings
    X, Y = data()
    net = Network([16, 12, 4], seed=0)
    held, release = threading.Event(), threading.Event()

    def hold():
        with net._rng.bit_generator.lock:
            held.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        code = 1
        try:
            net.fit(X[:20], Y[:20], epochs=2)          # shuffled by net._rng
            code = 0
        finally:
            os._exit(code)
    try:
        status = _wait_for_child(pid, "the forked child blocked on the generator's lock")
    finally:
        release.set()
        holder.join()
    assert os.waitstatus_to_exitcode(status) == 0


# -- threads= : BLAS threads around fastnn's work ----------------------------------------

def _blas_threads():
    from threadpoolctl import threadpool_info
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


class _SeesThreads:
    """A callback recording the BLAS thread counts in force during the epochs."""
    def __init__(self):
        self.seen = []

    def on_epoch_end(self, epoch, logs):
        self.seen.append(_blas_threads())


@pytest.mark.parametrize("threads, batch_size, layers, expected", [
    ("auto", 32, [16, 12, 4], 1),                    # 32*16*12 << CROSSOVER: one thread
    ("auto", 256, [16, 1024, 4], None),              # 256*16*1024 = 2**22: BLAS's own
    (2, 32, [16, 12, 4], 2),
    (1, 256, [16, 1024, 4], 1),
    (None, 32, [16, 12, 4], None),
])
def test_fit_runs_blas_on_the_threads_asked_for_and_restores_them(threads, batch_size, layers,
                                                                  expected):
    from threadpoolctl import threadpool_limits
    X, Y = data()
    with threadpool_limits(3, user_api="blas"):       # a count no rule gives
        before = _blas_threads()
        seer = _SeesThreads()
        Network(layers, seed=0).fit(X, Y, epochs=2, batch_size=batch_size, threads=threads,
                                    callbacks=[seer])
        assert seer.seen == [[expected or 3] * len(before)] * 2
        assert _blas_threads() == before


def test_the_crossover_is_where_auto_switches():
    from fastnn import threads
    assert threads.choose("auto", threads.CROSSOVER - 1) == 1
    assert threads.choose("auto", threads.CROSSOVER) is None
    assert threads.choose(3, 10) == 3 and threads.choose(None, 10**12) is None
    assert threads.largest_product([64, 32, 10], 200) == 200 * 64 * 32


@pytest.mark.parametrize("bad", ["all", 0, -1, 1.5, True])
def test_bad_thread_counts_are_refused_before_anything_changes(bad):
    X, Y = data()
    net = Network([16, 12, 4], seed=0)
    before = net.parameters.copy()
    with pytest.raises(ValueError, match="threads"):
        net.fit(X, Y, epochs=1, threads=bad)
    with pytest.raises(ValueError, match="threads"):
        net.evaluate(X, Y, threads=bad)
    np.testing.assert_array_equal(net.parameters, before)
    assert net.history is None


def test_results_do_not_depend_on_the_thread_count():
    X, Y = data()
    runs = []
    for threads in (1, 2, None):
        net = Network([16, 64, 4], seed=0)
        history = net.fit(X, Y, epochs=3, batch_size=64, threads=threads)
        runs.append((history.loss, net.parameters.copy(), net.evaluate(X, Y, threads=threads)))
    for loss, params, evaluation in runs[1:]:
        np.testing.assert_allclose(loss, runs[0][0], rtol=1e-12)
        np.testing.assert_allclose(params, runs[0][1], rtol=1e-12, atol=1e-15)
        assert evaluation["accuracy"] == runs[0][2]["accuracy"]


def test_fits_in_several_threads_at_once_leave_blas_threads_as_they_were():
    from threadpoolctl import threadpool_limits
    X, Y = data()
    with threadpool_limits(2, user_api="blas"):
        before = _blas_threads()
        nets = [Network([16, 12, 4], seed=s) for s in range(4)]
        workers = [threading.Thread(target=lambda n=n: [n.fit(X, Y, epochs=3, threads=1)
                                                        for _ in range(20)]) for n in nets]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert _blas_threads() == before


def test_overlapping_limits_of_different_counts_restore_blas_when_the_last_ends():
    from threadpoolctl import threadpool_limits
    from fastnn import threads
    with threadpool_limits(2, user_api="blas"):
        outer, inner = threads.limit(1), threads.limit(2)
        outer.__enter__()
        assert set(_blas_threads()) == {1}
        inner.__enter__()
        assert set(_blas_threads()) == {2}
        outer.__exit__(None, None, None)      # the first to start ends first
        inner.__exit__(None, None, None)
        assert set(_blas_threads()) == {2}
        with threads.limit(None):
            assert set(_blas_threads()) == {2}


@pytest.mark.parametrize("sizes, options, expected", [
    ([2, 2, 1], {}, None),                                        # no product reaches BLAS
    ([2, 2, 1], {"validation_data": "train"}, 1),                 # a validation pass may
    ([2, 2, 1], {"metrics": ["accuracy"]}, 1),
    ([16, 8, 4], {}, 1),                                          # 16 x 8 = 128 >= 100
], ids=["tiny", "tiny-validation", "tiny-accuracy", "larger"])
def test_fit_limits_blas_threads_only_where_blas_may_run(monkeypatch, sizes, options, expected):
    from fastnn import threads as blas_threads
    seen = []
    real = blas_threads.limit
    monkeypatch.setattr(blas_threads, "limit", lambda n: seen.append(n) or real(n))
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, sizes[0])), rng.integers(0, 2, 20)
    if options.get("validation_data") == "train":
        options = dict(options, validation_data=(X, y))
    net = Network(sizes[:-1] + [1], seed=0)
    net.fit(X, y, epochs=2, batch_size=1, **options)
    assert seen == [expected]
