"""The best plain NumPy can do for mini-batch MLP training: every buffer allocated
once, every update in place. The MNIST-sized baseline of bench/test_training.py.

ReLU hidden layers, softmax output with categorical cross-entropy, plain SGD:
the same algorithm as Network.fit(loss="cce", shuffle=False).
"""
import numpy as np


class PreallocatedMLP:
    def __init__(self, weights, biases, batch_size):
        self.W = [w.copy() for w in weights]
        self.b = [b.copy() for b in biases]
        dtype = self.W[0].dtype
        sizes = [self.W[0].shape[0]] + [w.shape[1] for w in self.W]
        self.batch_size = batch_size
        self.A = [np.empty((batch_size, s), dtype) for s in sizes[1:]]
        self.G = [np.empty((batch_size, s), dtype) for s in sizes[1:]]
        self.dW = [np.empty_like(w) for w in self.W]
        self.db = [np.empty_like(b) for b in self.b]
        self.mask = [np.empty((batch_size, s), bool) for s in sizes[1:]]

    def train_epoch(self, X, Y, learning_rate):
        n_layers = len(self.W)
        for start in range(0, X.shape[0], self.batch_size):
            xb, yb = X[start:start + self.batch_size], Y[start:start + self.batch_size]
            rows = xb.shape[0]
            A = [a[:rows] for a in self.A]
            G = [g[:rows] for g in self.G]
            layer_in = xb
            for i in range(n_layers):                       # forward
                np.matmul(layer_in, self.W[i], out=A[i])
                A[i] += self.b[i]
                if i < n_layers - 1:
                    np.maximum(A[i], 0, out=A[i])
                layer_in = A[i]
            out = G[-1]                                     # softmax - y, over rows
            np.subtract(A[-1], A[-1].max(axis=1, keepdims=True), out=out)
            np.exp(out, out=out)
            out /= out.sum(axis=1, keepdims=True)
            out -= yb
            out *= 1.0 / rows
            for i in range(n_layers - 1, -1, -1):           # backward + in-place update
                prev = xb if i == 0 else A[i - 1]
                if i > 0:
                    np.matmul(G[i], self.W[i].T, out=G[i - 1])
                    mask = self.mask[i - 1][:rows]
                    np.greater(prev, 0, out=mask)
                    G[i - 1] *= mask
                np.matmul(prev.T, G[i], out=self.dW[i])
                self.dW[i] *= learning_rate
                self.W[i] -= self.dW[i]
                np.sum(G[i], axis=0, out=self.db[i])
                self.db[i] *= learning_rate
                self.b[i] -= self.db[i]


def eight_products(kernels, X, weights, batch_size, buffers=None):
    """Only the matrix products of one epoch (3 forward, 3 weight gradients, 2 input
    gradients), through `kernels.matmul`: the floor of any implementation on that BLAS."""
    sizes = [weights[0].shape[0]] + [w.shape[1] for w in weights]
    dtype = weights[0].dtype
    if buffers is None:
        buffers = ([np.empty((batch_size, s), dtype) for s in sizes[1:]],
                   [np.empty_like(w) for w in weights])
    A, dW = buffers
    for start in range(0, X.shape[0], batch_size):
        xb = X[start:start + batch_size]
        rows = xb.shape[0]
        acts = [a[:rows] for a in A]
        layer_in = xb
        for i, w in enumerate(weights):
            kernels.matmul(layer_in, w, out=acts[i])
            layer_in = acts[i]
        for i in range(len(weights) - 1, -1, -1):
            prev = xb if i == 0 else acts[i - 1]
            if i > 0:
                kernels.matmul(acts[i], weights[i], out=acts[i - 1], transpose_b=True)
            kernels.matmul(prev, acts[i], out=dW[i], transpose_a=True)
    return buffers
