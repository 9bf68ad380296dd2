# --------------------------------------------------------------------------
# ForwardPlan: a network's forward pass with its architecture checked once,
# for predictions one row at a time (included by _kernels.pyx)
# --------------------------------------------------------------------------

cdef enum:
    _PLAN_STACK_VALUES = 2048   # a row's scratch on the stack up to this (2 x widest layer)
    _PLAN_NOGIL_WORK = 65536    # multiply-adds from which a call releases the GIL


cdef class ForwardPlan:
    """The forward pass of one network, with everything but the input checked once.

    ``ForwardPlan(params, layer_sizes, activations)`` makes network_forward's
    checks of the architecture and of ``params`` (the network's flat parameter
    buffer) when it is built, and keeps its own copies of the sizes and of the
    activation codes, and a reference to ``params``, which every call reads
    (so it sees the parameters as they are then). Rebuild it when the
    architecture or the dtype changes.

    ``outputs(X)`` checks only the input, in C: an ndarray of the plan's dtype,
    C-contiguous and aligned, of shape (n_features,) (one sample: returns
    (n_outputs,)) or (n_samples, n_features) with n_samples >= 1, every value
    finite. Anything else returns None and computes nothing: the caller then
    converts and validates the input (which raises the errors users see) and
    calls again.
    """
    cdef readonly object params
    cdef cnp.ndarray _sizes, _codes
    cdef tuple _layer_sizes, _activations
    cdef int _typenum
    cdef Py_ssize_t _n_in, _n_out, _widest, _n_layers, _work

    def __init__(self, params, layer_sizes, activations):
        cdef int dt = _float_type(params, "params")
        cdef cnp.ndarray P = <cnp.ndarray>params
        if cnp.PyArray_NDIM(P) != 1 or not cnp.PyArray_ISCARRAY_RO(P):
            raise ValueError("params must be a C-contiguous, aligned 1-d array")
        sizes, codes, widest = _check_network(layer_sizes, activations, P, False)
        self.params = P
        self._sizes, self._codes = sizes, codes
        self._layer_sizes = tuple(int(size) for size in sizes)
        self._activations = tuple(ACTIVATIONS[code] for code in codes)
        self._typenum = dt
        self._n_layers = len(sizes) - 1
        self._n_in, self._n_out, self._widest = sizes[0], sizes[self._n_layers], widest
        self._work = P.shape[0]

    def outputs(self, X):
        """The network's outputs for X, or None when X needs converting or is invalid."""
        if not cnp.PyArray_Check(X):
            return None
        cdef cnp.ndarray a = <cnp.ndarray>X
        cdef int ndim = cnp.PyArray_NDIM(a)
        if (cnp.PyArray_TYPE(a) != self._typenum or not cnp.PyArray_ISCARRAY_RO(a)
                or ndim < 1 or ndim > 2 or cnp.PyArray_DIM(a, ndim - 1) != self._n_in):
            return None
        cdef Py_ssize_t n = cnp.PyArray_DIM(a, 0) if ndim == 2 else 1
        if n == 0:
            return None
        cdef cnp.npy_intp dims[2]
        cdef cnp.ndarray out
        cdef bint finite
        cdef double scratch[_PLAN_STACK_VALUES]
        cdef const long long* sizes = <const long long*>cnp.PyArray_DATA(self._sizes)
        cdef const int* codes = <const int*>cnp.PyArray_DATA(self._codes)
        cdef void* x = cnp.PyArray_DATA(a)
        cdef void* p = cnp.PyArray_DATA(<cnp.ndarray>self.params)
        cdef bint single = self._typenum == cnp.NPY_FLOAT32
        finite = _all_finite[float](<float*>x, n * self._n_in) if single else \
            _all_finite[double](<double*>x, n * self._n_in)
        if not finite:
            return None
        if ndim == 2:
            dims[0], dims[1] = n, self._n_out
        else:
            dims[0] = self._n_out
        out = cnp.PyArray_SimpleNew(ndim, dims, self._typenum)
        if n > 1 or 2 * self._widest > _PLAN_STACK_VALUES:
            # blocks of rows with a heap scratch, as network_forward
            network_forward(a.reshape(n, self._n_in), self.params, self._layer_sizes,
                            self._activations, out.reshape(n, self._n_out))
        elif self._work >= _PLAN_NOGIL_WORK:
            with nogil:
                if single:
                    _plan_row[float](<float*>x, <float*>p, sizes, codes, self._n_layers,
                                     <float*>scratch, self._widest, <float*>cnp.PyArray_DATA(out))
                else:
                    _plan_row[double](<double*>x, <double*>p, sizes, codes, self._n_layers,
                                      scratch, self._widest, <double*>cnp.PyArray_DATA(out))
        elif single:
            _plan_row[float](<float*>x, <float*>p, sizes, codes, self._n_layers,
                             <float*>scratch, self._widest, <float*>cnp.PyArray_DATA(out))
        else:
            _plan_row[double](<double*>x, <double*>p, sizes, codes, self._n_layers,
                              scratch, self._widest, <double*>cnp.PyArray_DATA(out))
        return out


cdef void _plan_row(const floating* x, const floating* params, const long long* sizes,
                    const int* codes, Py_ssize_t n_layers, floating* buffers,
                    Py_ssize_t widest, floating* out) noexcept nogil:
    """One sample through every layer; the hidden layers write into two buffers in turn."""
    cdef Py_ssize_t l, offset = 0
    cdef const floating* layer_in = x
    cdef floating* layer_out
    for l in range(n_layers):
        layer_out = out if l == n_layers - 1 else buffers + (l % 2) * widest
        _forward_rows(layer_in, 1, sizes[l], params + offset,
                      params + offset + sizes[l] * sizes[l + 1], sizes[l + 1], codes[l],
                      layer_out, _inference_small_batch(floating is float))
        offset += sizes[l] * sizes[l + 1] + sizes[l + 1]
        layer_in = layer_out
