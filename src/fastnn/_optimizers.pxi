# Optimizer update rules and learning-rate schedules over flat buffers. Included
# by _kernels.pyx (so both builds, baseline and AVX2, carry them).
#
# Each rule follows the update that torch.optim documents for it, in the same
# order of operations: the same defaults and the same meaning of weight_decay
# live in fastnn.optimizers, which packs them into the hyper-parameter vector
# below. Twins of every function here are in fastnn._reference.

from libc.math cimport cos, floor, pow, sqrt

cdef enum:
    OPT_SGD = 0
    OPT_ADAM = 1
    OPT_ADAMW = 2
    OPT_RMSPROP = 3
    OPT_ADAGRAD = 4
    OPT_RPROP = 5

#: Update rules, in the order of their integer codes.
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "rprop")

# Slots of the hyper-parameter vector (float64, one value per name of HYPERPARAMETERS;
# flags are 0 or 1).
cdef enum:
    H_MOMENTUM = 0
    H_DAMPENING = 1
    H_NESTEROV = 2
    H_BETA1 = 3
    H_BETA2 = 4
    H_EPS = 5
    H_WEIGHT_DECAY = 6
    H_DECAY_BIASES = 7
    H_AMSGRAD = 8
    H_ALPHA = 9
    H_CENTERED = 10
    H_LR_DECAY = 11
    H_ETA_MINUS = 12
    H_ETA_PLUS = 13
    H_STEP_MIN = 14
    H_STEP_MAX = 15
    N_HYPER = 16

#: Names of the hyper-parameter vector's slots, in order.
HYPERPARAMETERS = ("momentum", "dampening", "nesterov", "beta1", "beta2", "eps",
                   "weight_decay", "decay_biases", "amsgrad", "alpha", "centered", "lr_decay",
                   "eta_minus", "eta_plus", "step_min", "step_max")

cdef enum:
    SCHED_CONSTANT = 0
    SCHED_STEP = 1
    SCHED_EXPONENTIAL = 2
    SCHED_COSINE = 3
    SCHED_INVSCALING = 4
    N_SCHEDULE_PARAMETERS = 4

#: Learning-rate schedules evaluated inside the compiled loop, in the order of their codes.
SCHEDULES = ("constant", "step", "exponential", "cosine", "invscaling")

cdef dict _OPTIMIZER_CODES = {name: code for code, name in enumerate(OPTIMIZERS)}
cdef dict _SCHEDULE_CODES = {name: code for code, name in enumerate(SCHEDULES)}


cdef struct Optimizer:
    int rule
    double learning_rate        # of the current epoch, the schedule applied
    long long step              # updates taken by this state, the current one included
    Py_ssize_t n_params         # length of each state slot
    double h[N_HYPER]


cdef Py_ssize_t _state_slots(int rule, const double* h) noexcept nogil:
    """How many buffers of n_params values the rule keeps."""
    if rule == OPT_SGD:
        return 1 if h[H_MOMENTUM] != 0 else 0
    if rule == OPT_ADAM or rule == OPT_ADAMW:
        return 3 if h[H_AMSGRAD] != 0 else 2
    if rule == OPT_RMSPROP:
        return 1 + (h[H_CENTERED] != 0) + (h[H_MOMENTUM] != 0)
    if rule == OPT_ADAGRAD:
        return 1
    return 2                    # OPT_RPROP: previous gradient, step sizes


cdef double _scheduled_rate(int schedule, const double* s, double base, long long epoch,
                            long long samples) noexcept nogil:
    """The learning rate of epoch `epoch` (0-based), `samples` samples seen before it.

    step: base gamma^floor(epoch / step_size) (StepLR); exponential: base
    gamma^epoch (ExponentialLR); cosine: a linear warm-up from base * factor
    over warmup epochs (LinearLR), then eta_min + (base - eta_min)(1 +
    cos(pi t / T_max)) / 2 (CosineAnnealingLR's closed form); invscaling: base
    / (samples + 1)^power_t (scikit-learn's).
    """
    cdef double t
    if schedule == SCHED_STEP:              # s = [step_size, gamma]
        return base * pow(s[1], floor(<double>epoch / s[0]))
    if schedule == SCHED_EXPONENTIAL:       # s = [gamma]
        return base * pow(s[0], <double>epoch)
    if schedule == SCHED_COSINE:            # s = [T_max, eta_min, warmup, start_factor]
        if epoch < s[2]:
            return base * (s[3] + (1.0 - s[3]) * epoch / s[2])
        t = epoch - s[2]
        return s[1] + (base - s[1]) * (1.0 + cos(3.141592653589793 * t / s[0])) / 2.0
    if schedule == SCHED_INVSCALING:        # s = [power_t]
        return base / pow(<double>samples + 1.0, s[0])
    return base


cdef void _update(const Optimizer* opt, floating* p, const floating* g, floating* state,
                  Py_ssize_t count, double weight_decay) noexcept nogil:
    """One step of the rule over p[0:count] with gradients g; state points at slot 0's
    entry for p[0] (slot k is n_params further on). weight_decay: the rule's, or 0 for
    parameters it does not decay."""
    cdef Py_ssize_t i, n = opt.n_params
    cdef const double* h = opt.h
    cdef floating lr = <floating>opt.learning_rate, wd = <floating>weight_decay
    cdef floating gi, d, mu, damp, b1, b2, eps, alpha, avg, step_size, bc2_sqrt, decay
    cdef floating eta_minus, eta_plus, smin, smax, f, s
    cdef floating* m
    cdef floating* v
    cdef floating* w
    cdef bint first = opt.step == 1
    if opt.rule == OPT_SGD:
        mu, damp = <floating>h[H_MOMENTUM], <floating>(1.0 - h[H_DAMPENING])
        m = state
        if mu == 0:
            for i in range(count):
                p[i] -= lr * (g[i] + wd * p[i])
        elif h[H_NESTEROV] != 0:
            for i in range(count):
                gi = g[i] + wd * p[i]
                m[i] = gi if first else mu * m[i] + damp * gi
                p[i] -= lr * (gi + mu * m[i])
        else:
            for i in range(count):
                gi = g[i] + wd * p[i]
                m[i] = gi if first else mu * m[i] + damp * gi
                p[i] -= lr * m[i]
    elif opt.rule == OPT_ADAM or opt.rule == OPT_ADAMW:
        b1, b2, eps = <floating>h[H_BETA1], <floating>h[H_BETA2], <floating>h[H_EPS]
        step_size = <floating>(opt.learning_rate / (1.0 - pow(h[H_BETA1], <double>opt.step)))
        bc2_sqrt = <floating>sqrt(1.0 - pow(h[H_BETA2], <double>opt.step))
        m, v = state, state + n
        w = state + 2 * n if h[H_AMSGRAD] != 0 else NULL
        if opt.rule == OPT_ADAMW:           # decoupled: p *= 1 - lr wd, then Adam
            decay = 1 - lr * wd
            wd = 0
            for i in range(count):
                p[i] *= decay
        # one pass: the moments, then the step (AMSGrad: with the running maximum of v)
        if w == NULL:
            for i in range(count):
                gi = g[i] + wd * p[i]
                m[i] += (1 - b1) * (gi - m[i])
                v[i] = b2 * v[i] + (1 - b2) * gi * gi
                p[i] -= step_size * (m[i] / (sqrt(v[i]) / bc2_sqrt + eps))
        else:
            for i in range(count):
                gi = g[i] + wd * p[i]
                m[i] += (1 - b1) * (gi - m[i])
                v[i] = b2 * v[i] + (1 - b2) * gi * gi
                w[i] = v[i] if v[i] > w[i] else w[i]
                p[i] -= step_size * (m[i] / (sqrt(w[i]) / bc2_sqrt + eps))
    elif opt.rule == OPT_RMSPROP:
        alpha, eps, mu = <floating>h[H_ALPHA], <floating>h[H_EPS], <floating>h[H_MOMENTUM]
        v = state
        m = state + n if h[H_CENTERED] != 0 else NULL        # the mean gradient
        w = state + n * (2 if m != NULL else 1) if mu != 0 else NULL   # the momentum buffer
        for i in range(count):
            gi = g[i] + wd * p[i]
            v[i] = alpha * v[i] + (1 - alpha) * gi * gi
            if m != NULL:
                m[i] += (1 - alpha) * (gi - m[i])
                avg = sqrt(v[i] - m[i] * m[i]) + eps
            else:
                avg = sqrt(v[i]) + eps
            if mu != 0:
                w[i] = mu * w[i] + gi / avg
                p[i] -= lr * w[i]
            else:
                p[i] -= lr * (gi / avg)
    elif opt.rule == OPT_ADAGRAD:
        eps = <floating>h[H_EPS]
        step_size = <floating>(opt.learning_rate / (1.0 + (opt.step - 1) * h[H_LR_DECAY]))
        v = state
        for i in range(count):
            gi = g[i] + wd * p[i]
            v[i] += gi * gi
            p[i] -= step_size * (gi / (sqrt(v[i]) + eps))
    else:                                   # OPT_RPROP
        eta_minus, eta_plus = <floating>h[H_ETA_MINUS], <floating>h[H_ETA_PLUS]
        smin, smax = <floating>h[H_STEP_MIN], <floating>h[H_STEP_MAX]
        m, v = state, state + n             # previous gradient, step sizes
        if first:
            for i in range(count):
                m[i] = 0
                v[i] = lr
        for i in range(count):
            s = g[i] * m[i]
            f = eta_plus if s > 0 else (eta_minus if s < 0 else 1)
            d = v[i] * f
            d = smin if d < smin else (smax if d > smax else d)
            v[i] = d
            gi = 0 if f == eta_minus else g[i]
            p[i] -= d * ((gi > 0) - (gi < 0))
            m[i] = gi


cdef void _update_layer(const Optimizer* opt, floating* params, const floating* grads,
                        floating* state, Py_ssize_t w_start, Py_ssize_t b_start,
                        Py_ssize_t end) noexcept nogil:
    """One step over one layer's W (params[w_start:b_start]) and b (params[b_start:end])."""
    cdef double wd = opt.h[H_WEIGHT_DECAY]
    # (a rule without state gets NULL: no arithmetic on a null pointer)
    cdef floating* w_state = state + w_start if state != NULL else NULL
    cdef floating* b_state = state + b_start if state != NULL else NULL
    if opt.h[H_DECAY_BIASES] != 0:
        _update(opt, params + w_start, grads + w_start, w_state, end - w_start, wd)
    else:
        _update(opt, params + w_start, grads + w_start, w_state, b_start - w_start, wd)
        _update(opt, params + b_start, grads + b_start, b_state, end - b_start, 0.0)


cdef int _optimizer_code(object optimizer) except -1:
    code = _OPTIMIZER_CODES.get(optimizer) if isinstance(optimizer, str) else None
    if code is None:
        raise ValueError(f"optimizer must be one of {', '.join(map(repr, OPTIMIZERS))}; "
                         f"got {optimizer!r}")
    return code


cdef int _schedule_code(object schedule) except -1:
    code = _SCHEDULE_CODES.get(schedule) if isinstance(schedule, str) else None
    if code is None:
        raise ValueError(f"schedule must be one of {', '.join(map(repr, SCHEDULES))}; "
                         f"got {schedule!r}")
    return code


cdef int _fill_vector(double* out, object values, Py_ssize_t length, str name) except -1:
    """Copy a float64 vector of `length` values (None: zeros) into out."""
    cdef Py_ssize_t i
    if values is None:
        for i in range(length):
            out[i] = 0.0
        return 0
    cdef cnp.ndarray a = _input(values, name, 1, cnp.NPY_FLOAT64, name, False)
    if a.shape[0] != length:
        raise ValueError(f"{name} must hold {length} values, got {a.shape[0]}")
    cdef const double* data = <const double*>cnp.PyArray_DATA(a)
    for i in range(length):
        out[i] = data[i]
    return 0


cdef int _setup_optimizer(Optimizer* opt, object optimizer, object hyperparameters,
                          object learning_rate, Py_ssize_t n_params) except -1:
    opt.rule = _optimizer_code(optimizer)
    _fill_vector(opt.h, hyperparameters, N_HYPER, "hyperparameters")
    opt.learning_rate = _learning_rate(learning_rate)
    opt.n_params = n_params
    opt.step = 0
    return 0


cdef cnp.ndarray _state_buffer(object state, const Optimizer* opt, int typenum):
    """The optimizer state (slots x n_params values), checked; None only for no slots."""
    cdef Py_ssize_t size = _state_slots(opt.rule, opt.h) * opt.n_params
    if state is None:
        if size:
            raise ValueError(f"state must be a buffer of {size} values for optimizer "
                             f"{OPTIMIZERS[opt.rule]!r} with these hyperparameters, got None")
        return cnp.PyArray_EMPTY(1, [0], typenum, 0)
    if not cnp.PyArray_Check(state) or cnp.PyArray_NDIM(<cnp.ndarray>state) != 1:
        raise ValueError(f"state must be a 1-d numpy.ndarray, got {type(state).__name__}")
    return _output(state, "state", typenum, 0, size, 1, False)


def state_size(optimizer, hyperparameters, Py_ssize_t n_params):
    """The number of values the optimizer's state holds for n_params parameters."""
    cdef Optimizer opt
    opt.rule = _optimizer_code(optimizer)
    _fill_vector(opt.h, hyperparameters, N_HYPER, "hyperparameters")
    return _state_slots(opt.rule, opt.h) * n_params


def optimizer_update(params, grads, state, optimizer, hyperparameters, learning_rate,
                     step, w_end=None):
    """One update of params in place by the rule, with state (slots x n) updated too.

    step: the number of this update (1 for the first one of a fresh state).
    w_end: params[:w_end] are weights, the rest biases (decayed only when
    hyperparameters' decay_biases is set); None: all are weights.
    """
    cdef int dt = _float_type(params, "params")
    if cnp.PyArray_NDIM(<cnp.ndarray>params) != 1:
        raise ValueError(f"params must be a 1-d array, got shape {_shape(params)}")
    cdef cnp.ndarray p = _output(params, "params", dt, 0, params.shape[0], 1, False)
    cdef cnp.ndarray g = _input(grads, "grads", 1, dt, "params", False)
    _check_same_shape(g, "grads", p, "params")
    cdef Optimizer opt
    _setup_optimizer(&opt, optimizer, hyperparameters, learning_rate, p.shape[0])
    opt.step = _as_count(step, "step")
    if opt.step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    cdef cnp.ndarray s = _state_buffer(state, &opt, dt)
    cdef Py_ssize_t n = p.shape[0]
    cdef Py_ssize_t split = n if w_end is None else _as_count(w_end, "w_end")
    if not 0 <= split <= n:
        raise ValueError(f"w_end must lie in [0, {n}], got {w_end}")
    _check_disjoint(p, "params", g, "grads", False)
    _check_disjoint(s, "state", p, "params", False)
    _check_disjoint(s, "state", g, "grads", False)
    if n == 0:
        return
    if dt == cnp.NPY_FLOAT32:
        _run_update[float](&opt, p, g, s, split)
    else:
        _run_update[double](&opt, p, g, s, split)


cdef _run_update(const Optimizer* opt, floating[::1] params, const floating[::1] grads,
                 floating[::1] state, Py_ssize_t split):
    cdef floating* st = &state[0] if state.shape[0] else NULL
    with nogil:
        _update_layer(opt, &params[0], &grads[0], st, 0, split, params.shape[0])


def learning_rate_at(schedule, schedule_parameters, base_rate, epoch, samples=0):
    """The learning rate of epoch `epoch` (0-based) under the schedule, `samples` seen."""
    cdef double s[N_SCHEDULE_PARAMETERS]
    cdef int code = _schedule_code(schedule)
    _fill_vector(s, schedule_parameters, N_SCHEDULE_PARAMETERS, "schedule_parameters")
    return _scheduled_rate(code, s, _learning_rate(base_rate), _as_count(epoch, "epoch"),
                           _as_count(samples, "samples"))
