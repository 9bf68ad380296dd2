"""The kernels' two ways of computing a matrix product, the small-matrix kernels
and BLAS, each forced in turn: both agree with the NumPy reference at odd sizes,
in float32 and float64, for every transpose, never write outside the output,
and whole training runs agree; the default rule picks the one it documents."""
import numpy as np
import pytest

from conftest import _kernels as K
from conftest import _reference as R
from conftest import assert_close
from helpers import LAYOUTS, make

#: (threshold, small_batch) for _set_product_path
PATHS = {"small": (1 << 62, 1 << 62), "blas": (0, 0)}
ODD = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 67]


@pytest.fixture(params=list(PATHS))
def path(request):
    previous = K._set_product_path(*PATHS[request.param])
    yield request.param
    K._set_product_path(*previous)


def _guarded(rng, shape, dtype, guard=16):
    """An array of `shape` inside a larger buffer whose margins hold a sentinel."""
    size = int(np.prod(shape))
    buffer = np.full(size + 2 * guard, 7.25, dtype)
    buffer[guard:guard + size] = make(rng, size, dtype)
    return buffer, buffer[guard:guard + size].reshape(shape)


@pytest.mark.parametrize("transpose_b", [False, True])
@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("m", [1, 3, 8, 17, 67])
@pytest.mark.parametrize("k", [1, 4, 5, 9, 33])
@pytest.mark.parametrize("n", [1, 2, 7, 16, 31, 64])
def test_matmul_at_odd_sizes(rng, dtype, path, m, k, n, transpose_a, transpose_b):
    A = make(rng, (k, m) if transpose_a else (m, k), dtype)
    B = make(rng, (n, k) if transpose_b else (k, n), dtype)
    buffer, out = _guarded(rng, (m, n), dtype)
    before = buffer.copy()
    got = K.matmul(A, B, out=out, transpose_a=transpose_a, transpose_b=transpose_b)
    assert got is out
    # entries are sums of k products of size <= 4: rounding is relative to that scale
    np.testing.assert_allclose(out, R.matmul(A, B, transpose_a=transpose_a, transpose_b=transpose_b),
                               rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=8 * k * 4 * np.finfo(dtype).eps)
    np.testing.assert_array_equal(buffer[:16], before[:16])       # nothing written outside
    np.testing.assert_array_equal(buffer[-16:], before[-16:])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_matmul_of_read_only_and_non_contiguous_operands(rng, dtype, path, layout):
    present = LAYOUTS[layout]
    for m, k, n in [(1, 67, 33), (5, 9, 17), (64, 31, 2)]:
        A, B = make(rng, (m, k), dtype), make(rng, (k, n), dtype)
        expected = R.matmul(A, B)
        assert_close(K.matmul(present(A), present(B)), expected, dtype)
        assert_close(K.matmul(present(A.T.copy()), present(B), transpose_a=True), expected, dtype)
        assert_close(K.matmul(present(A), present(B.T.copy()), transpose_b=True), expected, dtype)


@pytest.mark.parametrize("shape", [(1, 64, 32), (1, 67, 1), (3, 5, 17), (1, 1, 9)], ids=str)
def test_fused_sgd_backward_on_each_path(rng, dtype, path, shape):
    """W -= lr X.T dZ with beta = 1 and alpha = -lr, and dX = dZ W.T, as the reference."""
    n, n_in, n_out = shape
    X, W, dZ = make(rng, (n, n_in), dtype), make(rng, (n_in, n_out), dtype), make(rng, (n, n_out), dtype)
    b = make(rng, n_out, dtype)
    W_ref, b_ref = W.copy(), b.copy()
    dX_ref = R.dense_backward_sgd(X, W_ref, b_ref, dZ, 0.3)
    dX = K.dense_backward_sgd(X, W, b, dZ, 0.3)
    assert_close(dX, dX_ref, dtype)
    assert_close(W, W_ref, dtype)
    assert_close(b, b_ref, dtype)


# One sample through a layer (per-sample training, one-row predictions) takes the
# one-sample kernels of _sample_kernels.h: column blocks held in registers, whose
# last partial block is recomputed in full and must still not reach outside.
ONE_SAMPLE = [1, 2, 3, 4, 5, 7, 8, 9, 10, 15, 16, 17, 31, 32, 33, 63, 64, 65, 67]


@pytest.mark.parametrize("n_out", ONE_SAMPLE)
@pytest.mark.parametrize("n_in", [1, 3, 8, 9, 64, 67])
def test_one_sample_forward_at_odd_sizes(rng, dtype, n_in, n_out):
    X, W, b = make(rng, (1, n_in), dtype), make(rng, (n_in, n_out), dtype), make(rng, n_out, dtype)
    buffer, out = _guarded(rng, (1, n_out), dtype)
    before = buffer.copy()
    assert K.dense_forward(X, W, b, "tanh", out=out) is out
    np.testing.assert_allclose(out, R.dense_forward(X, W, b, "tanh"),
                               rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=8 * n_in * 4 * np.finfo(dtype).eps)
    np.testing.assert_array_equal(buffer[:16], before[:16])       # nothing written outside
    np.testing.assert_array_equal(buffer[-16:], before[-16:])
    if n_in * n_out >= 100:     # smaller layers take plain loops, with the bias added last
        # the same additions in the same order as the small kernels for a batch (float32
        # predictions take BLAS by default, even for one row: the small path is forced)
        batch = np.vstack([X, make(rng, (2, n_in), dtype)])
        previous = K._set_product_path(*PATHS["small"])
        try:
            alone = K.dense_forward(X, W, b, "tanh")
            in_batch = K.dense_forward(batch, W, b, "tanh")[:1]
        finally:
            K._set_product_path(*previous)
        np.testing.assert_array_equal(alone, in_batch)


@pytest.mark.parametrize("n_out", ONE_SAMPLE)
@pytest.mark.parametrize("n_in", [1, 3, 8, 9, 64, 67])
def test_one_sample_sgd_backward_at_odd_sizes(rng, dtype, n_in, n_out):
    """dX with W before its update, then W and b updated, nothing outside touched."""
    X, dZ = make(rng, (1, n_in), dtype), make(rng, (1, n_out), dtype)
    W_buffer, W = _guarded(rng, (n_in, n_out), dtype)
    b_buffer, b = _guarded(rng, n_out, dtype)
    dX_buffer, dX = _guarded(rng, (1, n_in), dtype)
    buffers = [(buf, buf.copy()) for buf in (W_buffer, b_buffer, dX_buffer)]
    W_ref, b_ref = W.copy(), b.copy()
    dX_ref = R.dense_backward_sgd(X, W_ref, b_ref, dZ, 0.3)
    assert K.dense_backward_sgd(X, W, b, dZ, 0.3, dX=dX) is dX
    # dX sums n_out products of size <= 4: rounding is relative to that scale
    np.testing.assert_allclose(dX, dX_ref, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=8 * n_out * 4 * np.finfo(dtype).eps)
    assert_close(W, W_ref, dtype)
    assert_close(b, b_ref, dtype)
    for buf, before in buffers:
        np.testing.assert_array_equal(buf[:16], before[:16])
        np.testing.assert_array_equal(buf[-16:], before[-16:])
    W_alone, b_alone = W_ref.copy(), b_ref.copy()    # without dX: the same update
    W_ref, b_ref = W_alone.copy(), b_alone.copy()
    R.dense_backward_sgd(X, W_ref, b_ref, dZ, 0.3, need_dX=False)
    assert K.dense_backward_sgd(X, W_alone, b_alone, dZ, 0.3, need_dX=False) is None
    assert_close(W_alone, W_ref, dtype)
    assert_close(b_alone, b_ref, dtype)


def test_one_sample_backward_gives_each_row_of_dx_as_alone(rng, dtype):
    """dX is computed for rows in fours where the build allows, one by one otherwise:
    bit for bit the same sums (a row of W alone takes the one-by-one path)."""
    for n_in, n_out in [(9, 100), (13, 131), (5, 256)]:
        X, W = make(rng, (1, n_in), dtype), make(rng, (n_in, n_out), dtype)
        b, dZ = make(rng, n_out, dtype), make(rng, (1, n_out), dtype)
        dX = K.dense_backward_sgd(X, W.copy(), b.copy(), dZ, 0.1)
        for p in range(n_in):
            alone = K.dense_backward_sgd(X[:, p:p + 1], W[p:p + 1].copy(), b.copy(), dZ, 0.1)
            assert alone[0, 0] == dX[0, p], (n_in, n_out, p)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_one_sample_kernels_read_any_layout(rng, dtype, layout):
    present = LAYOUTS[layout]
    X, W, b = make(rng, (1, 67), dtype), make(rng, (67, 33), dtype), make(rng, 33, dtype)
    dZ = make(rng, (1, 33), dtype)
    assert_close(K.dense_forward(present(X), present(W), present(b), "sigmoid"),
                 R.dense_forward(X, W, b, "sigmoid"), dtype)
    W_ref, b_ref, W_k, b_k = W.copy(), b.copy(), W.copy(), b.copy()
    dX_ref = R.dense_backward_sgd(X, W_ref, b_ref, dZ, 0.1)
    np.testing.assert_allclose(K.dense_backward_sgd(present(X), W_k, b_k, present(dZ), 0.1),
                               dX_ref, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=8 * 33 * 4 * np.finfo(dtype).eps)
    assert_close(W_k, W_ref, dtype)
    assert_close(b_k, b_ref, dtype)


@pytest.mark.parametrize("batch_size", [1, 3])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_runs_agree_on_both_paths(dtype, batch_size, optimizer):
    rng = np.random.default_rng(3)
    sizes, activations = [13, 17, 5, 3], ["tanh", "relu", "identity"]
    X, Y = make(rng, (40, 13), dtype), make(rng, (40, 3), dtype)
    start = make(rng, R.parameter_offsets(sizes)[-1], dtype, -0.5, 0.5)
    hyper = np.zeros(len(K.HYPERPARAMETERS))
    if optimizer == "adam":
        hyper[list(K.HYPERPARAMETERS).index("beta1")] = 0.9
        hyper[list(K.HYPERPARAMETERS).index("beta2")] = 0.999
        hyper[list(K.HYPERPARAMETERS).index("eps")] = 1e-8
    results = {}
    for name, rule in PATHS.items():
        previous = K._set_product_path(*rule)
        try:
            params = start.copy()
            state = np.zeros(K.state_size(optimizer, hyper, params.shape[0]), dtype)
            losses = K.train_epochs(X, Y, params, sizes, activations, "mse", batch_size, 3,
                                    optimizer=optimizer, hyperparameters=hyper,
                                    learning_rate=0.01, state=state)
        finally:
            K._set_product_path(*previous)
        results[name] = params, losses
    assert_close(results["small"][0], results["blas"][0], dtype)
    np.testing.assert_allclose(results["small"][1], results["blas"][1], rtol=1e-4)


def test_the_default_rule_uses_the_small_kernels_for_single_rows_and_blas_for_batches(dtype):
    """Bit for bit: a single-row product equals the forced small kernels' result, a
    64-row product of wide layers the forced BLAS result."""
    rng = np.random.default_rng(5)
    for (m, k, n), expected_path in [((1, 256, 128), "small"), ((64, 256, 128), "blas")]:
        A, B = make(rng, (m, k), dtype), make(rng, (k, n), dtype)
        default = K.matmul(A, B)
        forced = {}
        for name, rule in PATHS.items():
            previous = K._set_product_path(*rule)
            try:
                forced[name] = K.matmul(A, B)
            finally:
                K._set_product_path(*previous)
        assert not np.array_equal(forced["small"], forced["blas"]), "the paths must differ"
        np.testing.assert_array_equal(default, forced[expected_path])


def test_the_batch_rule_follows_the_blas_kernels_found_at_import():
    from fastnn import _dispatch
    assert _dispatch.small_batch_for("Haswell") == 4
    assert _dispatch.small_batch_for("Zen") == 4
    assert _dispatch.small_batch_for("SkylakeX") == 1
    assert _dispatch.small_batch_for(None) == 1
    current = K._set_product_path(100, 1)
    K._set_product_path(*current)
    assert current == (100, _dispatch.small_batch_for(_dispatch.blas_core()))
