"""Numerical safety at the extremes: no overflow, no log(0), no warnings, NaN propagates."""
import warnings

import numpy as np
import pytest

from conftest import _kernels as K
from conftest import _reference as R

EXTREMES = [-np.inf, -1000.0, -745.0, -709.0, -40.0, -1.0, 0.0, 1.0, 40.0, 709.0, 1000.0, np.inf]


@pytest.fixture(params=[K, R], ids=["compiled", "numpy"])
def backend(request):
    return request.param


def test_sigmoid_is_finite_and_in_unit_interval_at_the_extremes(backend, dtype):
    z = np.array([EXTREMES], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = backend.activate(z, "sigmoid")
    assert np.all(np.isfinite(s)) and np.all((s >= 0) & (s <= 1))
    assert s[0, 0] == 0 and s[0, -1] == 1 and s[0, EXTREMES.index(0.0)] == 0.5
    assert s[0, EXTREMES.index(-1000.0)] == 0 and s[0, EXTREMES.index(1000.0)] == 1


def test_sigmoid_of_the_tutorial_neuron():
    # SPEC.md section 1: w.x + b = 7 -> 0.9990889488055994
    assert abs(K.activate(np.array([[7.0]]), "sigmoid")[0, 0] - 0.9990889488055994) < 1e-15


def test_tanh_and_softmax_at_the_extremes(backend, dtype):
    z = np.array([EXTREMES], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = backend.activate(z, "tanh")
        soft = backend.activate(np.array([[-1000.0, 0.0, 1000.0], [1e30, 1e30, -1e30]],
                                         dtype=dtype), "softmax")
    assert t[0, 0] == -1 and t[0, -1] == 1 and np.all(np.abs(t) <= 1)
    np.testing.assert_array_equal(soft, [[0, 0, 1], [0.5, 0.5, 0]])


def test_tanh_is_accurate_near_zero():
    z = np.array([[1e-300, 1e-12, -3e-9, 1e-5, 0.01]])
    np.testing.assert_allclose(K.activate(z, "tanh"), np.tanh(z), rtol=1e-15)


def test_cross_entropies_are_finite_for_confident_logits(backend, dtype):
    z = np.array([[-800.0, 800.0, 0.0]], dtype=dtype)
    y = np.array([[1.0, 0.0, 1.0]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bce = backend.sigmoid_bce_loss(y, z)
        cce = backend.softmax_cce_loss(y, z)
        grads = (backend.sigmoid_bce_gradient(y, z), backend.softmax_cce_gradient(y, z))
    # -log(sigmoid(-800)) = 800 and -log(1 - sigmoid(800)) = 800; log 2 for z = 0
    np.testing.assert_allclose(bce, (800 + 800 + np.log(2)) / 3, rtol=1e-6)
    np.testing.assert_allclose(cce, 1600 + 800, rtol=1e-6)   # two labels: 1600 + 800
    assert all(np.all(np.isfinite(g)) for g in grads)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu", "softmax"])
def test_nan_propagates_so_divergence_can_be_detected(activation):
    z = np.array([[0.5, np.nan, -0.5]])
    out = K.activate(z, activation)
    assert np.isnan(out[0, 1])


def test_nan_propagates_into_the_losses():
    y = np.zeros((1, 2))
    z = np.array([[0.0, np.nan]])
    assert np.isnan(K.mse_loss(y, z))
    assert np.isnan(K.sigmoid_bce_loss(y, z))
    assert np.isnan(K.softmax_cce_loss(y, z))


@pytest.mark.parametrize("n_out", [3, 700])       # the stack and the heap accumulator
def test_float32_bias_gradients_are_accumulated_in_double(n_out):
    # 2**24 + 1 == 2**24 in float32: a float32 running sum would lose all the ones
    dZ = np.ones((1001, n_out), np.float32)
    dZ[0] = 2.0**24
    exact = 2.0**24 + 1000
    X, W = np.zeros((1001, 1), np.float32), np.zeros((1, n_out), np.float32)
    _, db, _ = K.dense_backward(X, W, dZ, need_dX=False)
    np.testing.assert_array_equal(db, np.float32(exact))
    b = np.zeros(n_out, np.float32)
    K.dense_backward_sgd(X, W.copy(), b, dZ, 1.0, need_dX=False)
    np.testing.assert_array_equal(b, np.float32(-exact))


def test_an_overflowing_mse_is_inf_on_both_backends_without_warnings(backend):
    y = np.full((1, 2), 1e154)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert backend.mse_loss(y, np.zeros((1, 2))) == np.inf
