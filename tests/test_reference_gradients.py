"""The reference's derivatives and backward pass against central finite differences.

The kernels are tested against the reference; this file closes the loop by
testing the reference's calculus against numerical differentiation (float64,
h = 1e-5 as in the tutorials, relative error well below 1e-6).
"""
import numpy as np
import pytest

from conftest import _reference as R

H = 1e-5


def numerical_gradient(f, x):
    """Central differences (f(x + h) - f(x - h)) / 2h, one coordinate at a time."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        saved = x[i]
        x[i] = saved + H
        up = f()
        x[i] = saved - H
        down = f()
        x[i] = saved
        grad[i] = (up - down) / (2 * H)
    return grad


def assert_gradients_agree(analytic, numeric):
    scale = np.maximum(1.0, np.abs(numeric))
    assert np.max(np.abs(analytic - numeric) / scale) < 1e-7, (analytic, numeric)


@pytest.mark.parametrize("activation", [a for a in R.ACTIVATIONS if a != "step"])
def test_activation_derivative(activation):
    rng = np.random.default_rng(1)
    Z = rng.uniform(-3, 3, (4, 5))
    Z[np.abs(Z) < 0.05] = 0.5          # ReLU and leaky ReLU away from their kink
    G = rng.standard_normal((4, 5))    # an arbitrary upstream gradient
    numeric = numerical_gradient(lambda: np.sum(G * R.activate(Z, activation)), Z)
    analytic = R.activation_backward(R.activate(Z, activation), G, activation)
    assert_gradients_agree(analytic, numeric)


@pytest.mark.parametrize("activation", ["identity", "sigmoid", "tanh", "softmax"])
def test_dense_backward_through_an_activation(activation):
    rng = np.random.default_rng(2)
    X, W, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    G = rng.standard_normal((5, 3))

    def loss():
        return np.sum(G * R.dense_forward(X, W, b, activation))

    A = R.dense_forward(X, W, b, activation)
    dZ = R.activation_backward(A, G, activation)
    dW, db, dX = R.dense_backward(X, W, dZ)
    assert_gradients_agree(dW, numerical_gradient(loss, W))
    assert_gradients_agree(db, numerical_gradient(loss, b))
    assert_gradients_agree(dX, numerical_gradient(loss, X))


def test_mse_gradient():
    rng = np.random.default_rng(3)
    y, p = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    assert_gradients_agree(R.mse_gradient(y, p), numerical_gradient(lambda: R.mse_loss(y, p), p))


def test_sigmoid_bce_gradient_and_value():
    rng = np.random.default_rng(4)
    y, z = rng.integers(0, 2, (4, 3)).astype(float), rng.uniform(-5, 5, (4, 3))
    p = R.activate(z, "sigmoid")
    plain = np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))
    np.testing.assert_allclose(R.sigmoid_bce_loss(y, z), plain, rtol=1e-12)
    numeric = numerical_gradient(lambda: R.sigmoid_bce_loss(y, z), z)
    assert_gradients_agree(R.sigmoid_bce_gradient(y, z), numeric)


def test_softmax_cce_gradient_and_value():
    rng = np.random.default_rng(5)
    z = rng.uniform(-5, 5, (4, 3))
    y = np.eye(3)[[0, 2, 1, 2]]
    plain = np.mean(-np.sum(y * np.log(R.activate(z, "softmax")), axis=1))
    np.testing.assert_allclose(R.softmax_cce_loss(y, z), plain, rtol=1e-12)
    numeric = numerical_gradient(lambda: R.softmax_cce_loss(y, z), z)
    assert_gradients_agree(R.softmax_cce_gradient(y, z), numeric)
