"""Every compiled kernel against its NumPy twin: float32 and float64, odd shapes,
read-only, strided and Fortran-ordered inputs, zero rows, in-place use."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conftest import _kernels as K
from conftest import _reference as R
from conftest import assert_close
from helpers import LAYER_SHAPES, LAYOUTS, make

ACTIVATIONS = R.ACTIVATIONS
DIFFERENTIABLE = [a for a in ACTIVATIONS if a != "step"]


def test_both_backends_offer_the_same_functions():
    public = {n for n in dir(R) if not n.startswith("_") and callable(getattr(R, n))}
    public -= {"np"}
    assert public <= set(dir(K))
    assert K.ACTIVATIONS == R.ACTIVATIONS
    assert K.LEAKY_RELU_SLOPE == R.LEAKY_RELU_SLOPE


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("shape", LAYER_SHAPES, ids=str)
def test_dense_forward(rng, dtype, shape, activation, layout):
    n, n_in, n_out = shape
    X, W, b = make(rng, (n, n_in), dtype), make(rng, (n_in, n_out), dtype), make(rng, n_out, dtype)
    present = LAYOUTS[layout]
    expected = R.dense_forward(X, W, b, activation)
    got = K.dense_forward(present(X), present(W), present(b), activation)
    assert got.dtype == dtype and got.shape == (n, n_out) and got.flags.c_contiguous
    if activation == "step":
        # the threshold is exact only away from z = 0
        z = R.dense_forward(X, W, b)
        keep = np.abs(z) > 1e-4
        np.testing.assert_array_equal(got[keep], expected[keep])
    else:
        assert_close(got, expected, dtype)


def test_dense_forward_writes_into_out_and_returns_it(rng, dtype):
    X, W, b = make(rng, (4, 3), dtype), make(rng, (3, 2), dtype), make(rng, 2, dtype)
    out = np.full((4, 2), np.nan, dtype=dtype)
    assert K.dense_forward(X, W, b, "tanh", out=out) is out
    assert_close(out, R.dense_forward(X, W, b, "tanh"), dtype)


@pytest.mark.parametrize("shape", [(1, 1), (0, 3), (3, 7), (64, 129), (2, 1000)], ids=str)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activate(rng, dtype, shape, activation):
    Z = make(rng, shape, dtype, -30, 30)
    expected = R.activate(Z, activation)
    assert_close(K.activate(Z, activation), expected, dtype)
    in_place = Z.copy()
    assert K.activate(in_place, activation, out=in_place) is in_place
    assert_close(in_place, expected, dtype)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("activation", DIFFERENTIABLE)
@pytest.mark.parametrize("shape", [(1, 1), (0, 3), (5, 7), (33, 10)], ids=str)
def test_activation_backward(rng, dtype, shape, activation, layout):
    A = R.activate(make(rng, shape, dtype, -3, 3), activation)
    dA = make(rng, shape, dtype)
    expected = R.activation_backward(A, dA, activation)
    present = LAYOUTS[layout]
    assert_close(K.activation_backward(present(A), present(dA), activation), expected, dtype)


@pytest.mark.parametrize("activation", DIFFERENTIABLE)
def test_activation_backward_in_place_on_the_incoming_gradient(rng, dtype, activation):
    A = R.activate(make(rng, (6, 5), dtype), activation)
    dA = make(rng, (6, 5), dtype)
    expected = R.activation_backward(A, dA, activation)
    assert K.activation_backward(A, dA, activation, out=dA) is dA
    assert_close(dA, expected, dtype)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", LAYER_SHAPES, ids=str)
def test_dense_backward(rng, dtype, shape, layout):
    n, n_in, n_out = shape
    X, W, dZ = make(rng, (n, n_in), dtype), make(rng, (n_in, n_out), dtype), make(rng, (n, n_out), dtype)
    present = LAYOUTS[layout]
    dW, db, dX = K.dense_backward(present(X), present(W), present(dZ))
    rdW, rdb, rdX = R.dense_backward(X, W, dZ)
    assert_close(dW, rdW, dtype)
    assert_close(db, rdb, dtype)
    assert_close(dX, rdX, dtype)


def test_dense_backward_without_input_gradient_fills_given_buffers(rng, dtype):
    X, W, dZ = make(rng, (5, 4), dtype), make(rng, (4, 3), dtype), make(rng, (5, 3), dtype)
    dW, db = np.full((4, 3), np.nan, dtype), np.full(3, np.nan, dtype)
    got = K.dense_backward(X, W, dZ, dW=dW, db=db, need_dX=False)
    assert got[0] is dW and got[1] is db and got[2] is None
    rdW, rdb, _ = R.dense_backward(X, W, dZ)
    assert_close(dW, rdW, dtype)
    assert_close(db, rdb, dtype)


@pytest.mark.parametrize("shape", LAYER_SHAPES, ids=str)
def test_dense_backward_sgd_matches_backward_then_update(rng, dtype, shape):
    n, n_in, n_out = shape
    X, dZ = make(rng, (n, n_in), dtype), make(rng, (n, n_out), dtype)
    W, b = make(rng, (n_in, n_out), dtype), make(rng, n_out, dtype)
    lr = 0.05
    W_ref, b_ref = W.copy(), b.copy()
    dX_ref = R.dense_backward_sgd(X, W_ref, b_ref, dZ, lr)
    dX = K.dense_backward_sgd(X, W, b, dZ, lr)
    assert_close(dX, dX_ref, dtype)
    assert_close(W, W_ref, dtype)
    assert_close(b, b_ref, dtype)
    # and it is the same step as dense_backward followed by sgd_update
    W2, b2 = make(rng, (n_in, n_out), dtype), make(rng, n_out, dtype)
    W3, b3 = W2.copy(), b2.copy()
    dW, db, _ = K.dense_backward(X, W2, dZ)
    K.sgd_update(W2.reshape(-1), dW.reshape(-1), lr)
    K.sgd_update(b2, db, lr)
    K.dense_backward_sgd(X, W3, b3, dZ, lr, need_dX=False)
    assert_close(W3, W2, dtype)
    assert_close(b3, b2, dtype)


@pytest.mark.parametrize("size", [1, 2, 7, 1000])
def test_sgd_update(rng, dtype, size):
    params, grads = make(rng, size, dtype), make(rng, size, dtype)
    expected = params.copy()
    R.sgd_update(expected, grads, 0.1)
    K.sgd_update(params, grads, 0.1)
    assert_close(params, expected, dtype)


@pytest.mark.parametrize("transpose_b", [False, True])
@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("mkn", [(1, 1, 1), (4, 1, 3), (3, 5, 2), (50, 10, 33), (0, 3, 2)], ids=str)
def test_matmul(rng, dtype, mkn, transpose_a, transpose_b):
    m, k, n = mkn
    A = make(rng, (k, m) if transpose_a else (m, k), dtype)
    B = make(rng, (n, k) if transpose_b else (k, n), dtype)
    got = K.matmul(A, B, transpose_a=transpose_a, transpose_b=transpose_b)
    assert got.shape == (m, n)
    assert_close(got, R.matmul(A, B, transpose_a=transpose_a, transpose_b=transpose_b), dtype)


LOSSES = ["mse", "sigmoid_bce", "softmax_cce"]


def _loss_data(rng, dtype, shape, loss):
    pred = make(rng, shape, dtype, -4, 4)
    if loss == "softmax_cce":
        y = np.eye(shape[1], dtype=dtype)[rng.integers(0, shape[1], shape[0])]
    else:
        y = rng.integers(0, 2, shape).astype(dtype)
    return y, pred


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("shape", [(1, 1), (4, 1), (3, 5), (50, 10)], ids=str)
def test_losses_and_gradients(rng, dtype, shape, loss, layout):
    y, pred = _loss_data(rng, dtype, shape, loss)
    present = LAYOUTS[layout]
    value = getattr(K, f"{loss}_loss")(present(y), present(pred))
    assert isinstance(value, float)
    np.testing.assert_allclose(value, getattr(R, f"{loss}_loss")(y, pred),
                               rtol=1e-5 if dtype == np.float32 else 1e-10)
    grad = getattr(K, f"{loss}_gradient")(present(y), present(pred))
    assert_close(grad, getattr(R, f"{loss}_gradient")(y, pred), dtype)


def test_softmax_cce_accepts_soft_labels(rng, dtype):
    z = make(rng, (6, 4), dtype)
    y = rng.dirichlet(np.ones(4), size=6).astype(dtype)
    assert_close(K.softmax_cce_gradient(y, z), R.softmax_cce_gradient(y, z), dtype)
    np.testing.assert_allclose(K.softmax_cce_loss(y, z), R.softmax_cce_loss(y, z), rtol=1e-5)


def test_mse_of_the_tutorial_example():
    # SPEC.md section 3: mean of squared errors, no 1/2 factor
    y_true = np.array([[1.0, 0.0, 0.0, 1.0]])
    y_pred = np.zeros((1, 4))
    assert K.mse_loss(y_true, y_pred) == 0.5
    assert R.mse_loss(y_true, y_pred) == 0.5


finite = st.floats(-50, 50, allow_nan=False, allow_infinity=False, width=32)


@st.composite
def layers(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n, n_in, n_out = (draw(st.integers(0, 12)), draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    X = draw(hnp.arrays(dtype, (n, n_in), elements=finite))
    W = draw(hnp.arrays(dtype, (n_in, n_out), elements=finite))
    b = draw(hnp.arrays(dtype, (n_out,), elements=finite))
    activation = draw(st.sampled_from(DIFFERENTIABLE))
    return dtype, X, W, b, activation


@given(layers())
def test_property_forward_and_backward_match_reference(layer):
    dtype, X, W, b, activation = layer
    A = K.dense_forward(X, W, b, activation)
    expected = R.dense_forward(X, W, b, activation)
    # pre-activations reach ~1e5 here: compare on the scale of the row's largest term
    scale = 1 + np.abs(X) @ np.abs(W) + np.abs(b)
    tol = 1e-5 if dtype == np.float32 else 1e-10
    assert np.all(np.abs(A - expected) <= tol * scale)
    dZ = K.activation_backward(A, np.ones_like(A), activation)
    dW, db, dX = K.dense_backward(X, W, dZ)
    rdW, rdb, rdX = R.dense_backward(X, W, dZ)
    for got, ref in ((dW, rdW), (db, rdb), (dX, rdX)):
        assert np.allclose(got, ref, rtol=tol, atol=tol * (1 + np.abs(ref).max(initial=0)))
