"""The one-sample SGD step of tiny networks (_tiny_sgd_step, e.g. the seed network
2-2-1): bit for bit what the general step computes, for every activation it takes, and
the general step for everything it does not take. The register-resident run of
two-layer networks at most 4 wide (_small_sgd_run) computes each next sample's
first-layer pre-activation algebraically (W1 x' + b1 - lr (x . x' + 1) dz1): the same
values up to rounding, the same epochs, stops and counters."""
import numpy as np
import pytest

from fastnn import optimizers
from conftest import _kernels as K
from conftest import _reference as R
from conftest import assert_close
from helpers import make

#: (sizes, activations): tiny networks (every layer under 100 multiply-adds, at most 16
#: wide); the last ones are not taken by the tiny step (softmax, a 20-wide layer)
NETWORKS = [
    ([2, 2, 1], ["sigmoid", "sigmoid"]),
    ([4, 4, 4], ["tanh", "sigmoid"]),
    ([1, 3, 2], ["relu", "leaky_relu"]),
    ([3, 1, 4], ["leaky_relu", "identity"]),
    ([4, 2, 3], ["identity", "tanh"]),
    ([2, 4, 1], ["sigmoid", "relu"]),
    ([5, 2, 1], ["sigmoid", "sigmoid"]),
    ([3, 5, 4, 2], ["tanh", "relu", "identity"]),
    ([1, 9, 1], ["leaky_relu", "sigmoid"]),
    ([4, 16, 3], ["relu", "tanh"]),
    ([7, 1], ["identity"]),
    ([2, 3, 3], ["sigmoid", "softmax"]),
    ([2, 20, 1], ["tanh", "identity"]),
]


def _close_runs(actual, expected, dtype):
    """Two training runs that differ in rounding only: float32's drift over a few
    epochs of updates is larger than a single kernel's."""
    if dtype == np.float32:
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)
    else:
        assert_close(actual, expected, dtype)


def _train(dtype, sizes, activations, tiny, loss="mse", optimizer="sgd", epochs=9,
           small=True, shuffled=False):
    rng = np.random.default_rng(11)
    X, Y = make(rng, (13, sizes[0]), dtype), make(rng, (13, sizes[-1]), dtype, 0.0, 1.0)
    params = make(rng, R.parameter_offsets(sizes)[-1], dtype, -0.8, 0.8)
    order = np.argsort(rng.random((epochs, 13)), axis=1).astype(np.int64) if shuffled else None
    # the optimizer's defaults (all zeros would give Adam eps = 0: 0/0 for a gradient of 0)
    hyper = np.array(optimizers.get(optimizer).hyperparameters())
    state = np.zeros(K.state_size(optimizer, hyper, params.shape[0]), dtype)
    previous = K._set_tiny_steps(tiny), K._set_small_steps(small)
    try:
        losses = K.train_epochs(X, Y, params, sizes, activations, loss, 1, epochs,
                                optimizer=optimizer, hyperparameters=hyper,
                                learning_rate=0.3, state=state, order=order)
    finally:
        K._set_tiny_steps(previous[0])
        K._set_small_steps(previous[1])
    return params, losses


@pytest.mark.parametrize("shuffled", [False, True], ids=["in-order", "shuffled"])
@pytest.mark.parametrize("network", NETWORKS, ids=lambda n: "-".join(map(str, n[0])))
def test_the_tiny_and_small_steps_compute_what_the_general_step_computes(dtype, network,
                                                                          shuffled):
    """The tiny step (the register-resident run switched off) and the general step
    (both off): the same numbers; the run (two layers at most 4 wide): the same up to
    rounding."""
    sizes, activations = network
    general = _train(dtype, sizes, activations, False, shuffled=shuffled)
    params, losses = _train(dtype, sizes, activations, True, small=False, shuffled=shuffled)
    np.testing.assert_array_equal(params, general[0])
    np.testing.assert_array_equal(losses, general[1])
    params, losses = _train(dtype, sizes, activations, True, shuffled=shuffled)
    _close_runs(params, general[0], dtype)
    _close_runs(losses, general[1], dtype)


def test_the_small_run_keeps_non_finite_values_and_restores_the_epoch(dtype):
    """An inf input in the register-resident run: the epoch diverges, and the
    parameters are those of its start, as in the general step."""
    sizes, activations = [2, 3, 1], ["sigmoid", "identity"]
    rng = np.random.default_rng(5)
    X, Y = make(rng, (6, 2), dtype), make(rng, (6, 1), dtype)
    X[4, 1] = np.inf
    runs = []
    for small in (True, False):
        params = make(np.random.default_rng(6), R.parameter_offsets(sizes)[-1], dtype)
        previous = K._set_small_steps(small)
        try:
            losses = K.train_epochs(X, Y, params, sizes, activations, "mse", 1, 3,
                                    learning_rate=0.1)
        finally:
            K._set_small_steps(previous)
        runs.append((params, losses))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1] == (1, K.STOP_DIVERGED)
    np.testing.assert_array_equal(runs[0][0], make(np.random.default_rng(6),
                                                   R.parameter_offsets(sizes)[-1], dtype))


@pytest.mark.parametrize("loss", ["bce", "cce"])
def test_other_losses_and_optimizers_keep_the_general_step(dtype, loss):
    sizes, activations = [2, 2, 2], ["sigmoid", {"bce": "sigmoid", "cce": "softmax"}[loss]]
    for optimizer in ("sgd", "adam"):
        runs = [_train(dtype, sizes, activations, tiny, loss, optimizer) for tiny in (True, False)]
        np.testing.assert_array_equal(runs[0][0], runs[1][0])


def test_the_tiny_step_agrees_with_the_reference(dtype):
    """The seed network trained per sample: compiled (tiny step) against NumPy."""
    rng = np.random.default_rng(2)
    X, Y = make(rng, (4, 2), dtype, 0.0, 1.0), make(rng, (4, 1), dtype, 0.0, 1.0)
    start = make(rng, R.parameter_offsets([2, 2, 1])[-1], dtype, -1.0, 1.0)
    results = []
    for backend in (K, R):
        params = start.copy()
        losses = backend.train_epochs(X, Y, params, [2, 2, 1], ["sigmoid", "sigmoid"], "mse",
                                      1, 50, learning_rate=0.5)
        results.append((params, losses))
    assert_close(results[0][0], results[1][0], dtype)
    assert_close(results[0][1], results[1][1], dtype)
    assert results[0][1][-1] < results[0][1][0]


# -- chained steps: per-sample SGD whose first layer takes the one-sample kernels ---------

@pytest.mark.parametrize("sizes", [[64, 32, 10], [67, 9, 3], [13, 8], [30, 3, 2], [5, 33, 1]],
                         ids=lambda s: "-".join(map(str, s)))
def test_chained_steps_compute_what_separate_steps_compute(dtype, sizes):
    """Each step's first-layer update also computes the next sample's first layer
    (one pass over W): bit for bit the separate update then forward pass, shuffled or
    not, across epochs, with and without a ragged output width."""
    rng = np.random.default_rng(4)
    X, Y = make(rng, (23, sizes[0]), dtype), make(rng, (23, sizes[-1]), dtype, 0.0, 1.0)
    start = make(rng, R.parameter_offsets(sizes)[-1], dtype, -0.3, 0.3)
    activations = ["sigmoid"] * (len(sizes) - 1)
    for order in (None, np.argsort(rng.random((3, 23)), axis=1).astype(np.int64)):
        runs = []
        for chained in (True, False):
            params = start.copy()
            previous = K._set_chained_steps(chained)
            try:
                losses = K.train_epochs(X, Y, params, sizes, activations, "mse", 1, 3,
                                        learning_rate=0.2, order=order)
            finally:
                K._set_chained_steps(previous)
            runs.append((params, losses))
        np.testing.assert_array_equal(runs[0][0], runs[1][0])
        np.testing.assert_array_equal(runs[0][1], runs[1][1])
        assert_close(runs[0][0], _reference_run(X, Y, start, sizes, activations, order), dtype)


def _reference_run(X, Y, start, sizes, activations, order):
    params = start.copy()
    R.train_epochs(X, Y, params, sizes, activations, "mse", 1, 3, learning_rate=0.2,
                   order=order)
    return params


@pytest.mark.parametrize("learning_rate", [0.02, 0.1, 0.5, 3.0, 1e20])
def test_the_small_run_diverges_where_the_general_step_does(dtype, learning_rate):
    """Learning rates from stable to overflowing in the first epoch or in a later one
    (0.5: the second; identity layers grow without bound): the same epochs, losses and
    parameters (up to rounding), restored to the start of the epoch that diverged."""
    sizes, activations = [3, 4, 2], ["identity", "identity"]
    rng = np.random.default_rng(8)
    X, Y = make(rng, (9, 3), dtype, -2.0, 2.0), make(rng, (9, 2), dtype)
    start = make(rng, R.parameter_offsets(sizes)[-1], dtype)
    runs = []
    for small in (True, False):
        params = start.copy()
        losses = np.full(6, -1.0)
        previous = K._set_small_steps(small)
        try:
            ran = K.train_epochs(X, Y, params, sizes, activations, "mse", 1, 6,
                                 learning_rate=learning_rate, losses_out=losses)
        finally:
            K._set_small_steps(previous)
        runs.append((ran, params, losses))
    assert runs[0][0] == runs[1][0]
    _close_runs(runs[0][1], runs[1][1], dtype)
    ran = runs[0][0][0]
    _close_runs(runs[0][2][:ran], runs[1][2][:ran], dtype)
    assert np.all(np.isfinite(runs[0][1]))


@pytest.mark.parametrize("schedule", ["constant", "step"])
@pytest.mark.parametrize("target_loss", [-np.inf, 0.2, 10.0])
def test_the_small_run_stops_counts_and_records_as_the_general_step(dtype, target_loss,
                                                                     schedule):
    """Whole epochs in one call of the register-resident run (constant rate) or one per
    call (a schedule): the same epochs run, stop reason, rates and counters as the tiny
    step, shuffled, with the counters of an earlier fit; losses and parameters the same
    up to rounding."""
    sizes, activations = [2, 3, 1], ["tanh", "sigmoid"]
    rng = np.random.default_rng(9)
    X, Y = make(rng, (5, 2), dtype), make(rng, (5, 1), dtype, 0.0, 1.0)
    start = make(rng, R.parameter_offsets(sizes)[-1], dtype)
    order = np.argsort(rng.random((40, 5)), axis=1).astype(np.int64)
    schedule_parameters = np.array([10.0, 0.5, 0.0, 0.0])   # step: halve every 10 epochs
    runs = []
    for small in (True, False):
        params, counters = start.copy(), np.array([7, 3, 15], np.int64)
        losses, rates = np.full(40, -1.0), np.full(40, -1.0)
        previous = K._set_small_steps(small)
        try:
            result = K.train_epochs(X, Y, params, sizes, activations, "mse", 1, 40,
                                    learning_rate=0.5, counters=counters, order=order,
                                    schedule=schedule, schedule_parameters=schedule_parameters,
                                    target_loss=target_loss, losses_out=losses,
                                    rates_out=rates)
        finally:
            K._set_small_steps(previous)
        runs.append((result, params, counters, losses, rates))
    assert runs[0][0] == runs[1][0]
    ran = runs[0][0][0]
    for got, expected in zip(runs[0][2:], runs[1][2:]):     # counters, losses, rates
        np.testing.assert_array_equal(got[ran:], expected[ran:])
    np.testing.assert_array_equal(runs[0][2], runs[1][2])
    np.testing.assert_array_equal(runs[0][4], runs[1][4])
    _close_runs(runs[0][1], runs[1][1], dtype)
    _close_runs(runs[0][3], runs[1][3], dtype)
    assert (ran < 40) == (target_loss == 0.2 or target_loss == 10.0)


def test_the_small_run_does_not_depend_on_how_epochs_are_split_in_calls(dtype):
    """Each epoch of the register-resident run starts afresh: six epochs in one call and
    in calls of 1, 2 and 3 give the same numbers bit for bit."""
    sizes, activations = [2, 2, 1], ["sigmoid", "sigmoid"]
    rng = np.random.default_rng(10)
    X, Y = make(rng, (4, 2), dtype), make(rng, (4, 1), dtype, 0.0, 1.0)
    start = make(rng, R.parameter_offsets(sizes)[-1], dtype)
    results = []
    for split in ([6], [1, 2, 3], [3, 3]):
        params, losses = start.copy(), []
        for epochs in split:
            out = np.empty(epochs)
            K.train_epochs(X, Y, params, sizes, activations, "mse", 1, epochs,
                           learning_rate=0.5, losses_out=out)
            losses.extend(out)
        results.append((params, losses))
    for params, losses in results[1:]:
        np.testing.assert_array_equal(params, results[0][0])
        np.testing.assert_array_equal(losses, results[0][1])


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu", "identity"])
def test_the_vector_activations_agree_with_the_row_loops(activation):
    """The small networks' step applies activations to 4-lane vectors; its sigmoid takes
    exp by a table (a shorter chain): within 2 ulp of the row loops' (and of NumPy's
    1 / (1 + e^-z) to 3 ulp where exp is not subnormal), the others bit for bit;
    extremes, infinities and NaN alike."""
    rng = np.random.default_rng(12)
    z = np.concatenate([rng.normal(0, 4, 20001), rng.uniform(-800, 800, 2001),
                        rng.uniform(-1e-3, 1e-3, 2001),
                        [0.0, -0.0, 708.0, -708.0, 708.5, -708.5, 745.2, -745.2, 1e308,
                         -1e308, np.inf, -np.inf, np.nan, 5e-324, -5e-324]])
    got = K._activate_by_vectors(z, activation)
    if got is None:
        pytest.skip("no vector types in this build")
    rows = K.activate(z.reshape(1, -1), activation)[0]
    if activation != "sigmoid":
        np.testing.assert_array_equal(got, rows)
        return
    np.testing.assert_array_equal(np.isnan(got), np.isnan(z))
    finite = ~np.isnan(z)
    assert np.all((got[finite] >= 0) & (got[finite] <= 1))
    ulp = np.spacing(np.maximum(np.abs(rows[finite]), np.finfo(np.float64).tiny))
    assert np.max(np.abs(got[finite] - rows[finite]) / ulp) <= 2
    normal = np.abs(z) <= 700              # beyond, fastnn's exp is 0 below -708, not
    exact = 1 / (1 + np.exp(-z[normal]))    # a subnormal
    assert np.max(np.abs(got[normal] - exact) / np.spacing(exact)) <= 3
