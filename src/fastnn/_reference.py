"""Pure-NumPy reference: the same functions as ``fastnn._kernels``, written plainly.

Same names, same arguments, same results (float64 to ~1e-10, float32 to
~1e-5). This module is the ground truth of the kernel tests and the baseline
of every benchmark; it favours clarity over speed. It leaves argument checking
to NumPy (which never crashes); the compiled kernels check explicitly.
"""
import numpy as np

_FLOAT64_MAX = float(np.finfo(np.float64).max)

ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "softmax", "step")
LEAKY_RELU_SLOPE = 0.01


def _sigmoid(z):
    # exp(-log(1 + e^-z)): stable for every input, ±inf included
    return np.exp(-np.logaddexp(0.0, -z))


def _softmax(z):
    with np.errstate(over="ignore"):     # logits 1.8e308 apart: exp(-inf) is the right 0
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
    """L := mean((y_pred - y_true)^2) over all elements (inf, silently, when it overflows,
    as in the compiled kernel)."""
    with np.errstate(over="ignore"):
        return float(np.mean((y_pred - y_true) ** 2, dtype=np.float64))


def mse_gradient(y_true, y_pred, out=None):
    """out := 2 (y_pred - y_true) / y_pred.size."""
    return _store(2 * (y_pred - y_true) / y_pred.size, out, y_pred.dtype)


def _mean_of_terms(terms):
    """mean(terms), as the kernels take it: when the sum overflows although no term is NaN,
    the sum of term / count (the mean of terms <= 1.8e308 is representable), clamped."""
    with np.errstate(over="ignore", invalid="ignore"):
        total = terms.sum()
        if np.isfinite(total) or np.isnan(total):
            return float(total / terms.size)
        return float(np.clip((terms * (1.0 / terms.size)).sum(), -_FLOAT64_MAX, _FLOAT64_MAX))


def sigmoid_bce_loss(y_true, z):
    """L := mean(max(z, 0) - z y + log1p(exp(-|z|))), binary cross-entropy from logits.

    Finite for finite logits of any size; an infinite logit gives NaN, as in the kernel.
    """
    z = z.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        # (z - z): 0 for a finite logit, NaN for an infinite one
        terms = np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z))) + (z - z)
    return _mean_of_terms(terms)


def sigmoid_bce_gradient(y_true, z, out=None):
    """out := (sigmoid(z) - y) / z.size."""
    return _store((_sigmoid(z) - y_true) / z.size, out, z.dtype)


def softmax_cce_loss(y_true, z):
    """L := mean over rows of sum_j y_j (logsumexp(z) - z_j), categorical cross-entropy.

    Computed as sum_j y_j ((zmax - z_j) + log sum_k e^(z_k - zmax)) over the nonzero
    targets only (no inf * 0); a row beyond the float64 range counts as the largest
    float64; an infinite logit gives NaN. As the kernel.
    """
    z, y = z.astype(np.float64), y_true.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        zmax = z.max(axis=1, keepdims=True)
        offset = np.log(np.exp(z - zmax).sum(axis=1, keepdims=True))
        gap = zmax - z              # inf when float64 logits are 1.8e308 apart
        terms = np.where(np.isfinite(gap), y * (gap + offset), (y * zmax - y * z) + y * offset)
        rows = np.where(y != 0, terms, 0.0).sum(axis=1)
        rows = np.clip(rows, -_FLOAT64_MAX, _FLOAT64_MAX) + (z - z).sum(axis=1)
    return _mean_of_terms(rows)


def softmax_cce_gradient(y_true, z, out=None):
    """out := (softmax(z) sum_j y_j - y) / n_samples."""
    grad = (_softmax(z) * y_true.sum(axis=1, keepdims=True) - y_true) / z.shape[0]
    return _store(grad, out, z.dtype)


STOP_EPOCHS, STOP_TARGET, STOP_DIVERGED = 0, 1, 2
_LOSSES = {
    "mse": (mse_loss, mse_gradient),
    "bce": (sigmoid_bce_loss, sigmoid_bce_gradient),
    "cce": (softmax_cce_loss, softmax_cce_gradient),
}


def _layer_views(params, layer_sizes):
    """(W, b) views into the flat parameter buffer, per layer."""
    views, offset = [], 0
    for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        W = params[offset:offset + n_in * n_out].reshape(n_in, n_out)
        offset += n_in * n_out
        views.append((W, params[offset:offset + n_out]))
        offset += n_out
    return views


def all_finite(X):
    """True when no entry of X is NaN or infinite."""
    return bool(np.all(np.isfinite(X)))


def network_forward(X, params, layer_sizes, activations, out=None):
    """The outputs of a feedforward network: A_l := f_l(A_{l-1} @ W_l + b_l), A_0 = X."""
    for (W, b), activation in zip(_layer_views(params, list(layer_sizes)), activations):
        X = dense_forward(X, W, b, activation)
    return _store(X, out, X.dtype)


def train_epochs(X, Y, params, layer_sizes, activations, loss, learning_rate, batch_size,
                 epochs, order=None, target_loss=0.0, losses_out=None):
    """Run up to `epochs` epochs of mini-batch SGD in place (see fastnn._kernels.train_epochs)."""
    # a diverging run overflows on its way to a non-finite loss, which is what
    # ends it: the warnings would only repeat that
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _train_epochs(X, Y, params, layer_sizes, activations, loss, learning_rate,
                             batch_size, epochs, order, target_loss, losses_out)


def _train_epochs(X, Y, params, layer_sizes, activations, loss, learning_rate, batch_size,
                  epochs, order, target_loss, losses_out):
    layers = _layer_views(params, list(layer_sizes))
    loss_value, loss_gradient = _LOSSES[loss]
    n = X.shape[0]
    batch_size = min(batch_size, n)
    stop, epochs_run = STOP_EPOCHS, 0
    for epoch in range(epochs):
        saved = params.copy()
        try:
            epoch_loss = _one_epoch(X, Y, layers, activations, loss, loss_value, loss_gradient,
                                    learning_rate, batch_size, None if order is None
                                    else order[epoch])
        except KeyboardInterrupt:
            params[:] = saved            # as the compiled engine: back to the epoch's start
            raise
        if losses_out is not None:
            losses_out[epoch] = epoch_loss
        epochs_run = epoch + 1
        if not np.isfinite(epoch_loss) or not all_finite(params):
            params[:] = saved
            stop = STOP_DIVERGED
            break
        if epoch_loss < target_loss:
            stop = STOP_TARGET
            break
    return epochs_run, stop


def _one_epoch(X, Y, layers, activations, loss, loss_value, loss_gradient, learning_rate,
               batch_size, order):
    """One epoch of SGD over all batches; the sample-weighted mean batch loss."""
    n = X.shape[0]
    total = 0.0
    for start in range(0, n, batch_size):
        if order is None:
            xb, yb = X[start:start + batch_size], Y[start:start + batch_size]
        else:
            rows = order[start:start + batch_size]
            xb, yb = X[rows], Y[rows]
        # forward; the cross-entropies keep the output layer's logits
        outputs = [xb]
        for i, ((W, b), activation) in enumerate(zip(layers, activations)):
            if i == len(layers) - 1 and loss != "mse":
                activation = "identity"
            outputs.append(dense_forward(outputs[-1], W, b, activation))
        total += loss_value(yb, outputs[-1]) * xb.shape[0]
        grad = loss_gradient(yb, outputs[-1])
        if loss == "mse":
            grad = activation_backward(outputs[-1], grad, activations[-1])
        # backward, each layer updated right after its gradients are taken
        for i in range(len(layers) - 1, -1, -1):
            W, b = layers[i]
            grad_prev = dense_backward_sgd(outputs[i], W, b, grad, learning_rate,
                                           need_dX=i > 0)
            if i > 0:
                grad = activation_backward(outputs[i], grad_prev, activations[i - 1])
    return total / n
