"""The whole-network kernels (network_forward, train_epochs, all_finite) against the
reference, and their argument checks: never a crash, whatever the caller passes."""
import numpy as np
import pytest

from conftest import _kernels as K
from conftest import _reference as R
from conftest import assert_close

SIZES = [5, 7, 3]


def network(rng, dtype, sizes=SIZES):
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    return rng.uniform(-1, 1, n_params).astype(dtype)


@pytest.mark.parametrize("n", [0, 1, 4, 33])
@pytest.mark.parametrize("activations", [["sigmoid", "identity"], ["relu", "softmax"],
                                         ["tanh", "step"], ["leaky_relu", "sigmoid"]])
def test_network_forward(rng, dtype, n, activations):
    X, params = rng.standard_normal((n, 5)).astype(dtype), network(rng, dtype)
    expected = R.network_forward(X, params, SIZES, activations)
    got = K.network_forward(X, params, SIZES, activations)
    assert got.shape == (n, 3)
    assert_close(got, expected, dtype)


def test_network_forward_of_one_layer_and_of_many(rng, dtype):
    for sizes in ([4, 2], [4, 9, 8, 7, 6, 2]):
        X, params = rng.standard_normal((6, 4)).astype(dtype), network(rng, dtype, sizes)
        acts = ["tanh"] * (len(sizes) - 1)
        assert_close(K.network_forward(X, params, sizes, acts),
                     R.network_forward(X, params, sizes, acts), dtype)


@pytest.mark.parametrize("loss,last", [("mse", "sigmoid"), ("mse", "identity"), ("bce", "sigmoid"),
                                       ("cce", "softmax")])
@pytest.mark.parametrize("batch_size", [1, 3, 8, 100])
@pytest.mark.parametrize("shuffle", [False, True])
def test_train_epochs_matches_reference(rng, dtype, loss, last, batch_size, shuffle):
    n, epochs = 8, 4
    X = rng.standard_normal((n, 5)).astype(dtype)
    Y = rng.uniform(0, 1, (n, 3)).astype(dtype)
    if loss == "cce":
        Y = np.eye(3, dtype=dtype)[rng.integers(0, 3, n)]
    order = np.array([rng.permutation(n) for _ in range(epochs)]) if shuffle else None
    acts = ["tanh", last]
    results = []
    for k in (K, R):
        params = network(np.random.default_rng(1), dtype)
        losses = np.zeros(epochs)
        ran, stop = k.train_epochs(X, Y, params, SIZES, acts, loss, batch_size, epochs,
                                   learning_rate=0.1, order=order, target_loss=0.0,
                                   losses_out=losses)
        results.append((ran, stop, losses, params))
    (ran_k, stop_k, losses_k, params_k), (ran_r, stop_r, losses_r, params_r) = results
    assert (ran_k, stop_k) == (ran_r, stop_r) == (epochs, 0)
    assert_close(losses_k, losses_r, dtype)
    assert_close(params_k, params_r, dtype)


def test_train_epochs_restores_the_epoch_start_on_divergence(dtype):
    X = np.array([[1e3, -1e3], [-1e3, 2e3]], dtype)
    Y = np.array([[1e3], [-1e3]], dtype)
    params = np.full(2 * 4 + 4 + 4 + 1, 0.5, dtype)
    losses = np.zeros(100)
    ran, stop = K.train_epochs(X, Y, params, [2, 4, 1], ["identity", "identity"], "mse", 1, 100,
                               learning_rate=1.0, losses_out=losses)
    assert stop == K.STOP_DIVERGED and not np.isfinite(losses[ran - 1])
    assert np.all(np.isfinite(params))
    # replaying the finite epochs reaches exactly the restored state
    replay = np.full_like(params, 0.5)
    K.train_epochs(X, Y, replay, [2, 4, 1], ["identity", "identity"], "mse", 1, ran - 1,
                   learning_rate=1.0)
    np.testing.assert_array_equal(params, replay)


@pytest.mark.parametrize("module", [K, R], ids=["compiled", "reference"])
def test_train_epochs_counts_overflowed_parameters_as_divergence(module, dtype):
    params = np.array([1.0, 0.0], dtype)
    losses = np.zeros(3)
    ran, stop = module.train_epochs(np.ones((1, 1), dtype), np.zeros((1, 1), dtype), params,
                                    [1, 1], ["identity"], "mse", 1, 3,
                                    learning_rate=float(np.finfo(dtype).max), losses_out=losses)
    assert (ran, stop) == (1, K.STOP_DIVERGED)
    assert losses[0] == 1.0                      # finite: measured before the update
    np.testing.assert_array_equal(params, [1.0, 0.0])


def test_all_finite(dtype):
    for bad in (np.nan, np.inf, -np.inf):
        for position in (0, 4095, 4096, 9999):
            a = np.zeros(10000, dtype)
            a[position] = bad
            assert not K.all_finite(a) and not R.all_finite(a)
    assert K.all_finite(np.full((3, 3), np.finfo(dtype).max, dtype))
    assert K.all_finite(np.zeros((0, 4), dtype))


def good_args(dtype=np.float64):
    X, Y = np.zeros((4, 5), dtype), np.zeros((4, 3), dtype)
    params = np.zeros(5 * 7 + 7 + 7 * 3 + 3, dtype)
    return dict(X=X, Y=Y, params=params, layer_sizes=SIZES, activations=["relu", "sigmoid"],
                loss="mse", learning_rate=0.1, batch_size=2, epochs=2)


_SHARED = np.zeros(66)       # one buffer behind two arguments
_SHARED_X = np.zeros(20)
BAD_TRAINING = {
    "order out of range": ({"order": np.array([[0, 1, 2, 4], [0, 1, 2, 3]])}, ValueError, ["order", "[0, 4)"]),
    "order negative": ({"order": np.array([[0, 1, -1, 3], [0, 1, 2, 3]])}, ValueError, ["order"]),
    "order too short": ({"order": np.array([[0, 1, 2, 3]])}, ValueError, ["order", "(2, 4)"]),
    "params wrong size": ({"params": np.zeros(10)}, ValueError, ["params", "66", "10"]),
    "params read-only": ({"params": np.broadcast_to(0.0, (66,))}, ValueError, ["params", "writeable"]),
    "sizes too few": ({"layer_sizes": [5]}, ValueError, ["layer_sizes"]),
    "size zero": ({"layer_sizes": [5, 0, 3]}, ValueError, ["layer_sizes", ">= 1"]),
    "size float": ({"layer_sizes": [5, 7.5, 3]}, ValueError, ["layer_sizes"]),
    "activation count": ({"activations": ["relu"]}, ValueError, ["activations", "one activation per layer"]),
    "step": ({"activations": ["step", "sigmoid"]}, ValueError, ["step"]),
    "bce output": ({"loss": "bce", "activations": ["relu", "tanh"]}, ValueError, ["bce", "sigmoid"]),
    "cce output": ({"loss": "cce"}, ValueError, ["cce", "softmax"]),
    "unknown loss": ({"loss": "l1"}, ValueError, ["loss", "'l1'"]),
    "batch zero": ({"batch_size": 0}, ValueError, ["batch_size", ">= 1"]),
    "epochs negative": ({"epochs": -1}, ValueError, ["epochs"]),
    "lr negative": ({"learning_rate": -0.1}, ValueError, ["learning_rate"]),
    "X features": ({"X": np.zeros((4, 6))}, ValueError, ["X has 6 features", "expects 5"]),
    "Y rows": ({"Y": np.zeros((3, 3))}, ValueError, ["Y", "3 rows", "X has 4"]),
    "Y columns": ({"Y": np.zeros((4, 2))}, ValueError, ["Y has 2 columns", "3 outputs"]),
    "X empty": ({"X": np.zeros((0, 5)), "Y": np.zeros((0, 3))}, ValueError, ["at least one sample"]),
    "losses_out short": ({"losses_out": np.zeros(1)}, ValueError, ["losses_out"]),
    "losses_out inside params": ({"params": _SHARED[:66], "losses_out": _SHARED[:2]}, ValueError, ["losses_out", "params"]),
    "params overlap X": ({"params": _SHARED[:66], "X": _SHARED[40:60].reshape(4, 5)}, ValueError, ["params", "X"]),
    "order of floats": ({"order": np.array([[0.9, 1.2, 2.5, 3.1]] * 2)}, TypeError, ["order", "integer", "float64"]),
    "lr a string": ({"learning_rate": "0.1"}, TypeError, ["learning_rate", "real number", "str"]),
    "batch None": ({"batch_size": None}, TypeError, ["batch_size", "integer", "NoneType"]),
    "epochs float": ({"epochs": 2.0}, TypeError, ["epochs", "integer", "float"]),
    "target None": ({"target_loss": None}, TypeError, ["target_loss", "real number"]),
    "activations None": ({"activations": None}, TypeError, ["activations", "list", "NoneType"]),
    "loss a list": ({"loss": ["mse"]}, ValueError, ["loss", "['mse']"]),
    "unknown optimizer": ({"optimizer": "lbfgs"}, ValueError, ["optimizer", "'lbfgs'", "'adam'"]),
    "optimizer not a string": ({"optimizer": 1}, ValueError, ["optimizer", "1"]),
    "state missing": ({"optimizer": "adagrad"}, ValueError, ["state", "66 values", "None"]),
    "state wrong size": ({"optimizer": "adagrad", "state": np.zeros(10)}, ValueError, ["state", "(66,)", "(10,)"]),
    "state wrong dtype": ({"optimizer": "adagrad", "state": np.zeros(66, np.float32)}, ValueError, ["state", "float64", "float32"]),
    "state read-only": ({"optimizer": "adagrad", "state": np.broadcast_to(0.0, (66,))}, ValueError, ["state", "writeable"]),
    "state a list": ({"optimizer": "adagrad", "state": [0.0] * 66}, ValueError, ["state", "list"]),
    "state overlaps params": ({"optimizer": "adagrad", "params": _SHARED[:66], "state": _SHARED[:66]}, ValueError, ["state", "params"]),
    "hyperparameters short": ({"hyperparameters": np.zeros(3)}, ValueError, ["hyperparameters", "16 values", "3"]),
    "hyperparameters int": ({"hyperparameters": np.zeros(16, int)}, ValueError, ["hyperparameters", "float64", "int64"]),
    "counters float": ({"counters": np.zeros(3)}, ValueError, ["counters", "int64", "float64"]),
    "counters short": ({"counters": np.zeros(2, np.int64)}, ValueError, ["counters", "(3,)", "(2,)"]),
    "counters negative": ({"counters": np.array([0, -1, 0])}, ValueError, ["counters", ">= 0"]),
    "counters inside X": ({"X": _SHARED_X.reshape(4, 5), "counters": _SHARED_X[:3].view(np.int64)}, ValueError, ["counters shares memory with X"]),
    "unknown schedule": ({"schedule": "warm"}, ValueError, ["schedule", "'warm'", "'cosine'"]),
    "schedule parameters short": ({"schedule": "step", "schedule_parameters": np.ones(2)}, ValueError, ["schedule_parameters", "4 values", "2"]),
    "clip negative": ({"clip_norm": -1.0}, ValueError, ["clip_norm", ">= 0"]),
    "clip nan": ({"clip_norm": float("nan")}, ValueError, ["clip_norm", "nan"]),
    "clip a string": ({"clip_norm": "1"}, TypeError, ["clip_norm", "real number"]),
    "rprop mini-batches": ({"optimizer": "rprop", "state": np.zeros(132)}, ValueError, ["rprop", "full batches", "batch_size=2"]),
    "rates_out short": ({"rates_out": np.zeros(1)}, ValueError, ["rates_out", "2 values"]),
    "rates_out inside losses_out": ({"losses_out": _SHARED[:2], "rates_out": _SHARED[1:3]}, ValueError, ["rates_out", "losses_out"]),
    "lr a huge int": ({"learning_rate": 10**400}, ValueError, ["learning_rate", "1329 bits", "too large"]),
    "target a huge int": ({"target_loss": -10**400}, ValueError, ["target_loss", "too large"]),
    "batch beyond Py_ssize_t": ({"batch_size": 2**63}, ValueError, ["batch_size", "out of range"]),
    "layer_sizes a string": ({"layer_sizes": "573"}, TypeError, ["layer_sizes", "list", "str"]),
    "activations a string": ({"activations": "relu"}, TypeError, ["activations", "list", "str"]),
    "layer_sizes of a bool": ({"layer_sizes": [5, True, 3]}, ValueError, ["layer_sizes[1]", "True"]),
}


@pytest.mark.parametrize("case", BAD_TRAINING)
def test_train_epochs_rejects_bad_arguments_and_changes_nothing(case):
    changes, exc_type, words = BAD_TRAINING[case]
    args = {**good_args(), **changes}
    params_before = np.array(args["params"], copy=True)
    with pytest.raises(exc_type) as info:
        K.train_epochs(**args)
    for word in words:
        assert word in str(info.value), str(info.value)
    np.testing.assert_array_equal(args["params"], params_before)


def test_network_forward_rejects_bad_arguments():
    X, params = np.zeros((2, 5)), np.zeros(66)
    with pytest.raises(ValueError, match="X has 4 features"):
        K.network_forward(np.zeros((2, 4)), params, SIZES, ["relu", "relu"])
    with pytest.raises(ValueError, match="params must hold 66"):
        K.network_forward(X, params[:-1], SIZES, ["relu", "relu"])
    with pytest.raises(ValueError, match="out shares memory with params"):
        K.network_forward(X, params, SIZES, ["relu", "relu"], out=params[:6].reshape(2, 3))


def test_network_forward_runs_in_blocks_with_a_bounded_scratch(dtype):
    import tracemalloc
    rng = np.random.default_rng(0)
    sizes, acts = [4, 256, 3], ["tanh", "sigmoid"]
    X, params = rng.standard_normal((40000, 4)).astype(dtype), network(rng, dtype, sizes)
    tracemalloc.start()
    try:
        got = K.network_forward(X, params, sizes, acts)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # one block of all rows needed 2 x 40000 x 256 values of scratch (164 MB in float64)
    assert peak < 24 * 2**20, f"network_forward allocated {peak} bytes"
    assert_close(got, R.network_forward(X, params, sizes, acts), dtype)


def test_network_forward_gives_the_same_rows_whatever_the_block_size(rng, dtype):
    X, params = rng.standard_normal((10, 5)).astype(dtype), network(rng, dtype)
    acts = ["relu", "softmax"]
    whole = K.network_forward(X, params, SIZES, acts)
    previous = K._set_forward_block(1, 3)      # blocks of 3 rows: 3, 3, 3, 1
    try:
        blocked = K.network_forward(X, params, SIZES, acts)
    finally:
        K._set_forward_block(*previous)
    assert_close(blocked, whole, dtype)
