"""Classes of calls that crashed the interpreter (or read outside a buffer) before: sizes
that wrap or lie, sample orders that change under the engine, buffers too long for a C int.

Every case runs in a child interpreter (helpers.run_isolated), so a crash fails its own
case instead of taking the whole run down; the expected outcome is a clear exception
naming the argument, or a correct result.
"""
import threading
import time

import numpy as np
import pytest

import fastnn
from helpers import LyingInt, check_outcome, run_isolated

K = fastnn.kernels
SIZES = [5, 7, 3]
N_PARAMS = 5 * 7 + 7 + 7 * 3 + 3


# 2**64 + 9 parameters: a 64-bit running sum wraps to 9
WRAPPING_SIZES = [1] + [2**24] * 65536 + [16711677, 1, 65543]
# sizes -3 and -5 that pass a lying range check; their "parameter count" is 0
LYING_SIZES = [1, LyingInt(-3), LyingInt(-5), 1]


def forward(sizes, params, dtype=np.float64, n_in=1):
    return lambda: K.network_forward(np.ones((1, n_in), dtype), params, sizes,
                                     ["identity"] * (len(sizes) - 1)).shape


def train(**changes):
    args = dict(X=np.ones((4, 5)), Y=np.zeros((4, 3)), params=np.zeros(N_PARAMS),
                layer_sizes=SIZES, activations=["relu", "sigmoid"], loss="mse",
                learning_rate=0.1, batch_size=2, epochs=2)
    args.update(changes)
    return lambda: K.train_epochs(**args)


def order_sharing_memory(with_losses):
    """Train with an `order` whose memory is also losses_out (or params): the engine must
    use the order as it was when the call began, like a private copy."""
    def call():
        rng = np.random.default_rng(0)
        X, Y = rng.standard_normal((4, 5)), rng.uniform(0, 1, (4, 3))
        start = rng.uniform(-1, 1, N_PARAMS)
        indices = np.array([[3, 1, 0, 2], [2, 0, 3, 1]])
        if with_losses:             # the first epoch's loss lands on order[1, 0:2]
            shared = indices.copy().reshape(-1)
            order, losses, params = shared.reshape(2, 4), shared.view(np.float64)[4:6], start.copy()
        else:                       # the parameters' first 8 values are the order's bits
            shared = np.empty(N_PARAMS)
            shared[:] = start
            shared[:8] = indices.reshape(-1).view(np.float64)
            order, losses, params = shared[:8].view(np.int64).reshape(2, 4), np.zeros(2), shared
        expected_params = params.copy()
        expected_losses = np.zeros(2)
        expected = K.train_epochs(X, Y, expected_params, SIZES, ["tanh", "sigmoid"], "mse", 1, 2,
                                  learning_rate=0.1, order=order.copy(), target_loss=0.0,
                                  losses_out=expected_losses)
        got = K.train_epochs(X, Y, params, SIZES, ["tanh", "sigmoid"], "mse", 1, 2,
                             learning_rate=0.1, order=order, target_loss=0.0, losses_out=losses)
        return got == expected and np.array_equal(params, expected_params) \
            and np.array_equal(losses, expected_losses)
    return call


def order_rewritten_by_another_thread():
    """Another thread writes out-of-range indices into `order` while the engine trains:
    each call either refuses the order it was given or trains; nothing crashes."""
    n = 2000
    X, Y, params = np.zeros((n, 5)), np.zeros((n, 3)), np.zeros(N_PARAMS)
    order = np.tile(np.arange(n), (50, 1))
    stop = threading.Event()

    def scribble():
        while not stop.is_set():
            order[:, ::7] = 10**12
            order[:, ::7] = 0

    writer = threading.Thread(target=scribble)
    writer.start()
    refused = trained = 0
    try:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                K.train_epochs(X, Y, params, SIZES, ["relu", "sigmoid"], "mse", 1, 50,
                               learning_rate=0.1, order=order)
                trained += 1
            except ValueError:
                refused += 1
    finally:
        stop.set()
        writer.join()
    return refused + trained > 0


def all_finite_beyond_int_max():
    """A 1-d array of 2**31 + 1 values (calloc'd: untouched pages cost no memory)."""
    try:
        a = np.zeros(2**31 + 1, np.float32)
    except MemoryError:               # pragma: no cover - a machine without the address space
        return (True, False)
    clean = K.all_finite(a)
    a[-1] = np.nan
    return (clean, K.all_finite(a))


CASES = {
    "parameter count beyond 2**64 (network_forward)": (
        forward(WRAPPING_SIZES, np.zeros(9, np.float32), np.float32),
        (ValueError, ["params must hold 18446744073709551625 values", "got 9"])),
    "parameter count beyond 2**64 (train_epochs)": (
        train(X=np.ones((4, 1)), Y=np.zeros((4, 65543)), params=np.zeros(9),
              layer_sizes=WRAPPING_SIZES, activations=["identity"] * (len(WRAPPING_SIZES) - 1)),
        (ValueError, ["params must hold 18446744073709551625 values"])),
    "layer size: an int subclass whose comparisons lie (network_forward)": (
        forward(LYING_SIZES, np.zeros(0)), (ValueError, ["layer_sizes[1]", ">= 1", "-3"])),
    "layer size: an int subclass whose comparisons lie (train_epochs)": (
        train(X=np.ones((4, 1)), Y=np.zeros((4, 1)), params=np.zeros(0), layer_sizes=LYING_SIZES,
              activations=["identity"] * 3), (ValueError, ["layer_sizes[1]", ">= 1"])),
    "layer size: a lying int beyond INT_MAX": (
        forward([1, LyingInt(2**32 + 1), 1], np.zeros(4)),
        (ValueError, ["layer_sizes[1]", "2147483647", "4294967297"])),
    "layer size: a numpy integer is a size": (
        forward([np.int64(1), np.uint8(2), np.int32(1)], np.zeros(7)), (1, 1)),
    "batch_size: a lying int beyond Py_ssize_t": (
        train(batch_size=LyingInt(2**70)), (ValueError, ["batch_size", "out of range"])),
    "epochs: a lying negative int": (
        train(epochs=LyingInt(-1)), (ValueError, ["epochs", ">= 0"])),
    "order shares memory with losses_out": (order_sharing_memory(True), True),
    "order shares memory with params": (order_sharing_memory(False), True),
    "order rewritten by another thread during the call": (order_rewritten_by_another_thread, True),
    "all_finite of more than 2**31 - 1 values": (all_finite_beyond_int_max, (True, False)),
}


@pytest.fixture(scope="module")
def outcomes():
    return run_isolated(__name__, "CASES")


@pytest.mark.parametrize("case", CASES)
def test_crash_class_is_a_clear_error_or_a_right_result(case, outcomes):
    check_outcome(outcomes[case], CASES[case][1])
