"""The compiled kernels release the GIL: another Python thread runs during a long call."""
import threading
import time

import numpy as np
import pytest

from conftest import _kernels as K

N = 900


def python_runs_during(call):
    """True when the main thread executed Python code in the middle half of `call`."""
    ticks, span = [], {}

    def worker():
        span["start"] = time.perf_counter()
        call()
        span["end"] = time.perf_counter()

    thread = threading.Thread(target=worker)
    thread.start()
    while thread.is_alive():
        ticks.append(time.perf_counter())
    thread.join()
    quarter = (span["end"] - span["start"]) / 4
    inside = [t for t in ticks if span["start"] + quarter < t < span["end"] - quarter]
    return len(inside) > 0


@pytest.mark.parametrize("kernel", ["dense_forward", "activate", "sgd_update"])
def test_long_kernel_calls_let_other_threads_run(kernel):
    rng = np.random.default_rng(0)
    X, W, b = rng.standard_normal((N, N)), rng.standard_normal((N, N)), np.zeros(N)
    big = rng.standard_normal((2000, 2000))
    flat, grads = big.reshape(-1), np.ones(big.size)
    calls = {
        "dense_forward": lambda: [K.dense_forward(X, W, b, "sigmoid") for _ in range(3)],
        "activate": lambda: K.activate(big, "tanh", out=big),
        "sgd_update": lambda: [K.sgd_update(flat, grads, 1e-9) for _ in range(3)],
    }
    assert python_runs_during(calls[kernel])


def test_the_detector_sees_a_call_that_holds_the_gil():
    # list.sort is C code that keeps the GIL: the main thread cannot run meanwhile
    values = list(np.random.default_rng(1).random(1_500_000))
    assert not python_runs_during(lambda: sorted(values))
