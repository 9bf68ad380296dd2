"""ForwardPlan, the compiled forward pass behind Network.predict: the same outputs as
network_forward, None (computing nothing) for every input it does not take, the
parameters as they are at each call, and Network.predict's errors unchanged."""
import copy
import pickle
import threading

import numpy as np
import pytest

import fastnn
from conftest import _kernels as K
from conftest import _reference as R
from conftest import assert_close
from helpers import make, strided

ARCHITECTURES = [([2, 2, 1], ["sigmoid", "sigmoid"]),
                 ([64, 32, 10], ["sigmoid", "softmax"]),
                 ([7, 1, 3], ["tanh", "identity"]),
                 ([5, 1100, 3], ["relu", "leaky_relu"]),     # wider than the stack scratch
                 ([3, 17, 9, 4], ["relu", "tanh", "softmax"])]


def _plan(rng, sizes, activations, dtype):
    params = make(rng, R.parameter_offsets(sizes)[-1], dtype, -1, 1)
    return K.ForwardPlan(params, sizes, activations), params


@pytest.mark.parametrize("sizes, activations", ARCHITECTURES, ids=str)
@pytest.mark.parametrize("rows", [None, 1, 2, 300])
def test_outputs_equal_network_forward(rng, dtype, sizes, activations, rows):
    plan, params = _plan(rng, sizes, activations, dtype)
    X = make(rng, (rows or 1, sizes[0]), dtype)
    expected = R.network_forward(X, params, sizes, activations)
    got = plan.outputs(X[0] if rows is None else X)
    assert got.dtype == dtype and got.flags.c_contiguous
    assert got.shape == ((sizes[-1],) if rows is None else (rows, sizes[-1]))
    # sums of up to max(sizes) products: the absolute rounding grows with that
    np.testing.assert_allclose(got.reshape(expected.shape), expected,
                               rtol=1e-5 if dtype == np.float32 else 1e-10,
                               atol=(1e-6 if dtype == np.float32 else 1e-12) * max(sizes))


@pytest.mark.parametrize("X, why", [
    ([0.5, 0.5], "a list"),
    (np.array([1, 2]), "integers"),
    (np.zeros((0, 2)), "no rows"),
    (np.zeros(3), "3 features"),
    (np.zeros((2, 3)), "3 features"),
    (np.zeros((1, 1, 2)), "3-d"),
    (np.array([np.nan, 0.0]), "NaN"),
    (np.array([[0.0, 1.0], [np.inf, 0.0]]), "infinity"),
    (np.array([1.0, 2.0], dtype=">f8"), "big-endian"),
    (strided(np.zeros((3, 2))), "non-contiguous"),
    (np.float64(1.0), "a scalar"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_outputs_is_none_for_what_it_does_not_take(X, why):
    plan = K.ForwardPlan(np.zeros(9), [2, 2, 1], ["sigmoid", "sigmoid"])
    assert plan.outputs(X) is None, why


def test_outputs_is_none_for_the_other_dtype():
    plan = K.ForwardPlan(np.zeros(9, np.float32), [2, 2, 1], ["sigmoid", "sigmoid"])
    assert plan.outputs(np.zeros(2)) is None
    assert plan.outputs(np.zeros(2, np.float32)).dtype == np.float32


@pytest.mark.parametrize("args, error", [
    ((np.zeros(8), [2, 2, 1], ["sigmoid", "sigmoid"]), "params must hold 9 values"),
    ((np.zeros(9, int), [2, 2, 1], ["sigmoid", "sigmoid"]), "params must have dtype"),
    ((np.zeros((3, 3)), [2, 2, 1], ["sigmoid", "sigmoid"]), "1-d"),
    ((np.zeros(9), [2, 2, 1], ["sigmoid"]), "one activation per layer"),
    ((np.zeros(9), [2, 0, 1], ["sigmoid", "sigmoid"]), "layer_sizes"),
    ((np.zeros(9), [2, 2, 1], ["sigmoid", "bogus"]), "bogus"),
    (([0.0] * 9, [2, 2, 1], ["sigmoid", "sigmoid"]), "numpy.ndarray"),
])
def test_a_plan_of_an_invalid_network_is_refused(args, error):
    with pytest.raises((ValueError, TypeError), match=error):
        K.ForwardPlan(*args)


def test_the_plan_reads_the_parameters_at_each_call(dtype):
    net = fastnn.Network([3, 5, 2], activation="tanh", dtype=dtype, seed=1)
    x = np.linspace(-1, 1, 3).astype(dtype)
    before = net.predict(x)
    net.set_parameters(biases=[np.ones(5), np.full(2, 0.5)])
    after = net.predict(x)
    assert not np.allclose(before, after)
    assert_close(after, R.network_forward(x[None], net.parameters, [3, 5, 2],
                                          net.activations)[0], dtype)
    net.fit(np.eye(3), np.zeros((3, 2)), epochs=3, learning_rate=0.5, shuffle=False)
    assert_close(net.predict(x), R.network_forward(x[None], net.parameters, [3, 5, 2],
                                                   net.activations)[0], dtype)


def test_predict_keeps_its_errors():
    net = fastnn.Network([3, 4, 2], seed=0)
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        net.predict(np.array([0.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="X has 2 features, but this Network expects 3"):
        net.predict(np.zeros(2))
    with pytest.raises(ValueError, match="at least one sample"):
        net.predict(np.zeros((0, 3)))
    assert net.predict([1, 2, 3]).shape == (2,)                  # converted, then computed
    assert net.predict(np.ones((4, 3), np.float32)).dtype == np.float64


def test_copies_and_pickles_get_their_own_plan():
    net = fastnn.Network([4, 6, 3], activation="relu", seed=2)
    x = np.arange(4.0)
    for other in (copy.copy(net), copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        np.testing.assert_array_equal(other.predict(x), net.predict(x))
        other.set_parameters(biases=[np.zeros(6), np.ones(3)])
        assert not np.array_equal(other.predict(x), net.predict(x))


def test_the_numpy_backend_has_no_plan_and_the_same_predictions(dtype):
    a = fastnn.Network([5, 4, 2], seed=3, dtype=dtype)
    b = fastnn.Network([5, 4, 2], seed=3, dtype=dtype, backend="numpy")
    x = np.linspace(0, 1, 5).astype(dtype)
    assert b._plan is None
    assert_close(a.predict(x), b.predict(x), dtype)


def test_rows_predict_as_in_a_batch(dtype):
    """A row alone and in a batch: float64 single rows take the small kernels (1e-15
    apart from BLAS), float32 ones BLAS, as batches do."""
    rng = np.random.default_rng(4)
    net = fastnn.Network([20, 100, 3], activation="relu", dtype=dtype, seed=4)
    X = make(rng, (50, 20), dtype, -3, 3)
    batch = net.predict(X)
    one_by_one = np.array([net.predict(X[i:i + 1])[0] for i in range(50)])
    np.testing.assert_allclose(one_by_one, batch, rtol=0,
                               atol=1e-13 if dtype == np.float64 else 1e-6)


def test_concurrent_single_row_predictions():
    net = fastnn.Network([64, 32, 10], seed=5)
    X = np.random.default_rng(5).uniform(size=(400, 64))
    expected = net.predict(X)
    results = [None] * 4

    def work(t):
        results[t] = np.array([net.predict(X[i]) for i in range(t, 400, 4)])

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for t in range(4):
        np.testing.assert_allclose(results[t], expected[t::4], rtol=1e-12)
