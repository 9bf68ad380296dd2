# Whole-network kernels: the forward pass through every layer, and whole epochs
# of mini-batch SGD, each in one nogil call. Included by _kernels.pyx (so both
# builds, baseline and AVX2, carry them).

from cpython.exc cimport PyErr_Fetch, PyErr_Restore
from cpython.ref cimport PyObject

cdef extern from "Python.h":
    # declared here without Cython's "except -1": the caller inspects the -1 itself
    int _check_signals "PyErr_CheckSignals" () noexcept

cdef enum:
    _STOP_EPOCHS = 0
    _STOP_TARGET = 1
    _STOP_DIVERGED = 2
    _STOP_INTERRUPTED = 3

# Between batches the engine polls for signals (Ctrl-C) once this much work
# (samples x parameters) has been done since the last poll: every batch of an
# MNIST-sized network, every ~0.05 s of a 2-2-1 one. A poll takes the GIL (~0.1 us).
cdef enum:
    _POLL_WORK = 4194304      # 2**22 (a literal: with overflowcheck on, Cython fails on a shift here)


cdef int _signal_pending(PyObject** pending) noexcept nogil:
    """Run Python's signal handlers; 1 if one raised, its exception moved to pending[0:3].

    The exception must not stay set here: this function cannot raise, and
    Cython would report it as unraisable and drop it.
    """
    cdef int raised = 0
    with gil:
        if _check_signals() != 0:
            PyErr_Fetch(&pending[0], &pending[1], &pending[2])
            raised = 1
    return raised


cdef int _raise_pending(PyObject** pending) except -1:
    """Raise again the exception a signal handler raised during the nogil loop."""
    PyErr_Restore(pending[0], pending[1], pending[2])
    return -1


#: Why train_epochs returned: all epochs ran, the target loss was reached, the loss diverged.
STOP_EPOCHS, STOP_TARGET, STOP_DIVERGED = _STOP_EPOCHS, _STOP_TARGET, _STOP_DIVERGED

cdef dict _LOSS_CODES = {"mse": MSE, "bce": SIGMOID_BCE, "cce": SOFTMAX_CCE}


cdef tuple _snapshot(object sequence, str name):
    """The items of a list-like argument, read once (what is checked is what is used)."""
    if isinstance(sequence, (str, bytes)):
        raise TypeError(f"{name} must be a list, got {type(sequence).__name__} {sequence!r}")
    try:
        return tuple(sequence)
    except TypeError:
        raise TypeError(f"{name} must be a list, got {type(sequence).__name__}") from None


cdef str _short(tuple items):
    """A list for a message: all of a short one, the ends of a long one."""
    if len(items) <= 12:
        return repr(list(items))
    # (no negative indices in this module: the release build turns wraparound off)
    return f"[{', '.join(map(repr, items[:6]))}, ..., " \
           f"{', '.join(map(repr, items[len(items) - 3:]))}] ({len(items)} sizes)"


cdef tuple _check_network(object layer_sizes, object activations, cnp.ndarray params,
                          bint differentiable=True):
    """(sizes int64 array, activation codes int32 array, widest layer) for a valid network.

    The sizes and activations are read once into arrays owned by the call (the
    compiled code reads those copies); every size is converted with
    operator.index before it is compared (an int subclass cannot lie its way
    past the range check), and the parameter count is summed in Python ints,
    so it cannot wrap around. No NumPy calls: this runs on every predict.
    """
    cdef tuple given = _snapshot(layer_sizes, "layer_sizes")
    cdef tuple names = _snapshot(activations, "activations")
    cdef Py_ssize_t n_sizes = len(given), i
    if n_sizes < 2:
        raise ValueError(f"layer_sizes must list at least two sizes, got {_short(given)}")
    if len(names) != n_sizes - 1:
        raise ValueError(f"activations must name one activation per layer ({n_sizes - 1}); "
                         f"got {len(names)}")
    plain = []
    for i in range(n_sizes):
        size = given[i]
        if not isinstance(size, bool):
            try:
                size = operator.index(size)         # a plain int from here on
            except TypeError:
                pass
        if type(size) is not int or not 1 <= size <= INT_MAX:
            raise ValueError(f"layer_sizes must be integers >= 1 and <= {INT_MAX}; "
                             f"layer_sizes[{i}] is {_describe(size)}")
        plain.append(size)
    cdef cnp.ndarray sizes = np.array(plain, np.int64)
    cdef cnp.ndarray codes = np.empty(n_sizes - 1, np.int32)
    cdef int[::1] c = codes
    n_params, widest = 0, 0
    for i in range(n_sizes - 1):
        c[i] = _activation_code(names[i], differentiable)
        n_params += plain[i] * plain[i + 1] + plain[i + 1]
        widest = max(widest, plain[i + 1])
    if params.shape[0] != n_params:
        raise ValueError(f"params must hold {n_params} values for layer_sizes "
                         f"{_short(tuple(plain))}, got {params.shape[0]}")
    return sizes, codes, widest


cdef int _check_workspace(object sizes, Py_ssize_t batch_size, Py_ssize_t n_params,
                          int itemsize) except -1:
    """The training workspace (every layer's outputs for one batch, two gradient buffers,
    the gathered batch) must be addressable, and the engine's work counter (samples x
    parameters) must not wrap: checked in Python ints before the engine sizes anything."""
    plain = [int(size) for size in sizes]
    per_row = sum(plain[1:]) + 2 * max(plain) + plain[0] + plain[len(plain) - 1]
    if int(batch_size) * per_row * itemsize > PY_SSIZE_T_MAX \
            or int(batch_size) * n_params > PY_SSIZE_T_MAX - _POLL_WORK:
        raise ValueError(f"batch_size {batch_size} is too large for this network: its "
                         f"workspace ({per_row} values per sample) cannot be addressed; "
                         f"use a smaller batch_size")
    return 0


def all_finite(X):
    """True when no entry of X is NaN or infinite."""
    cdef int dt = _float_type(X, "X")
    cdef cnp.ndarray a = _input(X, "X", cnp.PyArray_NDIM(<cnp.ndarray>X), dt, "X", False)
    if cnp.PyArray_SIZE(a) == 0:
        return True
    if dt == cnp.NPY_FLOAT32:
        return _all_finite[float](<float*>cnp.PyArray_DATA(a), cnp.PyArray_SIZE(a))
    return _all_finite[double](<double*>cnp.PyArray_DATA(a), cnp.PyArray_SIZE(a))


cdef bint _all_finite(const floating* x, Py_ssize_t n) noexcept nogil:
    # x - x is 0 for finite x and NaN for NaN and +-inf. Blocks of 4096 with an
    # OR-reduction inside (which gcc vectorises) and an early exit between them.
    cdef Py_ssize_t start = 0, stop, i
    cdef floating d
    cdef int bad
    while start < n:
        stop = min(start + 4096, n)
        bad = 0
        for i in range(start, stop):
            d = x[i] - x[i]
            bad |= d != d
        if bad:
            return False
        start = stop
    return True


# network_forward runs the samples through every layer in blocks of rows: its scratch
# holds two blocks of the widest layer's outputs, about _FORWARD_BLOCK_VALUES values
# each, so memory does not grow with the number of samples (it took 2 x n_samples x
# widest before). Blocks have at least _FORWARD_MIN_ROWS rows, enough for BLAS to run
# at full speed. Measured (784-512-256-10 on 10^4 samples, 64-32-10 on 10^5,
# 100-2000-2000-10 on 5000, 2-2-1 on 10^6): 2^20 values and 256 rows are as fast as one
# block of all rows, within the noise of a shared machine; 2^16 values were slower for
# wide layers.
cdef Py_ssize_t _FORWARD_BLOCK_VALUES = 1048576
cdef Py_ssize_t _FORWARD_MIN_ROWS = 256


def _set_forward_block(Py_ssize_t values, Py_ssize_t min_rows):
    """Set network_forward's block size (for measurement only); returns the previous one."""
    global _FORWARD_BLOCK_VALUES, _FORWARD_MIN_ROWS
    previous = _FORWARD_BLOCK_VALUES, _FORWARD_MIN_ROWS
    _FORWARD_BLOCK_VALUES, _FORWARD_MIN_ROWS = values, min_rows
    return previous


def network_forward(X, params, layer_sizes, activations, out=None):
    """The outputs of a feedforward network: A_l := f_l(A_{l-1} @ W_l + b_l), A_0 = X.

    params: the flat parameter buffer (per layer W (n_in, n_out), then b).
    out (n_samples, n_out) is allocated when None. Returns out. The rows go
    through the network in blocks, so the scratch memory is bounded by the
    block size times the widest layer, whatever the number of samples.
    """
    cdef int dt = _float_type(X, "X")
    # X's rows reach BLAS a block at a time, its columns are a layer size (<= INT_MAX)
    cdef cnp.ndarray Xa = _input(X, "X", 2, dt, "X", False)
    cdef cnp.ndarray P = _input(params, "params", 1, dt, "X", False)
    sizes, codes, widest = _check_network(layer_sizes, activations, P, False)
    if Xa.shape[1] != sizes[0]:
        raise ValueError(f"X has {Xa.shape[1]} features, but the network expects {sizes[0]}")
    cdef cnp.ndarray o = _output(out, "out", dt, Xa.shape[0], sizes[len(sizes) - 1], 2, False)
    _check_disjoint(o, "out", Xa, "X", False)
    _check_disjoint(o, "out", P, "params", False)
    if Xa.shape[0] == 0:
        return o
    cdef Py_ssize_t block = min(Xa.shape[0], max(_FORWARD_MIN_ROWS, _FORWARD_BLOCK_VALUES // widest))
    # one layer writes straight into out: no scratch
    scratch = np.empty(2 * block * widest if len(sizes) > 2 else 0, dtype=Xa.dtype)
    if dt == cnp.NPY_FLOAT32:
        _network_forward[float](Xa, P, sizes, codes, block, scratch, o)
    else:
        _network_forward[double](Xa, P, sizes, codes, block, scratch, o)
    return o


cdef _network_forward(const floating[:, ::1] X, const floating[::1] params,
                      const long long[::1] sizes, const int[::1] codes, Py_ssize_t block,
                      floating[::1] scratch, floating[:, ::1] out):
    """out := the network's outputs, `block` rows at a time; scratch: two blocks of the
    widest layer (the hidden layers write into them in turn, the last one into out)."""
    cdef Py_ssize_t n = X.shape[0], n_layers = sizes.shape[0] - 1, l, offset, start, rows
    cdef Py_ssize_t half = scratch.shape[0] // 2
    cdef const floating* layer_in
    cdef floating* layer_out
    with nogil:
        start = 0
        while start < n:
            rows = min(block, n - start)
            layer_in = &X[start, 0]
            offset = 0
            for l in range(n_layers):
                layer_out = &out[start, 0] if l == n_layers - 1 else &scratch[(l % 2) * half]
                _forward_rows(layer_in, rows, sizes[l], &params[offset],
                              &params[offset + sizes[l] * sizes[l + 1]], sizes[l + 1], codes[l],
                              layer_out)
                offset += sizes[l] * sizes[l + 1] + sizes[l + 1]
                layer_in = layer_out
            start += rows


def train_epochs(X, Y, params, layer_sizes, activations, loss, learning_rate, batch_size,
                 epochs, order=None, target_loss=0.0, losses_out=None):
    """Run up to `epochs` epochs of mini-batch SGD on a feedforward network, in place.

    Per batch: forward through every layer, the loss, then backward layer by
    layer with each layer's SGD update fused into its weight-gradient GEMM
    (W -= lr A_prev.T @ dZ, b -= lr sum(dZ)). The whole loop runs without the
    GIL and without allocating.

    X (n_samples, n_in), Y (n_samples, n_out); params: the flat parameter
    buffer (per layer W (n_in, n_out) row-major, then b), updated in place;
    layer_sizes [n_in, ..., n_out]; activations: one name per layer; loss:
    "mse", "bce" (sigmoid output, computed from the logits) or "cce" (softmax
    output, from the logits). order: None (samples in order) or an int64 array
    (epochs, n_samples) holding each epoch's permutation. The epoch loss is the
    sample-weighted mean of the batch losses, each measured before its update.
    Training stops after an epoch whose loss is below target_loss, or at once
    when the loss or a parameter is not finite after an epoch (params are then
    restored to the start of that epoch). losses_out (epochs,) float64 receives
    the epoch losses.

    Signals (Ctrl-C) are handled between batches, within a fraction of a
    second: params are restored to the start of the interrupted epoch, the
    losses of the completed epochs are in losses_out, and the signal
    handler's exception (KeyboardInterrupt) propagates.

    Returns (epochs_run, stop), stop one of STOP_EPOCHS, STOP_TARGET, STOP_DIVERGED.
    """
    cdef int dt = _float_type(X, "X")
    cdef cnp.ndarray Xa = _input(X, "X", 2, dt, "X")
    cdef cnp.ndarray Ya = _input(Y, "Y", 2, dt, "X")
    _check_rows(Ya, "Y", Xa, "X")
    if not cnp.PyArray_Check(params) or cnp.PyArray_NDIM(<cnp.ndarray>params) != 1:
        raise ValueError(f"params must be a 1-d numpy.ndarray, got {type(params).__name__}")
    cdef cnp.ndarray P = _output(params, "params", dt, 0, params.shape[0], 1, False)
    sizes, codes, _ = _check_network(layer_sizes, activations, P)
    n_inputs, n_outputs = int(sizes[0]), int(sizes[len(sizes) - 1])
    output_code = int(codes[len(codes) - 1])
    if Xa.shape[1] != n_inputs:
        raise ValueError(f"X has {Xa.shape[1]} features, but the network expects {n_inputs}")
    if Ya.shape[1] != n_outputs:
        raise ValueError(f"Y has {Ya.shape[1]} columns, but the network has {n_outputs} outputs")
    if not isinstance(loss, str) or loss not in _LOSS_CODES:
        raise ValueError(f"loss must be one of 'mse', 'bce', 'cce'; got {loss!r}")
    cdef int kind = _LOSS_CODES[loss]
    if kind == SIGMOID_BCE and output_code != SIGMOID:
        raise ValueError(f"loss 'bce' needs a sigmoid output layer, got {ACTIVATIONS[output_code]!r}")
    if kind == SOFTMAX_CCE and output_code != SOFTMAX:
        raise ValueError(f"loss 'cce' needs a softmax output layer, got {ACTIVATIONS[output_code]!r}")
    cdef double lr = _learning_rate(learning_rate)
    cdef double target = _as_real(target_loss, "target_loss")
    batch_size = _as_count(batch_size, "batch_size")
    epochs = _as_count(epochs, "epochs")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    cdef Py_ssize_t n = Xa.shape[0]
    if n == 0:
        raise ValueError("X must hold at least one sample, got shape (0, ...)")
    cdef cnp.ndarray order_a = None
    if order is not None:
        order_a = np.asarray(order)
        if order_a.dtype.kind not in "iu":
            raise TypeError(f"order must hold integer sample indices, got dtype {order_a.dtype}")
        if order_a.ndim != 2 or order_a.shape[0] < epochs or order_a.shape[1] != n:
            raise ValueError(f"order must have shape ({epochs}, {n}), got {_shape(order_a)}")
        # The indices are copied once into a buffer this call owns, and checked on the
        # copy: the engine reads them without the GIL, so neither another thread nor an
        # output sharing the caller's memory (losses_out, params) can change them after
        # the check.
        order_a = np.array(order_a[:epochs], dtype=np.int64, order="C", copy=True)
        if order_a.size and (order_a.min() < 0 or order_a.max() >= n):
            raise ValueError(f"order must hold sample indices in [0, {n})")
    cdef cnp.ndarray losses = _output(losses_out, "losses_out", cnp.NPY_FLOAT64, 0,
                                      max(epochs, 0), 1, False)
    if losses_out is not None and losses.shape[0] < epochs:
        raise ValueError(f"losses_out must hold {epochs} values")
    # the parameters and the losses are written while X and Y are read
    _check_disjoint(P, "params", Xa, "X", False)
    _check_disjoint(P, "params", Ya, "Y", False)
    _check_disjoint(losses, "losses_out", P, "params", False)
    _check_disjoint(losses, "losses_out", Xa, "X", False)
    _check_disjoint(losses, "losses_out", Ya, "Y", False)
    batch_size = min(batch_size, n)
    _check_workspace(sizes, batch_size, P.shape[0], 4 if dt == cnp.NPY_FLOAT32 else 8)
    if dt == cnp.NPY_FLOAT32:
        return _train_typed[float](Xa, Ya, P, sizes, codes, kind, <float>lr,
                                   batch_size, epochs, order_a, target, losses)
    return _train_typed[double](Xa, Ya, P, sizes, codes, kind, lr,
                                batch_size, epochs, order_a, target, losses)


cdef tuple _train_typed(const floating[:, ::1] X, const floating[:, ::1] Y, floating[::1] params,
                        const long long[::1] sizes, const int[::1] codes, int kind,
                        floating learning_rate, Py_ssize_t batch_size, Py_ssize_t epochs,
                        cnp.ndarray order_a, double target_loss, double[::1] losses):
    cdef Py_ssize_t n = X.shape[0], n_layers = sizes.shape[0] - 1, l
    cdef Py_ssize_t widest = 0, n_activations = 0
    for l in range(1, n_layers + 1):
        widest = max(widest, sizes[l])
        n_activations += sizes[l]
    widest = max(widest, sizes[0])
    dtype = np.float32 if floating is float else np.float64
    # Workspace, allocated once per call: every layer's outputs for one batch, two
    # gradient buffers used in turn, the gathered batch, the epoch-start parameters.
    cdef floating[::1] acts = np.empty(batch_size * n_activations, dtype)
    cdef floating[::1] grad_a = np.empty(batch_size * widest, dtype)
    cdef floating[::1] grad_b = np.empty(batch_size * widest, dtype)
    cdef floating[::1] x_batch = np.empty(batch_size * sizes[0], dtype)
    cdef floating[::1] y_batch = np.empty(batch_size * sizes[n_layers], dtype)
    cdef floating[::1] saved = np.empty(params.shape[0], dtype)
    cdef long long[:, ::1] order = order_a if order_a is not None else None
    cdef Py_ssize_t[::1] offsets = np.empty(n_layers + 1, np.intp)     # of each W in params
    cdef Py_ssize_t[::1] act_offsets = np.empty(n_layers + 1, np.intp)  # of each layer's outputs
    offsets[0] = 0
    act_offsets[0] = 0
    for l in range(n_layers):
        offsets[l + 1] = offsets[l] + sizes[l] * sizes[l + 1] + sizes[l + 1]
        act_offsets[l + 1] = act_offsets[l] + batch_size * sizes[l + 1]
    cdef Py_ssize_t epoch = 0, epochs_run = 0, work = 0
    cdef int stop = _STOP_EPOCHS, interrupted = 0
    cdef PyObject* pending[3]
    cdef double epoch_loss
    with nogil:
        for epoch in range(epochs):
            saved[:] = params
            epoch_loss = _train_one_epoch(
                &X[0, 0], &Y[0, 0], n, &params[0], &sizes[0], &codes[0], n_layers, kind,
                learning_rate, batch_size, &order[epoch, 0] if order is not None else NULL,
                &offsets[0], &act_offsets[0], &acts[0], &grad_a[0], &grad_b[0],
                &x_batch[0], &y_batch[0], params.shape[0], &work, &interrupted, pending)
            if interrupted:
                params[:] = saved
                stop = _STOP_INTERRUPTED
                break
            losses[epoch] = epoch_loss
            epochs_run = epoch + 1
            # NaN or inf loss, or the last updates of the epoch overflowed the parameters
            if not (epoch_loss - epoch_loss == 0) or not _all_finite(&params[0], params.shape[0]):
                params[:] = saved
                stop = _STOP_DIVERGED
                break
            if epoch_loss < target_loss:
                stop = _STOP_TARGET
                break
    if stop == _STOP_INTERRUPTED:
        _raise_pending(pending)
    return epochs_run, stop


cdef double _train_one_epoch(
        const floating* X, const floating* Y, Py_ssize_t n, floating* params,
        const long long* sizes, const int* codes, Py_ssize_t n_layers, int kind,
        floating learning_rate, Py_ssize_t batch_size, const long long* order,
        const Py_ssize_t* offsets, const Py_ssize_t* act_offsets, floating* acts,
        floating* grad_a, floating* grad_b, floating* x_batch, floating* y_batch,
        Py_ssize_t n_params, Py_ssize_t* work, int* interrupted,
        PyObject** pending) noexcept nogil:
    """One epoch of SGD over all batches; returns the sample-weighted mean batch loss.

    Polls for signals after a batch once _POLL_WORK work has been done since
    the last poll; sets *interrupted and returns at once when a handler raised.
    """
    cdef Py_ssize_t start, rows, i, j, l
    cdef Py_ssize_t n_in = sizes[0], n_out = sizes[n_layers]
    cdef const floating* xb
    cdef const floating* yb
    cdef const floating* layer_in
    cdef floating* W
    cdef floating* out
    cdef floating* grad
    cdef floating* grad_prev
    cdef floating* swap
    cdef int act
    cdef double total = 0.0
    start = 0
    while start < n:
        rows = min(batch_size, n - start)
        if order != NULL:                       # gather the shuffled batch
            for i in range(rows):
                for j in range(n_in):
                    x_batch[i * n_in + j] = X[order[start + i] * n_in + j]
                for j in range(n_out):
                    y_batch[i * n_out + j] = Y[order[start + i] * n_out + j]
            xb, yb = x_batch, y_batch
        else:
            xb, yb = X + start * n_in, Y + start * n_out
        # forward; the cross-entropies keep the output layer's logits
        layer_in = xb
        for l in range(n_layers):
            act = codes[l]
            if l == n_layers - 1 and kind != MSE:
                act = IDENTITY
            W = params + offsets[l]
            out = acts + act_offsets[l]
            _forward_rows(layer_in, rows, sizes[l], W, W + sizes[l] * sizes[l + 1],
                          sizes[l + 1], act, out)
            layer_in = out
        # loss, and its gradient with respect to the output layer's pre-activation
        out = acts + act_offsets[n_layers - 1]
        total += _loss_rows(yb, out, rows, n_out, kind) * rows
        grad, grad_prev = grad_a, grad_b
        _loss_gradient_rows(yb, out, rows, n_out, kind, grad)
        if kind == MSE:
            for i in range(rows):
                _activation_backward_row(out + i * n_out, grad + i * n_out, grad + i * n_out,
                                         n_out, codes[n_layers - 1])
        # backward, each layer's update fused into its weight-gradient GEMM
        for l in range(n_layers - 1, -1, -1):
            layer_in = xb if l == 0 else acts + act_offsets[l - 1]
            W = params + offsets[l]
            _backward_sgd_rows(layer_in, rows, sizes[l], grad, sizes[l + 1], learning_rate,
                               W, W + sizes[l] * sizes[l + 1], grad_prev if l > 0 else NULL)
            if l > 0:
                for i in range(rows):
                    _activation_backward_row(layer_in + i * sizes[l], grad_prev + i * sizes[l],
                                             grad_prev + i * sizes[l], sizes[l], codes[l - 1])
                swap = grad
                grad = grad_prev
                grad_prev = swap
        start += rows
        work[0] += rows * n_params
        if work[0] >= _POLL_WORK:
            work[0] = 0
            if _signal_pending(pending):
                interrupted[0] = 1
                return 0.0
    return total / n
