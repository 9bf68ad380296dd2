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
#: The engine's stop reasons by code (an interrupt raises the signal handler's exception).
STOP_REASONS = ("epochs", "target_loss", "diverged", "interrupted")

#: The losses, in the order of their codes (mse, binary and categorical cross-entropy).
LOSSES = ("mse", "bce", "cce")
cdef dict _LOSS_CODES = {name: code for code, name in enumerate(LOSSES)}


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


cdef inline Py_ssize_t _round_up_64(Py_ssize_t n) noexcept nogil:
    return (n + 63) // 64 * 64


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
                              layer_out, _inference_small_batch(floating is float))
                offset += sizes[l] * sizes[l + 1] + sizes[l + 1]
                layer_in = layer_out
            start += rows


# --------------------------------------------------------------------------
# The training engine: one batch (forward, fused loss and gradient, backward
# with the update of each layer as soon as its gradient is known), whole epochs
# of batches, and the gradient of a loss over a batch for Network.gradients.
# --------------------------------------------------------------------------

cdef struct Engine:
    # the network
    const long long* sizes          # n_layers + 1 layer sizes
    const int* codes                # n_layers activation codes
    Py_ssize_t n_layers
    const Py_ssize_t* offsets       # offsets[l]: layer l's W in params; offsets[n_layers] = n_params
    int kind                        # the loss
    # workspace of one batch (of the call's dtype): every layer's outputs, two gradient
    # buffers used in turn, column sums (double)
    void* acts
    const Py_ssize_t* act_offsets   # of each layer's outputs in acts
    void* grad_a
    void* grad_b
    double* sums
    # the update
    void* grads                     # the flat gradient (layout of params); NULL: fused SGD
    void* state
    Optimizer opt
    double clip_norm                # 0: none
    bint tiny                       # one-sample batches take _tiny_sgd_step (training)
    bint small                      # per-sample SGD runs in _small_sgd_run (training)
    # one-sample plain SGD: the next sample's input, whose first-layer pre-activation the
    # first layer's update computes on its way (or NULL); z0_ready: acts holds it
    const void* next_x
    bint z0_ready


cdef bint _fused_sgd_enabled = True
cdef bint _tiny_steps_enabled = True
cdef bint _chained_steps_enabled = True
cdef bint _small_steps_enabled = True


def _set_small_steps(bint enabled):
    """Allow _small_sgd_run (for tests and measurement only); returns the previous."""
    global _small_steps_enabled
    previous = _small_steps_enabled
    _small_steps_enabled = enabled
    return previous


def _set_chained_steps(bint enabled):
    """Allow the first-layer update to compute the next sample's first layer (for tests
    and measurement only); returns the previous."""
    global _chained_steps_enabled
    previous = _chained_steps_enabled
    _chained_steps_enabled = enabled
    return previous


def _set_tiny_steps(bint enabled):
    """Allow _tiny_sgd_step (for tests and measurement only); returns the previous."""
    global _tiny_steps_enabled
    previous = _tiny_steps_enabled
    _tiny_steps_enabled = enabled
    return previous


def _set_fused_sgd(bint enabled):
    """Allow the fused plain-SGD path (for tests and measurement only); returns the previous."""
    global _fused_sgd_enabled
    previous = _fused_sgd_enabled
    _fused_sgd_enabled = enabled
    return previous


cdef bint _is_plain_sgd(const Optimizer* opt, double clip_norm) noexcept nogil:
    """True when the rule is p -= lr g, which the fused path computes inside the dW GEMM."""
    return (opt.rule == OPT_SGD and opt.h[H_MOMENTUM] == 0 and opt.h[H_WEIGHT_DECAY] == 0
            and clip_norm == 0 and _fused_sgd_enabled)


cdef enum:
    _TINY_WIDTH = 16        # the widest layer of a network _tiny_sgd_step takes


cdef bint _takes_tiny_step(const Engine* e) noexcept nogil:
    """True for a network whose one-sample SGD steps _tiny_sgd_step computes: plain SGD
    fused into the backward pass, mse, every layer a tiny product (the seed network's
    2x2 and 2x1) with a per-value activation (not softmax)."""
    cdef Py_ssize_t l
    if e.grads != NULL or e.kind != MSE:
        return False
    for l in range(e.n_layers):
        if (e.sizes[l] * e.sizes[l + 1] >= _TINY_PRODUCT or e.sizes[l + 1] > _TINY_WIDTH
                or e.codes[l] == SOFTMAX or e.codes[l] == STEP):
            return False
    return True


cdef bint _takes_small_step(const Engine* e) noexcept nogil:
    """True for a network whose per-sample SGD _small_sgd_run computes: one the tiny
    step takes (_takes_tiny_step) with two layers at most _SMALL_WIDTH wide (the seed
    network's 2-2-1), where the compiler has vector types."""
    cdef Py_ssize_t l
    if not FNN_HAVE_V4 or e.n_layers != 2 or not _takes_tiny_step(e):
        return False
    for l in range(3):
        if e.sizes[l] > _SMALL_WIDTH:
            return False
    return True


cdef inline Py_ssize_t _small_sgd_run(Engine* e, const floating* X, const floating* Y,
                                      Py_ssize_t n, const long long* order, Py_ssize_t first,
                                      Py_ssize_t count, Py_ssize_t epochs, double target,
                                      double* total, double* losses, floating* params,
                                      floating* saved, int* finite) noexcept nogil:
    """Per-sample steps of _tiny_sgd_step through a network _takes_small_step, its
    parameters held in registers throughout: samples first .. first + count - 1 of the
    epoch under way, then (if they end it) up to epochs - 1 whole epochs more, stopping
    after an epoch that is not finite or is below target; returns the epochs ended.
    The same numbers as _tiny_sgd_step up to rounding (see fnn_small_sgd in
    _sample_kernels.h)."""
    cdef Py_ssize_t ended = 0
    if floating is float:
        ended = _small_sgd_f(e.sizes[0], e.sizes[1], e.sizes[2], e.codes[0], e.codes[1],
                             <float>e.opt.learning_rate, params, X, Y, n, order, first, count,
                             epochs, target, total, losses, saved, finite)
    else:
        ended = _small_sgd_d(e.sizes[0], e.sizes[1], e.sizes[2], e.codes[0], e.codes[1],
                             e.opt.learning_rate, params, X, Y, n, order, first, count,
                             epochs, target, total, losses, saved, finite)
    e.opt.step += count + (ended - 1) * n if ended > 1 else count
    return ended


cdef double _tiny_sgd_step(Engine* e, const floating* x, const floating* y,
                           floating* params) noexcept nogil:
    """_batch_step for one sample through a tiny network (see _takes_tiny_step): the
    same kernels and the same arithmetic, without the general step's dispatch (the
    batch rule, the row loops of each activation, their calls): a general step spends
    ~1100 instructions on the seed network's ~20 multiply-adds and 3 exponentials."""
    cdef const long long* sizes = e.sizes
    cdef const int* codes = e.codes
    cdef const Py_ssize_t* offsets = e.offsets
    cdef const Py_ssize_t* act_offsets = e.act_offsets
    cdef Py_ssize_t l, j, n_in, n_out, n_layers = e.n_layers
    cdef floating* acts = <floating*>e.acts
    cdef floating* out = acts
    cdef const floating* layer_in = x
    cdef floating* W
    cdef floating grad_a[_TINY_WIDTH]
    cdef floating grad_b[_TINY_WIDTH]
    cdef floating* grad = grad_a
    cdef floating* grad_prev = grad_b
    cdef floating* swap
    cdef floating lr = <floating>e.opt.learning_rate
    cdef double loss
    for l in range(n_layers):
        n_in, n_out = sizes[l], sizes[l + 1]
        W = params + offsets[l]
        out = acts + act_offsets[l]
        if floating is float:
            _tiny_forward_f(n_in, n_out, layer_in, W, W + n_in * n_out, out)
        else:
            _tiny_forward_d(n_in, n_out, layer_in, W, W + n_in * n_out, out)
        for j in range(n_out):
            out[j] = _activation_value(out[j], codes[l])
        layer_in = out
    n_out = sizes[n_layers]
    loss = _loss_and_gradient_rows(y, out, 1, n_out, MSE, grad)
    for j in range(n_out):
        grad[j] = _derivative_value(out[j], grad[j], codes[n_layers - 1])
    e.opt.step += 1
    for l in range(n_layers - 1, -1, -1):
        n_in, n_out = sizes[l], sizes[l + 1]
        layer_in = x if l == 0 else acts + act_offsets[l - 1]
        W = params + offsets[l]
        if floating is float:
            _tiny_backward_sgd_f(n_in, n_out, layer_in, grad, lr, W, W + n_in * n_out,
                                 grad_prev if l > 0 else NULL)
        else:
            _tiny_backward_sgd_d(n_in, n_out, layer_in, grad, lr, W, W + n_in * n_out,
                                 grad_prev if l > 0 else NULL)
        if l > 0:
            for j in range(n_in):
                grad_prev[j] = _derivative_value(layer_in[j], grad_prev[j], codes[l - 1])
            swap = grad
            grad = grad_prev
            grad_prev = swap
    return loss


cdef double _batch_step(Engine* e, const floating* xb, const floating* yb, Py_ssize_t rows,
                        floating* params, bint update) noexcept nogil:
    """Forward, loss and backward over one batch; returns its loss (before any update).

    Writes the gradient into e.grads (unless fused SGD); with `update`, applies
    the optimizer to each layer as soon as its gradient is known (after all
    layers when the gradient is clipped by its global norm).
    """
    # the engine's fields in locals: the callees get &e.opt, so the compiler could not
    # keep fields read through e in registers across their calls
    cdef const long long* sizes = e.sizes
    cdef const int* codes = e.codes
    cdef const Py_ssize_t* offsets = e.offsets
    cdef const Py_ssize_t* act_offsets = e.act_offsets
    cdef Py_ssize_t l, i, n_in, n_out, n_layers = e.n_layers, n_params = e.offsets[e.n_layers]
    cdef Py_ssize_t n_out_last = sizes[n_layers]
    cdef int kind = e.kind
    cdef double* sums = e.sums
    cdef const floating* layer_in
    cdef floating* acts = <floating*>e.acts
    cdef floating* grads = <floating*>e.grads
    cdef floating* state = <floating*>e.state
    cdef floating* W
    cdef floating* out
    cdef floating* grad = <floating*>e.grad_a
    cdef floating* grad_prev = <floating*>e.grad_b
    cdef floating* swap
    cdef floating learning_rate = <floating>e.opt.learning_rate
    cdef int act
    cdef bint fused = update and grads == NULL
    cdef bint clipped = update and e.clip_norm > 0
    cdef double loss, norm, scale
    # forward; the cross-entropies keep the output layer's logits
    layer_in = xb
    for l in range(n_layers):
        act = IDENTITY if l == n_layers - 1 and kind != MSE else codes[l]
        W = params + offsets[l]
        out = acts + act_offsets[l]
        if l == 0 and e.z0_ready:       # computed by the last step's first-layer update
            e.z0_ready = False
            if act != IDENTITY:
                _activate_row(out, sizes[1], act)
        else:
            _forward_rows(layer_in, rows, sizes[l], W, W + sizes[l] * sizes[l + 1],
                          sizes[l + 1], act, out, _small_batch)
        layer_in = out
    # the loss and its gradient with respect to the output layer's pre-activation
    out = acts + act_offsets[n_layers - 1]
    loss = _loss_and_gradient_rows(yb, out, rows, n_out_last, kind, grad)
    if kind == MSE:
        for i in range(rows):
            _activation_backward_row(out + i * n_out_last, grad + i * n_out_last,
                                     grad + i * n_out_last, n_out_last, codes[n_layers - 1])
    if update:
        e.opt.step += 1
    # backward
    for l in range(n_layers - 1, -1, -1):
        n_in, n_out = sizes[l], sizes[l + 1]
        layer_in = xb if l == 0 else acts + act_offsets[l - 1]
        W = params + offsets[l]
        if fused and l == 0 and e.next_x != NULL:   # and the next sample's first layer
            if floating is float:
                _sample_update_forward_f(n_in, n_out, layer_in, grad, learning_rate, W,
                                         W + n_in * n_out, <const float*>e.next_x,
                                         acts + act_offsets[0])
            else:
                _sample_update_forward_d(n_in, n_out, layer_in, grad, learning_rate, W,
                                         W + n_in * n_out, <const double*>e.next_x,
                                         acts + act_offsets[0])
            e.z0_ready = True
        elif fused:             # W -= lr X.T dZ inside the GEMM, b -= lr sum(dZ)
            _backward_sgd_rows(layer_in, rows, n_in, grad, n_out, learning_rate, W,
                               W + n_in * n_out, grad_prev if l > 0 else NULL, sums)
        else:
            if l > 0:           # dX := dZ W.T, with W before its update
                _matmul(False, True, rows, n_in, n_out, <floating>1.0, grad, n_out, W, n_out,
                        <floating>0.0, grad_prev, n_in)
            _matmul(True, False, n_in, n_out, rows, <floating>1.0, layer_in, n_in, grad, n_out,
                    <floating>0.0, grads + offsets[l], n_out)
            _column_sums(grad, rows, n_out, <floating>1.0, <floating>0.0,
                         grads + offsets[l] + n_in * n_out, sums)
            if update and not clipped:
                _update_layer(&e.opt, params, grads, state, offsets[l],
                              offsets[l] + n_in * n_out, offsets[l + 1])
        if l > 0:
            for i in range(rows):
                _activation_backward_row(layer_in + i * n_in, grad_prev + i * n_in,
                                         grad_prev + i * n_in, n_in, codes[l - 1])
            swap = grad
            grad = grad_prev
            grad_prev = swap
    if clipped:                 # torch.nn.utils.clip_grad_norm_: g *= max / (|g| + 1e-6) if < 1
        norm = sqrt(_sum_of_squares(grads, n_params))
        scale = e.clip_norm / (norm + 1e-6)
        if scale < 1.0:
            for i in range(n_params):
                grads[i] = <floating>(grads[i] * scale)
        for l in range(n_layers):
            _update_layer(&e.opt, params, grads, state, offsets[l],
                          offsets[l] + sizes[l] * sizes[l + 1], offsets[l + 1])
    return loss


cdef double _sum_of_squares(const floating* x, Py_ssize_t n) noexcept nogil:
    cdef double s0 = 0.0, s1 = 0.0
    cdef Py_ssize_t i = 0
    while i + 2 <= n:
        s0 += <double>x[i] * x[i]
        s1 += <double>x[i + 1] * x[i + 1]
        i += 2
    if i < n:
        s0 += <double>x[i] * x[i]
    return s0 + s1


cdef class _Workspace:
    """The buffers of one engine call, in one allocation made once per call (never inside
    the loop): every layer's outputs for a batch, two gradient buffers, column sums and
    the layers' parameter and output offsets, each on a 64-byte boundary. Its size is
    checked by _check_workspace first."""
    cdef void* memory
    cdef Py_ssize_t n_layers
    cdef Py_ssize_t* offsets
    cdef Py_ssize_t* act_offsets
    cdef char* acts
    cdef char* grad_a
    cdef char* grad_b
    cdef double* sums
    # training only (training_buffers): the epoch's start (parameters, optimizer state),
    # restored when it diverges or is interrupted, and the gathered batch; each its own
    # allocation (so that the sanitizer build sees each buffer's bounds)
    cdef char* saved
    cdef char* saved_state
    cdef char* x_batch
    cdef char* y_batch

    def __cinit__(self, cnp.ndarray sizes, Py_ssize_t batch_size, Py_ssize_t itemsize):
        # sizes: the int64 array of _check_network
        cdef const long long* s = <const long long*>cnp.PyArray_DATA(sizes)
        cdef Py_ssize_t n_layers = cnp.PyArray_DIM(sizes, 0) - 1, l
        cdef Py_ssize_t widest = 0, n_activations = 0
        for l in range(n_layers + 1):
            widest = max(widest, <Py_ssize_t>s[l])
            if l:
                n_activations += s[l]
        cdef Py_ssize_t b_offsets = _round_up_64(2 * (n_layers + 1) * sizeof(Py_ssize_t))
        cdef Py_ssize_t b_acts = _round_up_64(batch_size * n_activations * itemsize)
        cdef Py_ssize_t b_grad = _round_up_64(batch_size * widest * itemsize)
        cdef Py_ssize_t b_sums = _round_up_64(widest * sizeof(double))
        self.memory = malloc(b_offsets + b_acts + 2 * b_grad + b_sums + 64)
        if self.memory == NULL:
            raise MemoryError()
        cdef char* p = <char*>self.memory + (64 - <size_t>self.memory % 64) % 64
        self.n_layers = n_layers
        self.offsets = <Py_ssize_t*>p
        self.act_offsets = self.offsets + n_layers + 1
        self.acts = p + b_offsets
        self.grad_a = self.acts + b_acts
        self.grad_b = self.grad_a + b_grad
        self.sums = <double*>(self.grad_b + b_grad)
        self.offsets[0] = 0
        self.act_offsets[0] = 0
        for l in range(n_layers):
            self.offsets[l + 1] = self.offsets[l] + s[l] * s[l + 1] + s[l + 1]
            self.act_offsets[l + 1] = self.act_offsets[l] + s[l + 1] * batch_size

    cdef int training_buffers(self, Py_ssize_t n_params, Py_ssize_t n_state,
                              Py_ssize_t x_values, Py_ssize_t y_values,
                              Py_ssize_t itemsize) except -1:
        self.saved = <char*>malloc(max(1, n_params * itemsize))
        self.saved_state = <char*>malloc(max(1, n_state * itemsize))
        self.x_batch = <char*>malloc(max(1, x_values * itemsize))
        self.y_batch = <char*>malloc(max(1, y_values * itemsize))
        if (self.saved == NULL or self.saved_state == NULL or self.x_batch == NULL
                or self.y_batch == NULL):
            raise MemoryError()
        return 0

    def __dealloc__(self):
        free(self.memory)
        free(self.saved)
        free(self.saved_state)
        free(self.x_batch)
        free(self.y_batch)

    cdef void fill(self, Engine* e, const long long* sizes, const int* codes, int kind):
        e.sizes, e.codes, e.kind = sizes, codes, kind
        e.n_layers = self.n_layers
        e.offsets = self.offsets
        e.act_offsets = self.act_offsets
        e.acts = self.acts
        e.grad_a = self.grad_a
        e.grad_b = self.grad_b
        e.sums = self.sums
        e.tiny = False
        e.small = False
        e.next_x = NULL
        e.z0_ready = False


def parameter_offsets(layer_sizes):
    """Where each layer's weights start in the flat parameters, then their total length.

    Layer l's W (n_in x n_out, row-major) is params[offsets[l]:offsets[l] + n_in n_out],
    its b the n_out values after it.
    """
    total = 0
    offsets = [total]
    for l in range(len(layer_sizes) - 1):
        # Python ints: no overflow (and no negative indices: wraparound is off here)
        total += int(layer_sizes[l]) * int(layer_sizes[l + 1]) + int(layer_sizes[l + 1])
        offsets.append(total)
    return offsets


cdef tuple _check_training_data(X, Y, params, layer_sizes, activations, loss):
    """(dtype code, X, Y, params, sizes, codes, loss code) for a training call, all checked."""
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
    if Xa.shape[0] == 0:
        raise ValueError("X must hold at least one sample, got shape (0, ...)")
    # the parameters are written while X and Y are read
    _check_disjoint(P, "params", Xa, "X", False)
    _check_disjoint(P, "params", Ya, "Y", False)
    return dt, Xa, Ya, P, sizes, codes, kind


def network_gradient(X, Y, params, layer_sizes, activations, loss, out=None):
    """(loss, gradient): the loss over all of (X, Y) and its gradient by backpropagation.

    The gradient is written into out (allocated when None), flat in the layout
    of params; the backward pass is the training engine's. bce and cce are
    computed from the output layer's logits, like in training.
    """
    dt, Xa, Ya, P, sizes, codes, kind = _check_training_data(X, Y, params, layer_sizes,
                                                            activations, loss)
    cdef cnp.ndarray G = _output(out, "out", dt, 0, P.shape[0], 1, False)
    _check_disjoint(G, "out", P, "params", False)
    _check_disjoint(G, "out", Xa, "X", False)
    _check_disjoint(G, "out", Ya, "Y", False)
    _check_workspace(sizes, Xa.shape[0], P.shape[0], cnp.PyArray_ITEMSIZE(Xa))
    work = _Workspace(sizes, Xa.shape[0], cnp.PyArray_ITEMSIZE(Xa))
    if dt == cnp.NPY_FLOAT32:
        value = _gradient_typed[float](Xa, Ya, P, sizes, codes, kind, work, G)
    else:
        value = _gradient_typed[double](Xa, Ya, P, sizes, codes, kind, work, G)
    return value, G


cdef double _gradient_typed(const floating[:, ::1] X, const floating[:, ::1] Y,
                            floating[::1] params, const long long[::1] sizes,
                            const int[::1] codes, int kind, _Workspace work,
                            floating[::1] grads):
    cdef Engine e
    cdef double value
    work.fill(&e, &sizes[0], &codes[0], kind)
    e.grads = &grads[0]
    e.state = NULL
    e.clip_norm = 0.0
    with nogil:
        value = _batch_step(&e, &X[0, 0], &Y[0, 0], X.shape[0], &params[0], False)
    return value


def train_epochs(X, Y, params, layer_sizes, activations, loss, batch_size, epochs,
                 optimizer="sgd", hyperparameters=None, learning_rate=0.1, state=None,
                 counters=None, schedule="constant", schedule_parameters=None,
                 clip_norm=0.0, order=None, target_loss=float("-inf"), losses_out=None,
                 rates_out=None):
    """Run up to `epochs` epochs of mini-batch training on a feedforward network, in place.

    Per batch: forward through every layer, the loss and its gradient in one
    pass, then backward layer by layer; each layer's gradient goes into a flat
    gradient buffer (the layout of params) and the optimizer updates that
    layer at once, while it is in cache (after the whole backward pass when
    clip_norm > 0 clips the gradient by its global norm). Plain SGD (no
    momentum, weight decay or clipping) folds the update into the weight-
    gradient GEMM instead (W -= lr A_prev.T @ dZ): the same update, one pass
    less. The whole loop runs without the GIL and without allocating.

    X (n_samples, n_in), Y (n_samples, n_out); params: the flat parameter
    buffer, updated in place; layer_sizes [n_in, ..., n_out]; activations:
    one name per layer; loss: "mse", "bce" (sigmoid output, from the logits)
    or "cce" (softmax output, from the logits).
    optimizer: one of OPTIMIZERS; hyperparameters: float64 values named by
    HYPERPARAMETERS (None: all 0); state: the optimizer's buffers
    (state_size(...) values, updated in place); counters: int64 [step, epoch,
    samples] of the state (updates, epochs and samples so far), read at the
    start and advanced after every completed epoch (None: from 0).
    learning_rate: the base rate; schedule (one of SCHEDULES) with
    schedule_parameters (4 float64 values) turns it into each epoch's rate,
    written to rates_out (epochs,) float64.
    order: None (samples in order) or an integer array (epochs, n_samples) of
    each epoch's permutation (copied). The epoch loss is the sample-weighted
    mean of the batch losses, each measured before its update. Training stops
    after an epoch whose loss is below target_loss, or at once when the loss
    or a parameter is not finite after an epoch (params, state and counters
    are then restored to the start of that epoch). losses_out (epochs,)
    float64 receives the epoch losses.

    Signals (Ctrl-C) are handled between batches, within a fraction of a
    second: params, state and counters are restored to the start of the
    interrupted epoch, the completed epochs' losses are in losses_out, and the
    signal handler's exception (KeyboardInterrupt) propagates.

    Returns (epochs_run, stop), stop one of STOP_EPOCHS, STOP_TARGET, STOP_DIVERGED.
    """
    dt, Xa, Ya, P, sizes, codes, kind = _check_training_data(X, Y, params, layer_sizes,
                                                            activations, loss)
    cdef Optimizer opt
    _setup_optimizer(&opt, optimizer, hyperparameters, learning_rate, P.shape[0])
    cdef cnp.ndarray S = _state_buffer(state, &opt, dt)
    cdef double sched[N_SCHEDULE_PARAMETERS]
    cdef int schedule_code = _schedule_code(schedule)
    _fill_vector(sched, schedule_parameters, N_SCHEDULE_PARAMETERS, "schedule_parameters")
    cdef double clip = _as_real(clip_norm, "clip_norm")
    if not clip >= 0 or clip == float("inf"):
        raise ValueError(f"clip_norm must be a finite number >= 0 (0: no clipping), got {clip_norm!r}")
    cdef double target = _as_real(target_loss, "target_loss")
    batch_size = _as_count(batch_size, "batch_size")
    epochs = _as_count(epochs, "epochs")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    cdef Py_ssize_t n = Xa.shape[0]
    if opt.rule == OPT_RPROP and batch_size < n:
        raise ValueError(f"optimizer 'rprop' needs full batches (batch_size >= the {n} "
                         f"samples), got batch_size={batch_size}")
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
    cdef cnp.ndarray C
    cdef const long long* c
    if counters is None:
        C = np.zeros(3, np.int64)
    else:
        C = _output(counters, "counters", cnp.NPY_INT64, 0, 3, 1, False)
        c = <const long long*>cnp.PyArray_DATA(C)      # (C.min(): ~1 us a call)
        if c[0] < 0 or c[1] < 0 or c[2] < 0:
            raise ValueError(f"counters must hold [step, epoch, samples] >= 0, got {counters}")
    cdef cnp.ndarray losses = _output(losses_out, "losses_out", cnp.NPY_FLOAT64, 0,
                                      losses_out.shape[0] if losses_out is not None
                                      and cnp.PyArray_Check(losses_out) else epochs, 1, False)
    cdef cnp.ndarray rates = _output(rates_out, "rates_out", cnp.NPY_FLOAT64, 0,
                                     rates_out.shape[0] if rates_out is not None
                                     and cnp.PyArray_Check(rates_out) else 0, 1, False)
    if losses.shape[0] < epochs:
        raise ValueError(f"losses_out must hold {epochs} values, got {losses.shape[0]}")
    if rates_out is not None and rates.shape[0] < epochs:
        raise ValueError(f"rates_out must hold {epochs} values, got {rates.shape[0]}")
    # everything written during the call is disjoint from everything else it touches
    written = ((P, "params"), (S, "state"), (C, "counters"), (losses, "losses_out"),
               (rates, "rates_out"))
    for i, (out_a, out_name) in enumerate(written):
        for in_a, in_name in ((Xa, "X"), (Ya, "Y")) + written[:i]:
            _check_disjoint(out_a, out_name, in_a, in_name, False)
    batch_size = min(batch_size, n)
    _check_workspace(sizes, batch_size, P.shape[0], 4 if dt == cnp.NPY_FLOAT32 else 8)
    work = _Workspace(sizes, batch_size, cnp.PyArray_ITEMSIZE(Xa))
    if dt == cnp.NPY_FLOAT32:
        return _train_typed[float](Xa, Ya, P, sizes, codes, kind, &opt, S, C, schedule_code,
                                   sched, clip, batch_size, epochs, order_a, target, losses,
                                   rates, work)
    return _train_typed[double](Xa, Ya, P, sizes, codes, kind, &opt, S, C, schedule_code,
                                sched, clip, batch_size, epochs, order_a, target, losses,
                                rates, work)


cdef tuple _train_typed(const floating[:, ::1] X, const floating[:, ::1] Y, floating[::1] params,
                        const long long[::1] sizes, const int[::1] codes, int kind,
                        const Optimizer* optimizer, floating[::1] state,
                        long long[::1] counters, int schedule, const double* sched,
                        double clip_norm, Py_ssize_t batch_size, Py_ssize_t epochs,
                        cnp.ndarray order_a, double target_loss, double[::1] losses,
                        double[::1] rates, _Workspace work):
    cdef Py_ssize_t n = X.shape[0], n_params = params.shape[0], n_in = sizes[0]
    cdef Py_ssize_t n_out = sizes[sizes.shape[0] - 1], n_state = state.shape[0]
    dtype = np.float32 if floating is float else np.float64
    cdef Engine e
    work.fill(&e, &sizes[0], &codes[0], kind)
    e.opt = optimizer[0]
    e.clip_norm = clip_norm
    e.state = &state[0] if n_state else NULL
    cdef floating[::1] grads = None
    if _is_plain_sgd(optimizer, clip_norm):
        e.grads = NULL
    else:
        grads = np.empty(n_params, dtype)
        e.grads = &grads[0]
    e.tiny = _tiny_steps_enabled and _takes_tiny_step(&e)
    e.small = batch_size == 1 and e.tiny and _small_steps_enabled and _takes_small_step(&e)
    # samples (within an epoch) or whole epochs per _small_sgd_run: up to the next check
    # for Ctrl-C
    cdef Py_ssize_t small_count = max(1, _POLL_WORK // n_params)
    cdef Py_ssize_t small_epochs = max(1, _POLL_WORK // (n * n_params))
    cdef Py_ssize_t ended = 0
    cdef int small_finite = 0
    cdef bint params_finite
    # per-sample plain SGD whose first layer takes the one-sample kernels: each step's
    # first-layer update also computes the next sample's first-layer pre-activation
    cdef bint chain = (batch_size == 1 and e.grads == NULL and not e.tiny
                       and _chained_steps_enabled and sizes[0] * sizes[1] >= _TINY_PRODUCT
                       and _one_sample_path(sizes[0], sizes[1], _small_batch))
    # the epoch's start, restored when it diverges or is interrupted; the gathered batch
    # (plain allocations: four arrays and their memoryviews took ~2 us of each call)
    work.training_buffers(n_params, n_state, batch_size * n_in, batch_size * n_out,
                          sizeof(floating))
    cdef floating* saved = <floating*>work.saved
    cdef floating* saved_state = <floating*>work.saved_state
    cdef floating* x_batch = <floating*>work.x_batch
    cdef floating* y_batch = <floating*>work.y_batch
    cdef long long[:, ::1] order = order_a if order_a is not None else None
    cdef const long long* epoch_order
    cdef Py_ssize_t epoch = 0, epochs_run = 0, work_done = 0, start, rows, i, j
    cdef long long step0 = counters[0], epoch0 = counters[1], samples0 = counters[2]
    cdef long long committed_step = step0
    cdef Py_ssize_t committed
    cdef bint record_rates = rates.shape[0] > 0, constant = schedule == SCHED_CONSTANT
    cdef int stop = _STOP_EPOCHS, interrupted = 0
    cdef PyObject* pending[3]
    cdef double total, epoch_loss
    cdef const floating* xb
    cdef const floating* yb
    e.opt.step = step0
    with nogil:
        epoch = 0
        while epoch < epochs:
            # plain copies: a memoryview slice assignment costs ~200 instructions
            # (_small_sgd_run copies them at the end of each epoch it keeps: see
            # _sample_kernels.h)
            if not e.small or epoch == 0:
                memcpy(saved, &params[0], n_params * sizeof(floating))
            if n_state:
                memcpy(saved_state, &state[0], n_state * sizeof(floating))
            if not constant:
                e.opt.learning_rate = _scheduled_rate(schedule, sched, optimizer.learning_rate,
                                                      epoch0 + epoch, samples0 + epoch * n)
            if record_rates:
                rates[epoch] = e.opt.learning_rate
            epoch_order = &order[epoch, 0] if order is not None else NULL
            total = 0.0
            start = 0
            while start < n:
                if e.small:
                    rows = min(small_count, n - start)
                    # whole epochs that fit between two checks for Ctrl-C run in one call
                    # at a constant rate; those before its last are kept and recorded
                    ended = _small_sgd_run(&e, &X[0, 0], &Y[0, 0], n, epoch_order, start,
                                           rows, min(epochs - epoch, small_epochs)
                                           if constant and rows == n else 1, target_loss,
                                           &total, &losses[epoch], &params[0], saved,
                                           &small_finite)
                    if ended > 1:
                        if record_rates:
                            for i in range(epoch + 1, epoch + ended):
                                rates[i] = e.opt.learning_rate
                        work_done += (ended - 1) * n * n_params
                        epoch += ended - 1
                        committed_step = e.opt.step - n
                else:
                    rows = min(batch_size, n - start)
                    if epoch_order != NULL and rows == 1:  # one sample: read in place
                        xb, yb = &X[epoch_order[start], 0], &Y[epoch_order[start], 0]
                    elif epoch_order != NULL:          # gather the shuffled batch
                        for i in range(rows):
                            for j in range(n_in):
                                x_batch[i * n_in + j] = X[epoch_order[start + i], j]
                            for j in range(n_out):
                                y_batch[i * n_out + j] = Y[epoch_order[start + i], j]
                        xb, yb = x_batch, y_batch
                    else:
                        xb, yb = &X[start, 0], &Y[start, 0]
                    if rows == 1 and e.tiny:
                        total += _tiny_sgd_step(&e, xb, yb, &params[0])
                    else:
                        if chain and start + 1 < n:     # the next sample of this epoch
                            e.next_x = &X[epoch_order[start + 1] if epoch_order != NULL
                                          else start + 1, 0]
                        else:
                            e.next_x = NULL
                        total += _batch_step(&e, xb, yb, rows, &params[0], True) * rows
                start += rows
                work_done += rows * n_params
                # (after epochs ended by _small_sgd_run, once the last is recorded, below)
                if work_done >= _POLL_WORK and not (e.small and ended > 0):
                    work_done = 0
                    if _signal_pending(pending):
                        interrupted = 1
                        break
            if interrupted:
                memcpy(&params[0], saved, n_params * sizeof(floating))
                if n_state:
                    memcpy(&state[0], saved_state, n_state * sizeof(floating))
                stop = _STOP_INTERRUPTED
                break
            epoch_loss = total / n
            losses[epoch] = epoch_loss
            epochs_run = epoch + 1
            # NaN or inf loss, or the last updates of the epoch overflowed the parameters
            params_finite = small_finite != 0 if e.small else _all_finite(&params[0], n_params)
            if not (epoch_loss - epoch_loss == 0) or not params_finite:
                memcpy(&params[0], saved, n_params * sizeof(floating))
                if n_state:
                    memcpy(&state[0], saved_state, n_state * sizeof(floating))
                stop = _STOP_DIVERGED
                break
            committed_step = e.opt.step         # the epoch is committed
            if epoch_loss < target_loss:
                stop = _STOP_TARGET
                break
            epoch += 1
            if e.small and work_done >= _POLL_WORK:
                work_done = 0
                if _signal_pending(pending):    # between epochs: nothing to restore
                    stop = _STOP_INTERRUPTED
                    break
    # the counters of the committed epochs (also when a signal handler's exception follows)
    committed = epochs_run - (stop == _STOP_DIVERGED)
    counters[0] = committed_step
    counters[1] = epoch0 + committed
    counters[2] = samples0 + committed * n
    if stop == _STOP_INTERRUPTED:
        _raise_pending(pending)
    return epochs_run, stop
