"""Pure-NumPy reference: the same functions as ``fastnn._kernels``, written plainly.

Same names, same arguments, same results (float64 to ~1e-10, float32 to
~1e-5). This module is the ground truth of the kernel tests and the baseline
of every benchmark; it favours clarity over speed. It leaves argument checking
to NumPy (which never crashes); the compiled kernels check explicitly.
"""
import math

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
    "sigmoid": lambda a, da: da * (a * (1 - a)),
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

#: The losses, in the order of the kernels' codes: name -> (the loss's function, its
#: gradient's function, the output activation it needs or None). The functions have these
#: names in both backends; bce and cce take the output layer's logits.
LOSSES = {
    "mse": ("mse_loss", "mse_gradient", None),
    "bce": ("sigmoid_bce_loss", "sigmoid_bce_gradient", "sigmoid"),
    "cce": ("softmax_cce_loss", "softmax_cce_gradient", "softmax"),
}


# --------------------------------------------------------------------------
# Optimizers and schedules (the rules torch.optim documents; see fastnn.optimizers)
# --------------------------------------------------------------------------

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "rprop")
HYPERPARAMETERS = ("momentum", "dampening", "nesterov", "beta1", "beta2", "eps",
                   "weight_decay", "decay_biases", "amsgrad", "alpha", "centered", "lr_decay",
                   "eta_minus", "eta_plus", "step_min", "step_max")
SCHEDULES = ("constant", "step", "exponential", "cosine", "invscaling")


def _hyper(hyperparameters):
    values = np.zeros(len(HYPERPARAMETERS)) if hyperparameters is None else hyperparameters
    return dict(zip(HYPERPARAMETERS, map(float, values)))


def _slots(optimizer, h):
    return {"sgd": int(h["momentum"] != 0), "adam": 2 + int(h["amsgrad"] != 0),
            "adamw": 2 + int(h["amsgrad"] != 0),
            "rmsprop": 1 + int(h["centered"] != 0) + int(h["momentum"] != 0),
            "adagrad": 1, "rprop": 2}[optimizer]


def state_size(optimizer, hyperparameters, n_params):
    """The number of values the optimizer's state holds for n_params parameters."""
    return _slots(optimizer, _hyper(hyperparameters)) * n_params


def _update(optimizer, h, lr, step, p, g, slots, wd):
    """One step of the rule on p (in place) with gradient g; slots: its state buffers."""
    if optimizer in ("sgd", "adam", "rmsprop", "adagrad"):
        g = g + wd * p                          # coupled weight decay (L2)
    if optimizer == "sgd":
        if h["momentum"] != 0:
            buf = slots[0]
            buf[...] = g if step == 1 else h["momentum"] * buf + (1 - h["dampening"]) * g
            g = g + h["momentum"] * buf if h["nesterov"] else buf
        p -= lr * g
    elif optimizer in ("adam", "adamw"):
        if optimizer == "adamw":                # decoupled weight decay
            p *= 1 - lr * wd
        m, v = slots[0], slots[1]
        m += (1 - h["beta1"]) * (g - m)
        v[...] = h["beta2"] * v + (1 - h["beta2"]) * g * g
        if h["amsgrad"]:
            np.maximum(slots[2], v, out=slots[2])
            v = slots[2]
        step_size = lr / (1 - h["beta1"] ** step)
        p -= step_size * (m / (np.sqrt(v) / np.sqrt(1 - h["beta2"] ** step) + h["eps"]))
    elif optimizer == "rmsprop":
        v = slots[0]
        v[...] = h["alpha"] * v + (1 - h["alpha"]) * g * g
        if h["centered"]:
            mean = slots[1]
            mean += (1 - h["alpha"]) * (g - mean)
            avg = np.sqrt(v - mean * mean) + h["eps"]
        else:
            avg = np.sqrt(v) + h["eps"]
        if h["momentum"] != 0:
            buf = slots[-1]
            buf[...] = h["momentum"] * buf + g / avg
            p -= lr * buf
        else:
            p -= lr * (g / avg)
    elif optimizer == "adagrad":
        total = slots[0]
        total += g * g
        p -= lr / (1 + (step - 1) * h["lr_decay"]) * (g / (np.sqrt(total) + h["eps"]))
    else:                                       # rprop
        previous, sizes = slots
        if step == 1:
            previous[...], sizes[...] = 0, lr
        s = g * previous
        factor = np.where(s > 0, h["eta_plus"], np.where(s < 0, h["eta_minus"], 1))
        sizes[...] = np.clip(sizes * factor, h["step_min"], h["step_max"])
        g = np.where(factor == h["eta_minus"], 0, g)
        p -= sizes * np.sign(g)
        previous[...] = g


def _update_slice(optimizer, h, lr, step, params, grads, state, start, stop, wd):
    n = params.shape[0]
    slots = [state[k * n + start:k * n + stop] for k in range(_slots(optimizer, h))]
    _update(optimizer, h, lr, step, params[start:stop], grads[start:stop], slots, wd)


def _update_layer(optimizer, h, lr, step, params, grads, state, w_start, b_start, end):
    """One step over one layer's W (params[w_start:b_start]) and b (params[b_start:end])."""
    if h["decay_biases"]:
        _update_slice(optimizer, h, lr, step, params, grads, state, w_start, end,
                      h["weight_decay"])
    else:
        _update_slice(optimizer, h, lr, step, params, grads, state, w_start, b_start,
                      h["weight_decay"])
        _update_slice(optimizer, h, lr, step, params, grads, state, b_start, end, 0.0)


def optimizer_update(params, grads, state, optimizer, hyperparameters, learning_rate, step,
                     w_end=None):
    """One update of params in place by the rule (see fastnn._kernels.optimizer_update)."""
    n = params.shape[0]
    state = np.empty(0, params.dtype) if state is None else state
    _update_layer(optimizer, _hyper(hyperparameters), params.dtype.type(learning_rate), step,
                  params, grads, state, 0, n if w_end is None else w_end, n)


def learning_rate_at(schedule, schedule_parameters, base_rate, epoch, samples=0):
    """The learning rate of epoch `epoch` (0-based) under the schedule, `samples` seen."""
    s = [0.0] * 4 if schedule_parameters is None else [float(v) for v in schedule_parameters]
    if schedule == "step":
        return base_rate * s[1] ** math.floor(epoch / s[0])
    if schedule == "exponential":
        return base_rate * s[0] ** epoch
    if schedule == "cosine":
        if epoch < s[2]:
            return base_rate * (s[3] + (1 - s[3]) * epoch / s[2])
        return s[1] + (base_rate - s[1]) * (1 + math.cos(math.pi * (epoch - s[2]) / s[0])) / 2
    if schedule == "invscaling":
        return base_rate / (samples + 1.0) ** s[0]
    return base_rate


# --------------------------------------------------------------------------
# Whole networks
# --------------------------------------------------------------------------

def parameter_offsets(layer_sizes):
    """Where each layer's weights start in the flat parameters, then their total length."""
    offsets = [0]
    for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        offsets.append(offsets[-1] + int(n_in) * int(n_out) + int(n_out))
    return offsets


_CACHE_LINE = 64


def _aligned_parameters(values):
    """A copy of the flat parameters `values` (1-d) that starts on a cache line.

    The compiled one-sample kernels load and store whole vectors of a weight
    row; a row that starts on a cache line never has them split across two
    lines (per-sample training of a 64-32-10 network ran 13 % faster so than
    with NumPy's usual 16-byte alignment).
    """
    values = np.asarray(values)
    raw = np.empty(values.size * values.itemsize + _CACHE_LINE, np.uint8)
    start = -raw.ctypes.data % _CACHE_LINE
    params = raw[start:start + values.size * values.itemsize].view(values.dtype)
    params[...] = values
    return params


def _layer_views(params, layer_sizes):
    """(W, b) views into the flat parameter buffer, per layer."""
    offsets = parameter_offsets(layer_sizes)
    return [(params[start:start + n_in * n_out].reshape(n_in, n_out),
             params[start + n_in * n_out:end])
            for start, end, n_in, n_out in zip(offsets[:-1], offsets[1:], layer_sizes[:-1],
                                                layer_sizes[1:])]


def all_finite(X):
    """True when no entry of X is NaN or infinite."""
    return bool(np.all(np.isfinite(X)))


def network_forward(X, params, layer_sizes, activations, out=None):
    """The outputs of a feedforward network: A_l := f_l(A_{l-1} @ W_l + b_l), A_0 = X."""
    for (W, b), activation in zip(_layer_views(params, list(layer_sizes)), activations):
        X = dense_forward(X, W, b, activation)
    return _store(X, out, X.dtype)


def _batch_step(X, Y, params, layer_sizes, activations, loss, grads, update_layer=None):
    """Forward, loss and backward over one batch; returns its loss (before any update).

    Writes every layer's gradient into grads (the layout of params) and calls
    update_layer(l) as soon as layer l's gradient is known.
    """
    layers = _layer_views(params, layer_sizes)
    gradients = _layer_views(grads, layer_sizes)
    loss_value, loss_gradient = (globals()[name] for name in LOSSES[loss][:2])
    # forward; the cross-entropies keep the output layer's logits
    outputs = [X]
    for i, ((W, b), activation) in enumerate(zip(layers, activations)):
        if i == len(layers) - 1 and loss != "mse":
            activation = "identity"
        outputs.append(dense_forward(outputs[-1], W, b, activation))
    value = loss_value(Y, outputs[-1])
    grad = loss_gradient(Y, outputs[-1])
    if loss == "mse":
        grad = activation_backward(outputs[-1], grad, activations[-1])
    for i in range(len(layers) - 1, -1, -1):
        dW, db = gradients[i]
        _, _, grad_prev = dense_backward(outputs[i], layers[i][0], grad, dW=dW, db=db,
                                         need_dX=i > 0)   # dX with W before its update
        if update_layer is not None:
            update_layer(i)
        if i > 0:
            grad = activation_backward(outputs[i], grad_prev, activations[i - 1])
    return value


def network_gradient(X, Y, params, layer_sizes, activations, loss, out=None):
    """(loss, gradient) over all of (X, Y), by backpropagation (see the kernel's twin)."""
    out = np.empty_like(params) if out is None else out
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        value = _batch_step(X, Y, params, list(layer_sizes), activations, loss, out)
    return value, out


def train_epochs(X, Y, params, layer_sizes, activations, loss, batch_size, epochs,
                 optimizer="sgd", hyperparameters=None, learning_rate=0.1, state=None,
                 counters=None, schedule="constant", schedule_parameters=None, clip_norm=0.0,
                 order=None, target_loss=float("-inf"), losses_out=None, rates_out=None):
    """Run up to `epochs` epochs of training in place (see fastnn._kernels.train_epochs)."""
    # a diverging run overflows on its way to a non-finite loss, which is what
    # ends it: the warnings would only repeat that
    if optimizer == "rprop" and batch_size < X.shape[0]:
        raise ValueError(f"optimizer 'rprop' needs full batches (batch_size >= the "
                         f"{X.shape[0]} samples), got batch_size={batch_size}")
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _train_epochs(X, Y, params, list(layer_sizes), activations, loss, batch_size,
                             epochs, optimizer, _hyper(hyperparameters), learning_rate,
                             np.empty(0, params.dtype) if state is None else state,
                             np.zeros(3, np.int64) if counters is None else counters,
                             schedule, schedule_parameters, clip_norm, order, target_loss,
                             losses_out, rates_out)


def _train_epochs(X, Y, params, layer_sizes, activations, loss, batch_size, epochs, optimizer,
                  h, learning_rate, state, counters, schedule, schedule_parameters, clip_norm,
                  order, target_loss, losses_out, rates_out):
    n = X.shape[0]
    batch_size = min(batch_size, n)
    offsets = parameter_offsets(layer_sizes)
    grads = np.empty_like(params)
    step = int(counters[0])
    stop, epochs_run = STOP_EPOCHS, 0
    for epoch in range(epochs):
        saved, saved_state = params.copy(), state.copy()
        lr = learning_rate_at(schedule, schedule_parameters, learning_rate,
                              int(counters[1]), int(counters[2]))
        if rates_out is not None:
            rates_out[epoch] = lr
        lr = params.dtype.type(lr)

        def update_layer(l):
            _update_layer(optimizer, h, lr, step, params, grads, state, offsets[l],
                          offsets[l] + layer_sizes[l] * layer_sizes[l + 1], offsets[l + 1])

        total = 0.0
        try:
            for start in range(0, n, batch_size):
                rows = (slice(start, start + batch_size) if order is None
                        else order[epoch][start:start + batch_size])
                step += 1
                total += _batch_step(X[rows], Y[rows], params, layer_sizes, activations, loss,
                                     grads, None if clip_norm else update_layer) * len(X[rows])
                if clip_norm:   # torch.nn.utils.clip_grad_norm_, then the update
                    norm = np.sqrt(np.sum(grads.astype(np.float64) ** 2))
                    scale = clip_norm / (norm + 1e-6)
                    if scale < 1:
                        grads *= grads.dtype.type(scale)
                    for l in range(len(layer_sizes) - 1):
                        update_layer(l)
        except KeyboardInterrupt:
            params[:], state[:] = saved, saved_state   # as the compiled engine
            raise
        epoch_loss = total / n
        if losses_out is not None:
            losses_out[epoch] = epoch_loss
        epochs_run = epoch + 1
        if not np.isfinite(epoch_loss) or not all_finite(params):
            params[:], state[:] = saved, saved_state
            stop = STOP_DIVERGED
            break
        counters[:] = step, counters[1] + 1, counters[2] + n
        if epoch_loss < target_loss:
            stop = STOP_TARGET
            break
    return epochs_run, stop
