"""The kernel workloads of the benchmark suite: shapes, data and the steps timed.

A "step" of a layer is what one SGD update of it costs in training:
forward (GEMM + bias + activation), the activation derivative, and the
backward pass fused with the update (two GEMMs). It counts
6 * n_samples * n_in * n_out flops, three times the forward GEMM.
"""
import numpy as np

from fastnn import _reference, kernels

IMPLS = {"compiled": kernels, "reference": _reference}

#: name: (n_samples, n_in, n_out, activation)
SHAPES = {
    "small": (32, 64, 32, "sigmoid"),
    "medium": (256, 784, 256, "relu"),
    "large": (1024, 4096, 4096, "relu"),
}
LEARNING_RATE = 1e-3


class Layer:
    """Inputs, parameters and preallocated outputs of one layer workload."""

    def __init__(self, shape, dtype, seed=0):
        n, n_in, n_out, self.activation = SHAPES[shape]
        rng = np.random.default_rng(seed)
        self.X = rng.standard_normal((n, n_in)).astype(dtype)
        self.W = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(dtype)
        self.b = rng.standard_normal(n_out).astype(dtype) * 0.1
        self.dA = rng.standard_normal((n, n_out)).astype(dtype)
        self.A = np.empty((n, n_out), dtype)
        self.dZ = np.empty((n, n_out), dtype)
        self.dW = np.empty((n_in, n_out), dtype)
        self.db = np.empty(n_out, dtype)
        self.dX = np.empty((n, n_in), dtype)
        self.flops_forward = 2.0 * n * n_in * n_out

    def forward(self, k):
        return k.dense_forward(self.X, self.W, self.b, self.activation, out=self.A)

    def backward(self, k):
        """Activation derivative, then dW, db, dX."""
        k.activation_backward(self.A, self.dA, self.activation, out=self.dZ)
        return k.dense_backward(self.X, self.W, self.dZ, dW=self.dW, db=self.db, dX=self.dX)

    def step(self, k):
        """forward, activation derivative, backward fused with the SGD update."""
        k.dense_forward(self.X, self.W, self.b, self.activation, out=self.A)
        k.activation_backward(self.A, self.dA, self.activation, out=self.dZ)
        return k.dense_backward_sgd(self.X, self.W, self.b, self.dZ, LEARNING_RATE, dX=self.dX)

    def gemm(self, k=kernels):
        """The bare product X @ W through the kernels' BLAS: the forward's ceiling."""
        return k.matmul(self.X, self.W, out=self.A)

    def backward_gemms(self, k=kernels):
        """The bare products X.T @ dZ and dZ @ W.T: the backward's ceiling."""
        k.matmul(self.X, self.dA, out=self.dW, transpose_a=True)
        return k.matmul(self.dA, self.W, out=self.dX, transpose_b=True)
