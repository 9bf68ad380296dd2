"""Pure-NumPy reference: the same functions as ``fastnn._kernels``, written plainly.

Same names, same arguments, same results (float64 to ~1e-10, float32 to
~1e-5). This module is the ground truth of the kernel tests and the baseline
of every benchmark; it favours clarity over speed. It leaves argument checking
to NumPy (which never crashes); the compiled kernels check explicitly.
"""
import numpy as np

ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "softmax", "step")
LEAKY_RELU_SLOPE = 0.01


def _sigmoid(z):
    # exp(-log(1 + e^-z)): stable for every input, ±inf included
    return np.exp(-np.logaddexp(0.0, -z))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


_FORWARD = {
    "identity": lambda z: z,
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, LEAKY_RELU_SLOPE * z),
    "softmax": _softmax,
    "step": lambda z: np.where(z > 0, 1, 0),
}

# f'(z) * dA, written in terms of the forward output a = f(z)
_BACKWARD = {
    "identity": lambda a, da: da,
    "sigmoid": lambda a, da: da * a * (1 - a),
    "tanh": lambda a, da: da * (1 - a * a),
    "relu": lambda a, da: np.where(a > 0, da, 0),
    "leaky_relu": lambda a, da: np.where(a > 0, da, LEAKY_RELU_SLOPE * da),
    "softmax": lambda a, da: a * (da - (a * da).sum(axis=1, keepdims=True)),
}


def _lookup(table, activation):
    if activation not in table:
        if activation == "step":
            raise ValueError("activation 'step' has no useful derivative; forward passes only")
        raise ValueError(f"activation must be one of {', '.join(map(repr, ACTIVATIONS))}; "
                         f"got {activation!r}")
    return table[activation]


def _store(result, out, dtype):
    if out is None:
        return np.ascontiguousarray(result, dtype=dtype)
    out[...] = result
    return out


def activate(Z, activation, out=None):
    """out := f(Z), element-wise (softmax: per row)."""
    return _store(_lookup(_FORWARD, activation)(Z), out, Z.dtype)


def dense_forward(X, W, b, activation="identity", out=None):
    """out := f(X @ W + b)."""
    return _store(_lookup(_FORWARD, activation)(X @ W + b), out, X.dtype)


def matmul(A, B, out=None, transpose_a=False, transpose_b=False):
    """out := op(A) @ op(B), op(M) = M.T when asked."""
    return _store((A.T if transpose_a else A) @ (B.T if transpose_b else B), out, A.dtype)


def activation_backward(A, dA, activation, out=None):
    """out := dA * f'(Z), from the forward output A = f(Z)."""
    return _store(_lookup(_BACKWARD, activation)(A, dA), out, A.dtype)


def dense_backward(X, W, dZ, dW=None, db=None, dX=None, need_dX=True):
    """dW := X.T @ dZ, db := sum over rows of dZ, dX := dZ @ W.T."""
    dW = _store(X.T @ dZ, dW, X.dtype)
    db = _store(dZ.sum(axis=0), db, X.dtype)
    dX = _store(dZ @ W.T, dX, X.dtype) if need_dX else None
    return dW, db, dX


def dense_backward_sgd(X, W, b, dZ, learning_rate, dX=None, need_dX=True):
    """dX := dZ @ W.T (with W before the step); W -= lr X.T @ dZ; b -= lr sum(dZ)."""
    dX = _store(dZ @ W.T, dX, X.dtype) if need_dX else None
    W -= learning_rate * (X.T @ dZ)
    b -= learning_rate * dZ.sum(axis=0)
    return dX


def sgd_update(params, grads, learning_rate):
    """params -= learning_rate * grads, in place."""
    params -= learning_rate * grads


def mse_loss(y_true, y_pred):
    """L := mean((y_pred - y_true)^2) over all elements."""
    return float(np.mean((y_pred - y_true) ** 2, dtype=np.float64))


def mse_gradient(y_true, y_pred, out=None):
    """out := 2 (y_pred - y_true) / y_pred.size."""
    return _store(2 * (y_pred - y_true) / y_pred.size, out, y_pred.dtype)


def sigmoid_bce_loss(y_true, z):
    """L := mean(max(z, 0) - z y + log1p(exp(-|z|))), binary cross-entropy from logits."""
    z = z.astype(np.float64)
    return float(np.mean(np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z)))))


def sigmoid_bce_gradient(y_true, z, out=None):
    """out := (sigmoid(z) - y) / z.size."""
    return _store((_sigmoid(z) - y_true) / z.size, out, z.dtype)


def softmax_cce_loss(y_true, z):
    """L := mean over rows of sum_j y_j (logsumexp(z) - z_j), categorical cross-entropy."""
    z = z.astype(np.float64)
    zmax = z.max(axis=1, keepdims=True)
    lse = zmax + np.log(np.exp(z - zmax).sum(axis=1, keepdims=True))
    return float(np.mean((y_true * (lse - z)).sum(axis=1)))


def softmax_cce_gradient(y_true, z, out=None):
    """out := (softmax(z) sum_j y_j - y) / n_samples."""
    grad = (_softmax(z) * y_true.sum(axis=1, keepdims=True) - y_true) / z.shape[0]
    return _store(grad, out, z.dtype)
