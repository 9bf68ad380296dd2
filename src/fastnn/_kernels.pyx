"""Compiled kernels: the arithmetic of multi-layer perceptron training.

Two layers, as in scikit-learn's Cython code:

* ``cdef ... noexcept nogil`` helpers work on typed memoryviews (fused over
  float32 and float64) and raw row pointers; they trust their contract.
* ``def`` wrappers are the only entry points from Python. They check every
  argument (type, dtype, dimensions, shape, contiguity, writeability,
  aliasing) with the NumPy C-API before any memoryview is taken, raise a
  ``ValueError``/``TypeError`` naming the argument, then run the helpers with
  the GIL released.

Every wrapper has a twin of the same name and signature in
``fastnn._reference`` (plain NumPy), which is the ground truth of the tests.

Conventions: arrays are row-major, a layer computes ``X @ W + b`` with ``X``
of shape (n_samples, n_in), ``W`` (n_in, n_out), ``b`` (n_out,). Inputs that
are not C-contiguous, aligned and native-endian are copied; outputs (``out=``
and friends) must already be so, or are allocated when ``None``. Compiler
directives (bounds checks etc.) come from setup.py, never from this file.
"""

cimport numpy as cnp
from cython cimport floating
from libc.float cimport DBL_MAX
from libc.math cimport exp, fabs, log, log1p
from libc.limits cimport INT_MAX
from cpython.pyport cimport PY_SSIZE_T_MAX
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy
from scipy.linalg.cython_blas cimport dgemm, sgemm

import operator

import numpy as np

cnp.import_array()

# --------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------

cdef extern from *:
    """
    #ifndef FASTNN_DEBUG_BUILD
    #define FASTNN_DEBUG_BUILD 0
    #endif
    """
    const int FASTNN_DEBUG_BUILD

#: True for a FASTNN_DEBUG=1 build (bounds, wraparound and overflow checks on).
DEBUG_BUILD = bool(FASTNN_DEBUG_BUILD)


cdef extern from *:
    """
    static int fastnn_cpu_has_avx2_fma(void) {
    #if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    #else
        return 0;
    #endif
    }
    #if defined(__AVX2__) && defined(__FMA__)
    #define FASTNN_INSTRUCTION_SET "avx2+fma"
    #else
    #define FASTNN_INSTRUCTION_SET "baseline"
    #endif
    """
    int fastnn_cpu_has_avx2_fma()
    const char* FASTNN_INSTRUCTION_SET

#: The instruction set this module was compiled for: "baseline" or "avx2+fma".
INSTRUCTION_SET = FASTNN_INSTRUCTION_SET.decode()


def cpu_has_avx2_fma():
    """True when this CPU can run the AVX2 + FMA build of the kernels."""
    return bool(fastnn_cpu_has_avx2_fma())

# The activation codes, each activation and its derivative for one value, and exp:
# written once in C (_activations.h) for scalars and for the vectors of the small
# networks' step (_sample_kernels.h). The row loops below call the scalar forms with a
# constant activation: gcc folds the choice away and vectorises the loop. Softmax needs
# the whole row: it is computed by the row functions only.
cdef extern from "_activations.h":
    enum:
        IDENTITY "FNN_IDENTITY"
        SIGMOID "FNN_SIGMOID"
        TANH "FNN_TANH"
        RELU "FNN_RELU"
        LEAKY_RELU "FNN_LEAKY_RELU"
        SOFTMAX "FNN_SOFTMAX"
        STEP "FNN_STEP"
    const double LEAKY_SLOPE "FNN_LEAKY_SLOPE"
    double _exp_nonpositive "fnn_exp_nonpositive_d"(double x) noexcept nogil
    float _activation_value_f "fnn_activation_f"(float z, int activation) noexcept nogil
    double _activation_value_d "fnn_activation_d"(double z, int activation) noexcept nogil
    float _derivative_value_f "fnn_derivative_f"(float a, float da, int activation) noexcept nogil
    double _derivative_value_d "fnn_derivative_d"(double a, double da,
                                                  int activation) noexcept nogil

#: Activation names, in the order of their integer codes.
ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "softmax", "step")
#: Slope of leaky ReLU for negative inputs.
LEAKY_RELU_SLOPE = 0.01

cdef dict _ACTIVATION_CODES = {name: code for code, name in enumerate(ACTIVATIONS)}


cdef int _activation_code(object activation, bint differentiable) except -1:
    code = _ACTIVATION_CODES.get(activation) if isinstance(activation, str) else None
    if code is None:
        raise ValueError(
            f"activation must be one of {', '.join(map(repr, ACTIVATIONS))}; got {activation!r}"
        )
    if differentiable and code == STEP:
        raise ValueError(
            "activation 'step' has no useful derivative (it is 0 almost everywhere); "
            "it can be used in forward passes only"
        )
    return code


cdef inline double _sum(const floating* z, Py_ssize_t n) noexcept nogil:
    """sum(z), accumulated in double over four independent chains (not latency-bound)."""
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef Py_ssize_t j = 0
    while j + 4 <= n:
        s0 += z[j]
        s1 += z[j + 1]
        s2 += z[j + 2]
        s3 += z[j + 3]
        j += 4
    while j < n:
        s0 += z[j]
        j += 1
    return (s0 + s1) + (s2 + s3)


cdef extern from *:
    """
    #if FNN_HAVE_V4
    /* out[i] := f(z[i]) four at a time in the vector form (the tail padded with 0) */
    static void fnn_activate_by_vectors(const double* z, Py_ssize_t n, int act, double* out) {
        Py_ssize_t i, j;
        for (i = 0; i < n; i += 4) {
            fnn_v4d v = {0, 0, 0, 0}, a;
            for (j = 0; j < 4 && i + j < n; j++)
                v[j] = z[i + j];
            a = fnn_activation_v4d(v, act);
            for (j = 0; j < 4 && i + j < n; j++)
                out[i + j] = a[j];
        }
    }
    #else
    /* never called: _activate_by_vectors returns None where FNN_HAVE_V4 is 0 */
    static void fnn_activate_by_vectors(const double* z, Py_ssize_t n, int act, double* out) {
        (void)z; (void)n; (void)act; (void)out;
    }
    #endif
    """
    void _activate_by_vectors_c "fnn_activate_by_vectors"(const double* z, Py_ssize_t n,
                                                           int act, double* out) noexcept nogil


def _activate_by_vectors(z, activation):
    """f(z) for a 1-d float64 array, in the 4-lane vector form of the small networks'
    step (tests only; None where the compiler has no vector types)."""
    cdef int code = _activation_code(activation, False)
    if not FNN_HAVE_V4:
        return None
    cdef cnp.ndarray a = np.ascontiguousarray(z, np.float64).reshape(-1)
    cdef cnp.ndarray out = np.empty_like(a)
    if a.shape[0]:
        _activate_by_vectors_c(<const double*>cnp.PyArray_DATA(a), a.shape[0], code,
                               <double*>cnp.PyArray_DATA(out))
    return out


cdef inline floating _activation_value(floating z, int activation) noexcept nogil:
    """f(z) (identity for codes without a per-value form)."""
    if floating is float:
        return _activation_value_f(z, activation)
    else:
        return _activation_value_d(z, activation)


cdef inline floating _derivative_value(floating a, floating da, int activation) noexcept nogil:
    """dA f'(z), with f'(z) written in terms of a = f(z) (da for identity)."""
    if floating is float:
        return _derivative_value_f(a, da, activation)
    else:
        return _derivative_value_d(a, da, activation)


cdef void _activate_row(floating* z, Py_ssize_t n, int activation) noexcept nogil:
    """z := f(z) in place over one row of n values."""
    cdef Py_ssize_t j
    cdef double m, total
    if activation == SIGMOID:
        for j in range(n):
            z[j] = _activation_value(z[j], SIGMOID)
    elif activation == TANH:
        for j in range(n):
            z[j] = _activation_value(z[j], TANH)
    elif activation == RELU:
        for j in range(n):
            z[j] = _activation_value(z[j], RELU)
    elif activation == LEAKY_RELU:
        for j in range(n):
            z[j] = _activation_value(z[j], LEAKY_RELU)
    elif activation == STEP:
        for j in range(n):
            z[j] = _activation_value(z[j], STEP)
    elif activation == SOFTMAX:
        m = z[0]
        for j in range(1, n):
            if z[j] > m:
                m = z[j]
        for j in range(n):
            z[j] = <floating>_exp_nonpositive(z[j] - m)
        total = _sum(z, n)
        for j in range(n):
            z[j] = <floating>(z[j] / total)


cdef void _activation_backward_row(const floating* a, const floating* da, floating* out,
                                   Py_ssize_t n, int activation) noexcept nogil:
    """out := dA * f'(z), with f'(z) written in terms of a = f(z), over one row."""
    cdef Py_ssize_t j
    cdef double dot
    if activation == IDENTITY:
        for j in range(n):
            out[j] = da[j]
    elif activation == SIGMOID:
        for j in range(n):
            out[j] = _derivative_value(a[j], da[j], SIGMOID)
    elif activation == TANH:
        for j in range(n):
            out[j] = _derivative_value(a[j], da[j], TANH)
    elif activation == RELU:
        for j in range(n):
            out[j] = _derivative_value(a[j], da[j], RELU)
    elif activation == LEAKY_RELU:
        for j in range(n):
            out[j] = _derivative_value(a[j], da[j], LEAKY_RELU)
    elif activation == SOFTMAX:
        # Jacobian-vector product: out_j = a_j (dA_j - sum_k a_k dA_k)
        dot = 0.0
        for j in range(n):
            dot += a[j] * da[j]
        for j in range(n):
            out[j] = <floating>(a[j] * (da[j] - dot))


# --------------------------------------------------------------------------
# Matrix products: BLAS for large products, plain loops for tiny ones
# --------------------------------------------------------------------------

# Which products go to the small-matrix kernels below rather than to BLAS:
# those of fewer than _blas_threshold multiply-adds (BLAS's fixed cost per
# call, dispatch and packing, dominates them), and those whose batch dimension
# (the rows of X and dZ: op(A)'s rows, or the inner dimension of X.T @ dZ) is
# at most _small_batch: per-sample training and single-row predictions, where
# the small kernels are up to 4x faster than OpenBLAS's Haswell kernels and
# within noise of its AVX-512 ones, so that these paths do not depend on the
# BLAS build. fastnn._dispatch sets _small_batch for the BLAS found at import
# (4 under OpenBLAS's Haswell kernels, else 1). Measured with
# bench/measure_blas_threshold.py (figures in its docstring).
cdef Py_ssize_t _blas_threshold = 100
cdef Py_ssize_t _small_batch = 1


def blas_threshold():
    """Products of fewer multiply-adds than this never reach BLAS (fastnn's own loops take
    them)."""
    return _blas_threshold


def _set_product_path(Py_ssize_t threshold, Py_ssize_t small_batch):
    """Set the small-kernels/BLAS rule (fastnn._dispatch at import; tests and measurements).

    Returns the previous (threshold, small_batch). (1 << 62, 1 << 62): always
    the small kernels; (0, 0): always BLAS.
    """
    global _blas_threshold, _small_batch
    previous = (_blas_threshold, _small_batch)
    _blas_threshold, _small_batch = threshold, small_batch
    return previous


cdef enum:
    _LANES = 8          # interleaved partial sums of the small dot products
    _TINY_PRODUCT = 100 # products of fewer multiply-adds take plain loops (no set-up)


# The innermost loops of the small products, in C for one reason: `restrict`
# (which Cython cannot spell) tells the compiler that the row written never
# overlaps the rows read, so it vectorises them without run-time overlap
# checks and scalar fallbacks, whose cost per call rivals the arithmetic of a
# 32-wide row. Written once, instantiated for float and double.
cdef extern from *:
    """
    #if defined(_MSC_VER)
    #define FNN_RESTRICT __restrict
    #else
    #define FNN_RESTRICT __restrict__
    #endif
    #if defined(__GNUC__) && !defined(__clang__)
    #define FNN_UNROLL _Pragma("GCC unroll 2")
    #else
    #define FNN_UNROLL
    #endif
    #define FNN_ROW_KERNELS(T, S)                                                       \\
    /* c[j] := (((c[j] (or 0) + x0 b0[j]) + x1 b1[j]) + x2 b2[j]) + x3 b3[j] */         \\
    static inline void fnn_rows4_##S(int add, Py_ssize_t n, T x0, const T* FNN_RESTRICT b0,  \\
            T x1, const T* FNN_RESTRICT b1, T x2, const T* FNN_RESTRICT b2,             \\
            T x3, const T* FNN_RESTRICT b3, T* FNN_RESTRICT c) {                        \\
        if (add)                                                                        \\
            for (Py_ssize_t j = 0; j < n; j++)                                          \\
                c[j] = (((c[j] + x0 * b0[j]) + x1 * b1[j]) + x2 * b2[j]) + x3 * b3[j];  \\
        else                                                                            \\
            for (Py_ssize_t j = 0; j < n; j++)                                          \\
                c[j] = ((x0 * b0[j] + x1 * b1[j]) + x2 * b2[j]) + x3 * b3[j];           \\
    }                                                                                   \\
    /* c[j] := c[j] (or 0) + x0 b0[j] */                                                \\
    static inline void fnn_row_##S(int add, Py_ssize_t n, T x0, const T* FNN_RESTRICT b0,    \\
            T* FNN_RESTRICT c) {                                                        \\
        if (add) {                                                                      \\
            FNN_UNROLL                                                                  \\
            for (Py_ssize_t j = 0; j < n; j++)                                          \\
                c[j] = c[j] + x0 * b0[j];                                               \\
        } else {                                                                        \\
            FNN_UNROLL                                                                  \\
            for (Py_ssize_t j = 0; j < n; j++)                                          \\
                c[j] = x0 * b0[j];                                                      \\
        }                                                                               \\
    }
    FNN_ROW_KERNELS(float, f)
    FNN_ROW_KERNELS(double, d)
    """
    void _rows4_f "fnn_rows4_f"(bint add, Py_ssize_t n, float x0, const float* b0, float x1,
                                const float* b1, float x2, const float* b2, float x3,
                                const float* b3, float* c) noexcept nogil
    void _rows4_d "fnn_rows4_d"(bint add, Py_ssize_t n, double x0, const double* b0, double x1,
                                const double* b1, double x2, const double* b2, double x3,
                                const double* b3, double* c) noexcept nogil
    void _row_f "fnn_row_f"(bint add, Py_ssize_t n, float x0, const float* b0,
                            float* c) noexcept nogil
    void _row_d "fnn_row_d"(bint add, Py_ssize_t n, double x0, const double* b0,
                            double* c) noexcept nogil


# One sample through a dense layer (per-sample training, single-row predictions):
# a block of outputs held in registers, the backward pass and the SGD update of
# each weight row in one pass. The same arithmetic as the small-matrix kernels
# above, in the same order; see the header.
cdef extern from "_sample_kernels.h":
    void _sample_forward_f "fnn_sample_forward_f"(Py_ssize_t k, Py_ssize_t n, const float* x,
                                                  const float* W, const float* b,
                                                  float* out) noexcept nogil
    void _sample_forward_d "fnn_sample_forward_d"(Py_ssize_t k, Py_ssize_t n, const double* x,
                                                  const double* W, const double* b,
                                                  double* out) noexcept nogil
    void _sample_backward_sgd_f "fnn_sample_backward_sgd_f"(
        Py_ssize_t k, Py_ssize_t n, const float* x, const float* dz, float lr, float* W,
        float* b, float* dX) noexcept nogil
    void _sample_backward_sgd_d "fnn_sample_backward_sgd_d"(
        Py_ssize_t k, Py_ssize_t n, const double* x, const double* dz, double lr, double* W,
        double* b, double* dX) noexcept nogil
    void _sample_update_forward_f "fnn_sample_update_forward_f"(
        Py_ssize_t k, Py_ssize_t n, const float* x, const float* dz, float lr, float* W,
        float* b, const float* xn, float* z) noexcept nogil
    void _sample_update_forward_d "fnn_sample_update_forward_d"(
        Py_ssize_t k, Py_ssize_t n, const double* x, const double* dz, double lr, double* W,
        double* b, const double* xn, double* z) noexcept nogil
    void _tiny_forward_f "fnn_tiny_forward_f"(Py_ssize_t k, Py_ssize_t n, const float* x,
                                              const float* W, const float* b,
                                              float* out) noexcept nogil
    void _tiny_forward_d "fnn_tiny_forward_d"(Py_ssize_t k, Py_ssize_t n, const double* x,
                                              const double* W, const double* b,
                                              double* out) noexcept nogil
    void _tiny_backward_sgd_f "fnn_tiny_backward_sgd_f"(
        Py_ssize_t k, Py_ssize_t n, const float* x, const float* dz, float lr, float* W,
        float* b, float* dX) noexcept nogil
    void _tiny_backward_sgd_d "fnn_tiny_backward_sgd_d"(
        Py_ssize_t k, Py_ssize_t n, const double* x, const double* dz, double lr, double* W,
        double* b, double* dX) noexcept nogil
    double _add_square "fnn_add_square"(double total, double d) noexcept nogil
    const int FNN_HAVE_V4
    const Py_ssize_t _SMALL_WIDTH "FNN_SMALL_WIDTH"
    Py_ssize_t _small_sgd_f "fnn_small_sgd_v4f"(
        Py_ssize_t k0, Py_ssize_t k1, Py_ssize_t k2, int act1, int act2, float lr,
        float* params, const float* X, const float* Y, Py_ssize_t n, const long long* order,
        Py_ssize_t first, Py_ssize_t count, Py_ssize_t epochs, double target,
        double* total, double* losses, float* saved, int* finite) noexcept nogil
    Py_ssize_t _small_sgd_d "fnn_small_sgd_v4d"(
        Py_ssize_t k0, Py_ssize_t k1, Py_ssize_t k2, int act1, int act2, double lr,
        double* params, const double* X, const double* Y, Py_ssize_t n, const long long* order,
        Py_ssize_t first, Py_ssize_t count, Py_ssize_t epochs, double target,
        double* total, double* losses, double* saved, int* finite) noexcept nogil


cdef void _small_gemm_nn(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, floating alpha,
                         const floating* a, Py_ssize_t a_row, Py_ssize_t a_col,
                         const floating* b, Py_ssize_t ldb,
                         floating beta, floating* c, Py_ssize_t ldc) noexcept nogil:
    """C := alpha op(A) B + beta C, with op(A)[i, p] = a[i * a_row + p * a_col].

    Row i of C gets alpha op(A)[i, p] times row p of B added (to beta C; the
    first pass writes the row when beta is 0, which is then never read), four
    rows of B per pass: each pass is one loop over contiguous columns,
    vectorised, that reads and writes the row of C once for four rows of B.
    Every entry sums its products in the order p = 0, 1, ..., as a plain loop
    does. C must not overlap A or B.
    """
    cdef Py_ssize_t i, j, p
    cdef floating x0, x1, x2, x3
    cdef const floating* ai
    cdef const floating* bp
    cdef floating* ci
    cdef bint add
    for i in range(m):
        ai = a + i * a_row
        ci = c + i * ldc
        add = beta != 0 or k == 0
        if beta != 0 and beta != 1 or k == 0:
            for j in range(n):
                ci[j] = beta * ci[j] if beta != 0 else 0
        p = 0
        bp = b
        while p + 4 <= k:
            x0 = alpha * ai[p * a_col]
            x1 = alpha * ai[(p + 1) * a_col]
            x2 = alpha * ai[(p + 2) * a_col]
            x3 = alpha * ai[(p + 3) * a_col]
            if floating is float:
                _rows4_f(add, n, x0, bp, x1, bp + ldb, x2, bp + 2 * ldb, x3, bp + 3 * ldb, ci)
            else:
                _rows4_d(add, n, x0, bp, x1, bp + ldb, x2, bp + 2 * ldb, x3, bp + 3 * ldb, ci)
            add = True
            bp += 4 * ldb
            p += 4
        while p < k:
            x0 = alpha * ai[p * a_col]
            if floating is float:
                _row_f(add, n, x0, bp, ci)
            else:
                _row_d(add, n, x0, bp, ci)
            add = True
            bp += ldb
            p += 1


cdef inline floating _small_dot(const floating* x, const floating* y, Py_ssize_t k) noexcept nogil:
    """x . y over _LANES interleaved partial sums (vectorised), then the rest in order."""
    cdef floating part[_LANES]
    cdef floating s
    cdef Py_ssize_t p = 0, q
    if k >= _LANES:
        for q in range(_LANES):
            part[q] = x[q] * y[q]
        p = _LANES
        while p + _LANES <= k:
            for q in range(_LANES):
                part[q] += x[p + q] * y[p + q]
            p += _LANES
        s = ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]))
    else:
        s = 0
    while p < k:
        s += x[p] * y[p]
        p += 1
    return s


cdef void _small_gemm_nt(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, floating alpha,
                         const floating* a, Py_ssize_t lda, const floating* b, Py_ssize_t ldb,
                         floating beta, floating* c, Py_ssize_t ldc) noexcept nogil:
    """C := alpha A B^T + beta C: every entry the dot product of two contiguous rows."""
    cdef Py_ssize_t i, j
    cdef floating s
    for i in range(m):
        for j in range(n):
            s = _small_dot(a + i * lda, b + j * ldb, k)
            c[i * ldc + j] = alpha * s + (beta * c[i * ldc + j] if beta != 0 else 0)


cdef inline void _matmul(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                         floating alpha, const floating* a, Py_ssize_t lda,
                         const floating* b, Py_ssize_t ldb,
                         floating beta, floating* c, Py_ssize_t ldc) noexcept nogil:
    """C := alpha op(A) @ op(B) + beta C for row-major C (m x n); op(A) is m x k."""
    _product(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, _small_batch)


cdef inline Py_ssize_t _inference_small_batch(bint single_precision) noexcept nogil:
    """The small_batch of _product for forward passes that make predictions.

    float64 rows take the small kernels (up to 4x faster than BLAS, whatever its
    build); a row predicted alone then differs from the same row in a batch
    (BLAS) by about 1e-16, relatively. float32 rows take BLAS, as batches do:
    the small kernels' other order of additions would show at float32's
    precision (an output near 1 moves by 1.2e-7), and scikit-learn's estimator
    checks compare rows predicted one by one with the batch to 1e-7.
    """
    return 0 if single_precision else _small_batch


cdef void _product(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                   floating alpha, const floating* a, Py_ssize_t lda,
                   const floating* b, Py_ssize_t ldb,
                   floating beta, floating* c, Py_ssize_t ldc,
                   Py_ssize_t small_batch) noexcept nogil:
    """_matmul with the batch-size rule given: products whose batch dimension is at
    most small_batch go to the small kernels."""
    cdef Py_ssize_t i, j, p
    cdef floating s
    cdef char ta, tb
    cdef int im, in_, ik, ilda, ildb, ildc
    if m == 0 or n == 0:
        return
    if (<double>m * <double>n * <double>k >= _blas_threshold      # in double: no overflow
            and (k if trans_a and not trans_b else m) > small_batch):
        # Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T:
        # swap the operands, keep their transpose flags.
        ta = b'T' if trans_a else b'N'
        tb = b'T' if trans_b else b'N'
        im, in_, ik = <int>n, <int>m, <int>k
        ilda, ildb, ildc = <int>ldb, <int>lda, <int>ldc
        if floating is float:
            sgemm(&tb, &ta, &im, &in_, &ik, &alpha, <float*>b, &ilda, <float*>a, &ildb,
                  &beta, c, &ildc)
        else:
            dgemm(&tb, &ta, &im, &in_, &ik, &alpha, <double*>b, &ilda, <double*>a, &ildb,
                  &beta, c, &ildc)
        return
    if <double>m * <double>n * <double>k < _TINY_PRODUCT:
        # tiny (the seed network's 2x2 layers): plain loops, no calls and no set-up
        for i in range(m):
            for j in range(n):
                s = 0
                for p in range(k):
                    s += (a[p * lda + i] if trans_a else a[i * lda + p]) * \
                         (b[j * ldb + p] if trans_b else b[p * ldb + j])
                c[i * ldc + j] = alpha * s + (beta * c[i * ldc + j] if beta != 0 else 0)
        return
    if not trans_b:
        if trans_a:
            _small_gemm_nn(m, n, k, alpha, a, 1, lda, b, ldb, beta, c, ldc)
        else:
            _small_gemm_nn(m, n, k, alpha, a, lda, 1, b, ldb, beta, c, ldc)
    elif not trans_a:
        _small_gemm_nt(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    else:                       # A^T B^T: not used by the training step
        for i in range(m):
            for j in range(n):
                s = 0
                for p in range(k):
                    s += a[p * lda + i] * b[j * ldb + p]
                c[i * ldc + j] = alpha * s + (beta * c[i * ldc + j] if beta != 0 else 0)


# --------------------------------------------------------------------------
# Argument checking (with the GIL, before any memoryview is taken)
# --------------------------------------------------------------------------

cdef tuple _shape(object a):
    return a.shape


cdef str _dtype_name(int typenum):
    if typenum == cnp.NPY_INT64:
        return "int64"
    return "float32" if typenum == cnp.NPY_FLOAT32 else "float64"


cdef int _float_type(object arr, str name) except -1:
    """The dtype code of `arr`, which must be a float32 or float64 ndarray."""
    if not cnp.PyArray_Check(arr):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(arr).__name__}")
    cdef int typenum = cnp.PyArray_TYPE(<cnp.ndarray>arr)
    if typenum != cnp.NPY_FLOAT32 and typenum != cnp.NPY_FLOAT64:
        raise ValueError(f"{name} must have dtype float32 or float64, got {arr.dtype}")
    return typenum


cdef cnp.ndarray _input(object arr, str name, int ndim, int typenum, str leader,
                       bint blas_dims=True):
    """`arr` checked for type, dtype and ndim; copied if not C-contiguous, aligned, native.

    blas_dims: its dimensions reach BLAS as C ints (checked before any copy is made);
    false for the arrays only typed loops (Py_ssize_t indices) see.
    """
    if not cnp.PyArray_Check(arr):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(arr).__name__}")
    cdef cnp.ndarray a = <cnp.ndarray>arr
    if cnp.PyArray_TYPE(a) != typenum:
        if cnp.PyArray_TYPE(a) in (cnp.NPY_FLOAT32, cnp.NPY_FLOAT64):
            raise ValueError(
                f"{name} has dtype {a.dtype}, but {leader} has dtype {_dtype_name(typenum)}: "
                f"pass all arrays in one dtype"
            )
        raise ValueError(f"{name} must have dtype {_dtype_name(typenum)}, got {a.dtype}")
    if cnp.PyArray_NDIM(a) != ndim:
        raise ValueError(f"{name} must be a {ndim}-d array, got {a.ndim}-d with shape {_shape(a)}")
    if blas_dims:
        _check_blas_sizes(a, name)
    if not cnp.PyArray_ISCARRAY_RO(a):
        a = np.array(a, dtype=np.float32 if typenum == cnp.NPY_FLOAT32 else np.float64, order="C")
    return a


cdef int _check_blas_sizes(cnp.ndarray a, str name) except -1:
    """BLAS takes C ints: every dimension (and leading dimension) must fit one."""
    cdef int i
    for i in range(cnp.PyArray_NDIM(a)):
        if cnp.PyArray_DIM(a, i) > INT_MAX:
            raise ValueError(
                f"{name} has {cnp.PyArray_DIM(a, i)} entries along axis {i}; the BLAS "
                f"interface limits every dimension to {INT_MAX}: process it in chunks"
            )
    return 0


cdef cnp.ndarray _output(object out, str name, int typenum, Py_ssize_t rows, Py_ssize_t cols,
                         int ndim, bint blas_dims=True):
    """`out` checked to be a writeable (rows, cols) or (cols,) buffer; allocated if None.

    blas_dims: as for _input."""
    cdef cnp.npy_intp dims[2]
    if ndim == 2:
        dims[0], dims[1] = rows, cols
    else:
        dims[0] = cols
    if out is None:
        return cnp.PyArray_EMPTY(ndim, dims, typenum, 0)
    if not cnp.PyArray_Check(out):
        raise TypeError(f"{name} must be a numpy.ndarray or None, got {type(out).__name__}")
    cdef cnp.ndarray o = <cnp.ndarray>out
    if cnp.PyArray_TYPE(o) != typenum:
        raise ValueError(f"{name} must have dtype {_dtype_name(typenum)}, got {o.dtype}")
    if cnp.PyArray_NDIM(o) != ndim or not all(cnp.PyArray_DIM(o, i) == dims[i] for i in range(ndim)):
        expected = f"({rows}, {cols})" if ndim == 2 else f"({cols},)"
        raise ValueError(f"{name} must have shape {expected}, got {_shape(o)}")
    if blas_dims:
        _check_blas_sizes(o, name)
    if not cnp.PyArray_ISCARRAY(o):
        raise ValueError(
            f"{name} must be a writeable, C-contiguous, aligned, native-endian array "
            f"(flags: writeable={o.flags.writeable}, c_contiguous={o.flags.c_contiguous})"
        )
    return o


cdef int _check_disjoint(cnp.ndarray out, str out_name, cnp.ndarray inp, str in_name,
                         bint same_allowed) except -1:
    """Refuse outputs that overlap an input (silent corruption otherwise)."""
    cdef char* o0 = <char*>cnp.PyArray_DATA(out)
    cdef char* o1 = o0 + cnp.PyArray_NBYTES(out)
    cdef char* i0 = <char*>cnp.PyArray_DATA(inp)
    cdef char* i1 = i0 + cnp.PyArray_NBYTES(inp)
    if o0 < i1 and i0 < o1:
        if same_allowed and o0 == i0 and o1 == i1:
            return 0
        raise ValueError(
            f"{out_name} shares memory with {in_name}"
            + ("" if not same_allowed else " without being the very same buffer")
            + f": pass a separate {out_name} buffer"
        )
    return 0


cdef int _check_outputs_disjoint(cnp.ndarray out1, str name1, cnp.ndarray out2, str name2,
                                 cnp.ndarray out3, str name3, cnp.ndarray in1, str in_name1,
                                 cnp.ndarray in2, str in_name2, cnp.ndarray in3,
                                 str in_name3) except -1:
    """No output overlaps an input or another output (out3 and in3 may be None)."""
    _check_disjoint_from(out1, name1, in1, in_name1, in2, in_name2, in3, in_name3)
    _check_disjoint_from(out2, name2, in1, in_name1, in2, in_name2, in3, in_name3)
    _check_disjoint(out1, name1, out2, name2, False)
    if out3 is not None:
        _check_disjoint_from(out3, name3, in1, in_name1, in2, in_name2, in3, in_name3)
        _check_disjoint(out3, name3, out1, name1, False)
        _check_disjoint(out3, name3, out2, name2, False)
    return 0


cdef int _check_disjoint_from(cnp.ndarray out, str name, cnp.ndarray in1, str in_name1,
                              cnp.ndarray in2, str in_name2, cnp.ndarray in3,
                              str in_name3) except -1:
    _check_disjoint(out, name, in1, in_name1, False)
    _check_disjoint(out, name, in2, in_name2, False)
    if in3 is not None:
        _check_disjoint(out, name, in3, in_name3, False)
    return 0


cdef int _check_rows(cnp.ndarray a, str a_name, cnp.ndarray ref, str ref_name) except -1:
    if a.shape[0] != ref.shape[0]:
        raise ValueError(
            f"{a_name} has {a.shape[0]} rows but {ref_name} has {ref.shape[0]}: "
            f"expected {a_name} of shape ({ref.shape[0]}, ...), got {_shape(a)}"
        )
    return 0


cdef int _check_same_shape(cnp.ndarray a, str a_name, cnp.ndarray ref, str ref_name) except -1:
    if cnp.PyArray_NDIM(a) != cnp.PyArray_NDIM(ref) or not cnp.PyArray_SAMESHAPE(a, ref):
        raise ValueError(f"{a_name} must have the shape of {ref_name}, {_shape(ref)}; got {_shape(a)}")
    return 0


cdef int _check_layer(cnp.ndarray X, cnp.ndarray W, cnp.ndarray b) except -1:
    """X (n_samples, n_in), W (n_in, n_out), b (n_out,) with n_in, n_out >= 1."""
    if W.shape[0] < 1 or W.shape[1] < 1:
        raise ValueError(f"W must have at least one row and one column, got shape {_shape(W)}")
    if X.shape[1] != W.shape[0]:
        raise ValueError(
            f"X has {X.shape[1]} features but W has {W.shape[0]} rows: "
            f"expected W of shape ({X.shape[1]}, n_out), got {_shape(W)}"
        )
    if b is not None and b.shape[0] != W.shape[1]:
        raise ValueError(
            f"b has {b.shape[0]} entries but W has {W.shape[1]} columns: "
            f"expected b of shape ({W.shape[1]},), got {_shape(b)}"
        )
    return 0


cdef str _describe(object value):
    """repr(value), or a description of an integer too long to print (no 10**5000 digits)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = operator.index(value)
        if value.bit_length() > 128:
            return f"an integer of {value.bit_length()} bits"
    return repr(value)


cdef double _as_real(object value, str name) except? -1:
    """`value` as a C double; a TypeError naming `name` unless it is a real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{name} must be a finite real number, got {_describe(value)}, "
                         f"too large for a float") from None


cdef object _as_index(object value, str name):
    """`value` as a plain int (operator.index), before anything compares it: an int
    subclass whose comparisons lie cannot pass a range check. TypeError unless an integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    return operator.index(value)


cdef Py_ssize_t _as_count(object value, str name) except? -1:
    """`value` as a C integer; a TypeError naming `name` unless it is an integer."""
    value = _as_index(value, name)
    if not -PY_SSIZE_T_MAX <= value <= PY_SSIZE_T_MAX:
        raise ValueError(f"{name} is out of range: {_describe(value)} (at most "
                         f"{PY_SSIZE_T_MAX} in magnitude)")
    return value


cdef double _learning_rate(object value) except? -1:
    """A learning rate: a finite real number > 0."""
    cdef double learning_rate = _as_real(value, "learning_rate")
    if not (learning_rate > 0 and learning_rate < float("inf")):
        raise ValueError(f"learning_rate must be a finite number > 0, got {value!r}")
    return learning_rate


# --------------------------------------------------------------------------
# Dense layer: forward
# --------------------------------------------------------------------------

cdef inline bint _one_sample_path(Py_ssize_t n_in, Py_ssize_t n_out,
                                  Py_ssize_t small_batch) noexcept nogil:
    """True when one sample through a layer (not tiny) takes the one-sample kernels: where
    the batch rule of _product would not take BLAS for it."""
    return small_batch >= 1 or <double>n_in * <double>n_out < _blas_threshold


cdef void _forward_rows(const floating* X, Py_ssize_t n_samples, Py_ssize_t n_in,
                        const floating* W, const floating* b, Py_ssize_t n_out, int activation,
                        floating* out, Py_ssize_t small_batch) noexcept nogil:
    """out := f(X @ W + b) over raw row-major buffers; the bias goes into the GEMM.

    small_batch: _small_batch in training, _inference_small_batch for predictions."""
    cdef Py_ssize_t i, j, p
    cdef floating s
    if n_samples == 0:
        return
    if n_samples == 1 and n_in * n_out < _TINY_PRODUCT:
        # one sample through a tiny layer (the seed network's): the product's plain
        # loops, with the same additions in the same order, kept scalar
        if floating is float:
            _tiny_forward_f(n_in, n_out, X, W, b, out)
        else:
            _tiny_forward_d(n_in, n_out, X, W, b, out)
        if activation != IDENTITY:
            _activate_row(out, n_out, activation)
        return
    if n_samples == 1 and _one_sample_path(n_in, n_out, small_batch):
        if floating is float:
            _sample_forward_f(n_in, n_out, X, W, b, out)
        else:
            _sample_forward_d(n_in, n_out, X, W, b, out)
        if activation != IDENTITY:
            _activate_row(out, n_out, activation)
        return
    for i in range(n_samples):             # out := b, then out += X @ W (beta = 1)
        for j in range(n_out):
            out[i * n_out + j] = b[j]
    _product(False, False, n_samples, n_out, n_in, <floating>1.0, X, n_in, W, n_out,
             <floating>1.0, out, n_out, small_batch)
    if activation != IDENTITY:
        for i in range(n_samples):
            _activate_row(out + i * n_out, n_out, activation)


cdef void _dense_forward(const floating[:, ::1] X, const floating[:, ::1] W,
                         const floating[::1] b, int activation,
                         floating[:, ::1] out) noexcept nogil:
    if X.shape[0] > 0:
        _forward_rows(&X[0, 0], X.shape[0], X.shape[1], &W[0, 0], &b[0], W.shape[1],
                      activation, &out[0, 0], _inference_small_batch(floating is float))


def dense_forward(X, W, b, activation="identity", out=None):
    """out := f(X @ W + b).

    The bias is fused into the product (out is filled with b, then the GEMM
    adds X @ W with beta = 1), the activation is one pass over out after it.
    X (n_samples, n_in), W (n_in, n_out), b (n_out,); out (n_samples, n_out)
    is allocated when None. Returns out.
    """
    cdef int act = _activation_code(activation, False)
    cdef int dt = _float_type(X, "X")
    cdef cnp.ndarray Xa = _input(X, "X", 2, dt, "X")
    cdef cnp.ndarray Wa = _input(W, "W", 2, dt, "X")
    cdef cnp.ndarray ba = _input(b, "b", 1, dt, "X")
    _check_layer(Xa, Wa, ba)
    cdef cnp.ndarray o = _output(out, "out", dt, Xa.shape[0], Wa.shape[1], 2)
    _check_disjoint(o, "out", Xa, "X", False)
    _check_disjoint(o, "out", Wa, "W", False)
    _check_disjoint(o, "out", ba, "b", False)
    if dt == cnp.NPY_FLOAT32:
        _run_dense_forward[float](Xa, Wa, ba, act, o)
    else:
        _run_dense_forward[double](Xa, Wa, ba, act, o)
    return o


cdef _run_dense_forward(const floating[:, ::1] X, const floating[:, ::1] W,
                        const floating[::1] b, int act, floating[:, ::1] out):
    with nogil:
        _dense_forward(X, W, b, act, out)


def matmul(A, B, out=None, transpose_a=False, transpose_b=False):
    """out := op(A) @ op(B), op(M) = M.T when asked, through the kernels' BLAS.

    The bare product, with nothing fused: the ceiling the dense kernels are
    measured against.
    """
    cdef int dt = _float_type(A, "A")
    cdef cnp.ndarray Aa = _input(A, "A", 2, dt, "A")
    cdef cnp.ndarray Ba = _input(B, "B", 2, dt, "A")
    cdef bint ta = bool(transpose_a), tb = bool(transpose_b)
    cdef Py_ssize_t m = Aa.shape[1] if ta else Aa.shape[0]
    cdef Py_ssize_t k = Aa.shape[0] if ta else Aa.shape[1]
    cdef Py_ssize_t kb = Ba.shape[1] if tb else Ba.shape[0]
    cdef Py_ssize_t n = Ba.shape[0] if tb else Ba.shape[1]
    if k != kb:
        raise ValueError(
            f"op(A) has {k} columns but op(B) has {kb} rows: expected B of shape "
            f"{(n, k) if tb else (k, 'n')}, got {_shape(Ba)}".replace("'n'", "n")
        )
    cdef cnp.ndarray o = _output(out, "out", dt, m, n, 2)
    _check_disjoint(o, "out", Aa, "A", False)
    _check_disjoint(o, "out", Ba, "B", False)
    if dt == cnp.NPY_FLOAT32:
        _run_matmul[float](Aa, Ba, ta, tb, o)
    else:
        _run_matmul[double](Aa, Ba, ta, tb, o)
    return o


cdef _run_matmul(const floating[:, ::1] A, const floating[:, ::1] B, bint ta, bint tb,
                 floating[:, ::1] out):
    cdef Py_ssize_t m = out.shape[0], n = out.shape[1], i, j
    cdef Py_ssize_t k = A.shape[0] if ta else A.shape[1]
    if m == 0 or n == 0:
        return
    with nogil:
        if k == 0:
            for i in range(m):
                for j in range(n):
                    out[i, j] = 0
        else:
            _matmul(ta, tb, m, n, k, <floating>1.0, &A[0, 0], A.shape[1], &B[0, 0], B.shape[1],
                    <floating>0.0, &out[0, 0], n)


# --------------------------------------------------------------------------
# Activations and their derivatives
# --------------------------------------------------------------------------

def activate(Z, activation, out=None):
    """out := f(Z), element-wise (softmax: per row). out may be Z itself (in place)."""
    cdef int act = _activation_code(activation, False)
    cdef int dt = _float_type(Z, "Z")
    cdef cnp.ndarray Za = _input(Z, "Z", 2, dt, "Z", False)
    cdef cnp.ndarray o = _output(out, "out", dt, Za.shape[0], Za.shape[1], 2, False)
    _check_disjoint(o, "out", Za, "Z", True)
    if dt == cnp.NPY_FLOAT32:
        _run_activate[float](Za, act, o)
    else:
        _run_activate[double](Za, act, o)
    return o


cdef _run_activate(const floating[:, ::1] Z, int act, floating[:, ::1] out):
    cdef Py_ssize_t i, j, n = Z.shape[0], m = Z.shape[1]
    if n == 0 or m == 0:
        return
    with nogil:
        for i in range(n):
            if &out[i, 0] != &Z[i, 0]:
                for j in range(m):
                    out[i, j] = Z[i, j]
            _activate_row(&out[i, 0], m, act)


def activation_backward(A, dA, activation, out=None):
    """out := dA * f'(Z), from the forward output A = f(Z).

    sigmoid: a(1-a); tanh: 1-a^2; relu: [a>0]; leaky_relu: 1 or slope;
    softmax: the Jacobian-vector product a * (dA - sum(a * dA)) per row.
    out may be dA itself (in place).
    """
    cdef int act = _activation_code(activation, True)
    cdef int dt = _float_type(A, "A")
    cdef cnp.ndarray Aa = _input(A, "A", 2, dt, "A", False)
    cdef cnp.ndarray dAa = _input(dA, "dA", 2, dt, "A", False)
    _check_same_shape(dAa, "dA", Aa, "A")
    cdef cnp.ndarray o = _output(out, "out", dt, Aa.shape[0], Aa.shape[1], 2, False)
    _check_disjoint(o, "out", dAa, "dA", True)
    _check_disjoint(o, "out", Aa, "A", act != SOFTMAX)
    if dt == cnp.NPY_FLOAT32:
        _run_activation_backward[float](Aa, dAa, act, o)
    else:
        _run_activation_backward[double](Aa, dAa, act, o)
    return o


cdef _run_activation_backward(const floating[:, ::1] A, const floating[:, ::1] dA, int act,
                              floating[:, ::1] out):
    cdef Py_ssize_t i, n = A.shape[0], m = A.shape[1]
    if n == 0 or m == 0:
        return
    with nogil:
        for i in range(n):
            _activation_backward_row(&A[i, 0], &dA[i, 0], &out[i, 0], m, act)


# --------------------------------------------------------------------------
# Dense layer: backward, and backward fused with the SGD update
# --------------------------------------------------------------------------

cdef enum:
    _STACK_SUMS = 512      # columns summed in a stack buffer; wider layers use the heap


cdef void _column_sums(const floating* G, Py_ssize_t n_rows, Py_ssize_t n_cols,
                       floating alpha, floating beta, floating* out,
                       double* scratch) noexcept nogil:
    """out := alpha * sum over rows of G + beta * out, the sums accumulated in double.

    (In float32, 10^6 rows of 0.1 sum to 100958 when accumulated in float32.)
    scratch: n_cols doubles, or NULL (then the stack, or the heap for wide layers).
    """
    cdef double on_stack[_STACK_SUMS]
    cdef double* acc = scratch if scratch != NULL else on_stack
    cdef Py_ssize_t i, j
    if n_rows == 1:                         # per-sample training: nothing to accumulate
        for j in range(n_cols):
            out[j] = alpha * G[j] + (beta * out[j] if beta != 0 else 0)
        return
    if scratch == NULL and n_cols > _STACK_SUMS:
        acc = <double*>malloc(n_cols * sizeof(double))
        if acc == NULL:                     # no memory for the buffer: sum in place
            for j in range(n_cols):
                out[j] = beta * out[j] if beta != 0 else 0
            for i in range(n_rows):
                for j in range(n_cols):
                    out[j] += alpha * G[i * n_cols + j]
            return
    for j in range(n_cols):
        acc[j] = 0.0
    for i in range(n_rows):
        for j in range(n_cols):
            acc[j] += G[i * n_cols + j]
    for j in range(n_cols):
        out[j] = <floating>(alpha * acc[j] + (beta * out[j] if beta != 0 else 0))
    if acc != on_stack and acc != scratch:
        free(acc)


cdef void _backward_sgd_rows(const floating* X, Py_ssize_t n_samples, Py_ssize_t n_in,
                             const floating* dZ, Py_ssize_t n_out, floating learning_rate,
                             floating* W, floating* b, floating* dX,
                             double* sums) noexcept nogil:
    """dX := dZ @ W.T (skipped when dX is NULL); W -= lr X.T @ dZ; b -= lr sum(dZ).

    sums: n_out doubles of scratch, or NULL."""
    cdef Py_ssize_t p, j
    cdef floating s, xp
    if n_samples == 0:
        return
    if n_samples == 1 and n_in * n_out < _TINY_PRODUCT:
        # one sample, a tiny layer: row p of W gives dX[p], then takes its update; the
        # arithmetic of the general path below, in plain loops kept scalar
        if floating is float:
            _tiny_backward_sgd_f(n_in, n_out, X, dZ, learning_rate, W, b, dX)
        else:
            _tiny_backward_sgd_d(n_in, n_out, X, dZ, learning_rate, W, b, dX)
        return
    if n_samples == 1 and _one_sample_path(n_in, n_out, _small_batch):
        if floating is float:
            _sample_backward_sgd_f(n_in, n_out, X, dZ, learning_rate, W, b, dX)
        else:
            _sample_backward_sgd_d(n_in, n_out, X, dZ, learning_rate, W, b, dX)
        return
    if dX != NULL:
        _matmul(False, True, n_samples, n_in, n_out, <floating>1.0, dZ, n_out, W, n_out,
                <floating>0.0, dX, n_in)
    _matmul(True, False, n_in, n_out, n_samples, -learning_rate, X, n_in, dZ, n_out,
            <floating>1.0, W, n_out)
    _column_sums(dZ, n_samples, n_out, -learning_rate, <floating>1.0, b, sums)


def dense_backward(X, W, dZ, dW=None, db=None, dX=None, need_dX=True):
    """dW := X.T @ dZ, db := sum over rows of dZ, dX := dZ @ W.T.

    dZ (n_samples, n_out) is the gradient of the loss with respect to the
    layer's pre-activation. Buffers are allocated when None; dX is skipped
    (returned as None) when need_dX is false. Returns (dW, db, dX).
    """
    cdef int dt = _float_type(X, "X")
    cdef cnp.ndarray Xa = _input(X, "X", 2, dt, "X")
    cdef cnp.ndarray Wa = _input(W, "W", 2, dt, "X")
    cdef cnp.ndarray dZa = _input(dZ, "dZ", 2, dt, "X")
    _check_layer(Xa, Wa, None)
    _check_rows(dZa, "dZ", Xa, "X")
    if dZa.shape[1] != Wa.shape[1]:
        raise ValueError(
            f"dZ has {dZa.shape[1]} columns but W has {Wa.shape[1]}: "
            f"expected dZ of shape ({Xa.shape[0]}, {Wa.shape[1]}), got {_shape(dZa)}"
        )
    cdef cnp.ndarray dWa = _output(dW, "dW", dt, Wa.shape[0], Wa.shape[1], 2)
    cdef cnp.ndarray dba = _output(db, "db", dt, 0, Wa.shape[1], 1)
    cdef cnp.ndarray dXa = _output(dX, "dX", dt, Xa.shape[0], Xa.shape[1], 2) if need_dX else None
    _check_outputs_disjoint(dWa, "dW", dba, "db", dXa, "dX", Xa, "X", Wa, "W", dZa, "dZ")
    if dt == cnp.NPY_FLOAT32:
        _run_dense_backward[float](Xa, Wa, dZa, dWa, dba, dXa, need_dX)
    else:
        _run_dense_backward[double](Xa, Wa, dZa, dWa, dba, dXa, need_dX)
    return dWa, dba, dXa


cdef _run_dense_backward(const floating[:, ::1] X, const floating[:, ::1] W,
                         const floating[:, ::1] dZ, floating[:, ::1] dW, floating[::1] db,
                         floating[:, ::1] dX, bint need_dX):
    cdef Py_ssize_t n_samples = X.shape[0], n_in = W.shape[0], n_out = W.shape[1], i, j
    with nogil:
        if n_samples == 0:
            for j in range(n_out):
                db[j] = 0
            for i in range(n_in):
                for j in range(n_out):
                    dW[i, j] = 0
        else:
            _column_sums(&dZ[0, 0], n_samples, n_out, <floating>1.0, <floating>0.0, &db[0], NULL)
            _matmul(True, False, n_in, n_out, n_samples, <floating>1.0, &X[0, 0], n_in,
                    &dZ[0, 0], n_out, <floating>0.0, &dW[0, 0], n_out)
            if need_dX:
                _matmul(False, True, n_samples, n_in, n_out, <floating>1.0, &dZ[0, 0], n_out,
                        &W[0, 0], n_out, <floating>0.0, &dX[0, 0], n_in)


def dense_backward_sgd(X, W, b, dZ, learning_rate, dX=None, need_dX=True):
    """dX := dZ @ W.T (with W before the step); W -= lr X.T @ dZ; b -= lr sum(dZ).

    The backward pass of a layer fused with its SGD update: the weight
    gradient never exists, the update is folded into one GEMM (beta = 1,
    alpha = -lr). W and b are updated in place and must be writeable.
    Returns dX (None when need_dX is false).
    """
    cdef double lr = _learning_rate(learning_rate)
    cdef int dt = _float_type(X, "X")
    cdef cnp.ndarray Xa = _input(X, "X", 2, dt, "X")
    cdef cnp.ndarray dZa = _input(dZ, "dZ", 2, dt, "X")
    _check_rows(dZa, "dZ", Xa, "X")
    # W and b are parameters updated in place: checked like outputs, never copied.
    if not cnp.PyArray_Check(W) or cnp.PyArray_NDIM(<cnp.ndarray>W) != 2:
        raise ValueError(f"W must be a 2-d numpy.ndarray, got {type(W).__name__} "
                         f"{getattr(W, 'shape', '')}")
    cdef cnp.ndarray Wa = _output(W, "W", dt, W.shape[0], W.shape[1], 2)
    if not cnp.PyArray_Check(b):
        raise ValueError(f"b must be a 1-d numpy.ndarray, got {type(b).__name__}")
    cdef cnp.ndarray ba = _output(b, "b", dt, 0, Wa.shape[1], 1)
    _check_layer(Xa, Wa, ba)
    if dZa.shape[1] != Wa.shape[1]:
        raise ValueError(
            f"dZ has {dZa.shape[1]} columns but W has {Wa.shape[1]}: "
            f"expected dZ of shape ({Xa.shape[0]}, {Wa.shape[1]}), got {_shape(dZa)}"
        )
    cdef cnp.ndarray dXa = _output(dX, "dX", dt, Xa.shape[0], Xa.shape[1], 2) if need_dX else None
    _check_outputs_disjoint(Wa, "W", ba, "b", dXa, "dX", Xa, "X", dZa, "dZ", None, None)
    if dt == cnp.NPY_FLOAT32:
        _run_dense_backward_sgd[float](Xa, dZa, <float>lr, Wa, ba, dXa, need_dX)
    else:
        _run_dense_backward_sgd[double](Xa, dZa, lr, Wa, ba, dXa, need_dX)
    return dXa


cdef _run_dense_backward_sgd(const floating[:, ::1] X, const floating[:, ::1] dZ,
                             floating learning_rate, floating[:, ::1] W, floating[::1] b,
                             floating[:, ::1] dX, bint need_dX):
    if X.shape[0] == 0:
        return
    with nogil:
        _backward_sgd_rows(&X[0, 0], X.shape[0], W.shape[0], &dZ[0, 0], W.shape[1],
                           learning_rate, &W[0, 0], &b[0], &dX[0, 0] if need_dX else NULL, NULL)


# --------------------------------------------------------------------------
# SGD update over a flat parameter buffer
# --------------------------------------------------------------------------

def sgd_update(params, grads, learning_rate):
    """params -= learning_rate * grads, in place over flat (1-d) buffers."""
    cdef double lr = _learning_rate(learning_rate)
    cdef int dt = _float_type(params, "params")
    if not cnp.PyArray_Check(params) or cnp.PyArray_NDIM(<cnp.ndarray>params) != 1:
        raise ValueError(f"params must be a 1-d array, got shape {_shape(params)}")
    cdef cnp.ndarray p = _output(params, "params", dt, 0, params.shape[0], 1, False)
    cdef cnp.ndarray g = _input(grads, "grads", 1, dt, "params", False)
    _check_same_shape(g, "grads", p, "params")
    _check_disjoint(p, "params", g, "grads", False)
    if dt == cnp.NPY_FLOAT32:
        _run_sgd_update[float](g, <float>lr, p)
    else:
        _run_sgd_update[double](g, lr, p)


cdef _run_sgd_update(const floating[::1] grads, floating learning_rate, floating[::1] params):
    cdef Py_ssize_t i
    with nogil:
        for i in range(params.shape[0]):
            params[i] -= learning_rate * grads[i]


# --------------------------------------------------------------------------
# Losses and their gradients
# --------------------------------------------------------------------------

cdef enum:
    MSE = 0
    SIGMOID_BCE = 1
    SOFTMAX_CCE = 2


cdef tuple _loss_inputs(y_true, y_pred, str pred_name):
    cdef int dt = _float_type(y_pred, pred_name)
    cdef cnp.ndarray p = _input(y_pred, pred_name, 2, dt, pred_name, False)
    cdef cnp.ndarray t = _input(y_true, "y_true", 2, dt, pred_name, False)
    _check_same_shape(t, "y_true", p, pred_name)
    if p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"{pred_name} must have at least one sample and one output, "
                         f"got shape {_shape(p)}")
    return dt, t, p


cdef double _mean_of_terms(double total, double scaled, Py_ssize_t count) noexcept nogil:
    """The mean of `count` terms, from their sum and the sum of term / count.

    total / count, unless the sum overflowed although no term was NaN: the terms of a
    cross-entropy from finite logits are at most 1.8e308 each, so their mean is
    representable, and the sum of the scaled terms is that mean (clamped against its
    last rounding). NaN stays NaN.
    """
    if total - total == 0:
        return total / count
    if total != total:
        return total
    if scaled > DBL_MAX:
        return DBL_MAX
    if scaled < -DBL_MAX:
        return -DBL_MAX
    return scaled


cdef inline double _loss_and_gradient_rows(const floating* y, const floating* p, Py_ssize_t n,
                                   Py_ssize_t m, int kind, floating* out) noexcept nogil:
    """The loss of predictions (or logits) p for targets y, both (n, m) row-major, and,
    unless out is NULL, out := dL/dp (mse) or dL/dz (the cross-entropies, from logits
    z = p), in one pass: the cross-entropies compute each exponential once.

    The cross-entropies are finite for finite logits of any size (targets in [0, 1]):
    no inf * 0, no overflow in their sums; an infinite or NaN logit gives NaN.
    """
    cdef Py_ssize_t i, j
    cdef double total = 0.0, scaled = 0.0, inv, scale, d, z, e, zmax, sum_e, offset, check
    cdef double row, t, yj, ysum
    if kind == MSE:
        scale = 2.0 / (<double>n * <double>m)
        for i in range(n * m):
            d = p[i] - y[i]
            total = _add_square(total, d)
            if out != NULL:
                out[i] = <floating>(scale * d)
        return total / (n * m)
    if kind == SIGMOID_BCE:
        # max(z, 0) - z y + log(1 + e^-|z|); sigmoid(z) from the same e^-|z|
        inv = 1.0 / (<double>n * <double>m)
        for i in range(n * m):
            z = p[i]
            e = _exp_nonpositive(-fabs(z))
            # each term <= |z| + log 2; (z - z): 0 for a finite logit, NaN for an infinite one
            t = (z if z > 0 else 0) - z * y[i] + log1p(e) + (z - z)
            total += t
            scaled += t * inv
            if out != NULL:
                out[i] = <floating>(inv * ((1.0 if z >= 0 else e) / (1.0 + e) - y[i]))
        return _mean_of_terms(total, scaled, n * m)
    inv = 1.0 / <double>n
    for i in range(n):              # SOFTMAX_CCE: sum_j y_j ((zmax - z_j) + log sum_k e^(z_k - zmax))
        zmax = p[i * m]
        for j in range(1, m):
            if p[i * m + j] > zmax:
                zmax = p[i * m + j]
        sum_e, check = 0.0, 0.0
        for j in range(m):
            z = p[i * m + j]
            e = _exp_nonpositive(z - zmax)
            sum_e += e
            check += z - z          # NaN if a logit is infinite or NaN
            if out != NULL:
                out[i * m + j] = <floating>e
        offset = log(sum_e)
        row, ysum = 0.0, 0.0
        for j in range(m):
            yj = y[i * m + j]
            if yj != 0:             # a zero target adds nothing, however far below its logit
                ysum += yj
                d = zmax - p[i * m + j]
                if d - d == 0:
                    row += yj * (d + offset)
                else:               # the gap overflowed (float64 logits 1.8e308 apart)
                    row += (yj * zmax - yj * p[i * m + j]) + yj * offset
        # a row loss beyond the float64 range is reported as the largest float64
        if row > DBL_MAX:
            row = DBL_MAX
        elif row < -DBL_MAX:
            row = -DBL_MAX
        row += check
        total += row
        scaled += row * inv
        if out != NULL:             # (softmax(z) sum_j y_j - y) / n
            for j in range(m):
                out[i * m + j] = <floating>(inv * (out[i * m + j] / sum_e * ysum
                                                    - y[i * m + j]))
    return _mean_of_terms(total, scaled, n)


cdef inline double _loss_rows(const floating* y, const floating* p, Py_ssize_t n,
                              Py_ssize_t m, int kind) noexcept nogil:
    return _loss_and_gradient_rows(y, p, n, m, kind, <floating*>NULL)


cdef double _run_loss(y_true, y_pred, int kind, str pred_name) except? -1.0:
    dt, t, p = _loss_inputs(y_true, y_pred, pred_name)
    cdef double result
    if dt == cnp.NPY_FLOAT32:
        result = _run_loss_typed[float](t, p, kind)
    else:
        result = _run_loss_typed[double](t, p, kind)
    return result


cdef double _run_loss_typed(const floating[:, ::1] y, const floating[:, ::1] p, int kind):
    cdef double result
    with nogil:
        result = _loss_rows(&y[0, 0], &p[0, 0], p.shape[0], p.shape[1], kind)
    return result


cdef object _run_loss_gradient(y_true, y_pred, int kind, str pred_name, out):
    dt, t, p = _loss_inputs(y_true, y_pred, pred_name)
    cdef cnp.ndarray o = _output(out, "out", dt, p.shape[0], p.shape[1], 2, False)
    _check_disjoint(o, "out", t, "y_true", False)
    _check_disjoint(o, "out", p, pred_name, False)
    if dt == cnp.NPY_FLOAT32:
        _run_loss_gradient_typed[float](t, p, kind, o)
    else:
        _run_loss_gradient_typed[double](t, p, kind, o)
    return o


cdef _run_loss_gradient_typed(const floating[:, ::1] y, const floating[:, ::1] p, int kind,
                              floating[:, ::1] out):
    with nogil:
        _loss_and_gradient_rows(&y[0, 0], &p[0, 0], p.shape[0], p.shape[1], kind, &out[0, 0])


def mse_loss(y_true, y_pred):
    """L := mean((y_pred - y_true)^2) over all elements."""
    return _run_loss(y_true, y_pred, MSE, "y_pred")


def mse_gradient(y_true, y_pred, out=None):
    """out := dL/dy_pred = 2 (y_pred - y_true) / y_pred.size."""
    return _run_loss_gradient(y_true, y_pred, MSE, "y_pred", out)


def sigmoid_bce_loss(y_true, z):
    """L := mean(-y log sigmoid(z) - (1-y) log(1-sigmoid(z))) from the logits z.

    Computed as mean(max(z, 0) - z y + log1p(exp(-|z|))): no log(0), no overflow.
    """
    return _run_loss(y_true, z, SIGMOID_BCE, "z")


def sigmoid_bce_gradient(y_true, z, out=None):
    """out := dL/dz = (sigmoid(z) - y) / z.size."""
    return _run_loss_gradient(y_true, z, SIGMOID_BCE, "z", out)


def softmax_cce_loss(y_true, z):
    """L := mean over rows of -sum_j y_j log softmax(z)_j, from the logits z.

    Computed as sum_j y_j (logsumexp(z) - z_j): no log(0), no overflow.
    """
    return _run_loss(y_true, z, SOFTMAX_CCE, "z")


def softmax_cce_gradient(y_true, z, out=None):
    """out := dL/dz = (softmax(z) sum_j y_j - y) / n_samples."""
    return _run_loss_gradient(y_true, z, SOFTMAX_CCE, "z", out)


# --------------------------------------------------------------------------
# Whole networks: the forward pass and training epochs in one call each
# --------------------------------------------------------------------------

include "_optimizers.pxi"
include "_network.pxi"
include "_plan.pxi"
