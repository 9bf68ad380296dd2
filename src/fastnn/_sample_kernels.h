/* One sample through a dense layer, forward and backward with the SGD update.
 *
 * Per-sample training and single-row predictions spend their time here: a
 * 64-32-10 network trains on 5056 multiply-adds per sample, too few for BLAS
 * (its set-up and operand packing cost more than the arithmetic) and too few
 * for row-by-row loops (each row's set-up and remainder cost as much as its
 * vector body). These kernels hold a block of up to eight vectors of outputs
 * (forward) or of the output gradient (the update) in registers over all the
 * rows of W.
 *
 * They compute exactly what the small-matrix kernels of _kernels.pyx compute
 * for one row, in the same order of additions (so results do not depend on
 * the path):
 *   forward   out[j] = ((b[j] + x[0] W[0, j]) + x[1] W[1, j]) + ...
 *   backward  dX[p]  = dz . W[p, :] over eight interleaved partial sums
 *                      ((0 + 4) + (1 + 5)) + ((2 + 6) + (3 + 7)), then the rest
 *                      in order, with W before its update (all of dX first);
 *             W[p, j] = W[p, j] + (-lr x[p]) dz[j];  b[j] = -lr dz[j] + b[j].
 *
 * gcc and clang get vector types of the widest width the build enables (AVX:
 * 32 bytes, else 16); other compilers get the same code with scalars. Every
 * access stays inside its buffer: the last partial block of forward columns
 * is recomputed as the full block that ends at the last column (its overlap
 * gets the same values again), and the backward's remainder is scalar.
 */
#ifndef FASTNN_SAMPLE_KERNELS_H
#define FASTNN_SAMPLE_KERNELS_H

#include <string.h>

#if defined(__GNUC__)
#  if defined(__AVX__)
#    define FNN_VBYTES 32
#  else
#    define FNN_VBYTES 16
#  endif
#  define FNN_SAMPLE_RESTRICT __restrict__
/* unaligned, may alias its element type: how the compilers' own intrinsics headers
   declare their unaligned vector types */
typedef float fnn_vf __attribute__((vector_size(FNN_VBYTES), aligned(4), may_alias));
typedef double fnn_vd __attribute__((vector_size(FNN_VBYTES), aligned(8), may_alias));
#  define FNN_VF fnn_vf
#  define FNN_VD fnn_vd
#  define FNN_LF (FNN_VBYTES / 4)
#  define FNN_LD (FNN_VBYTES / 8)
#else
#  define FNN_SAMPLE_RESTRICT
#  define FNN_VF float
#  define FNN_VD double
#  define FNN_LF 1
#  define FNN_LD 1
#endif
#if defined(__GNUC__) && !defined(__clang__)
#  define FNN_SCALAR_LOOPS __attribute__((optimize("no-tree-vectorize")))
#else
#  define FNN_SCALAR_LOOPS
#endif
#if FNN_LF > 8
#  error "the interleaved dot product assumes at most 8 lanes per vector"
#endif

/* out[0 : NV L] := b + sum over p of x[p] W[p, :], NV vectors held in registers */
#define FNN_FORWARD_BLOCK(T, S, V, L, NV)                                              \
static inline void fnn_forward##NV##_##S(Py_ssize_t k, const T* FNN_SAMPLE_RESTRICT x, \
        const T* FNN_SAMPLE_RESTRICT W, Py_ssize_t ldw, const T* FNN_SAMPLE_RESTRICT b,  \
        T* FNN_SAMPLE_RESTRICT out) {                                                  \
    V acc[NV];                                                                         \
    Py_ssize_t p;                                                                      \
    int v;                                                                             \
    for (v = 0; v < NV; v++)                                                           \
        acc[v] = *(const V*)(b + v * L);                                               \
    for (p = 0; p < k; p++) {                                                          \
        const T xp = x[p];                                                             \
        const T* w = W + p * ldw;                                                      \
        for (v = 0; v < NV; v++)                                                       \
            acc[v] = acc[v] + xp * *(const V*)(w + v * L);                             \
    }                                                                                  \
    for (v = 0; v < NV; v++)                                                           \
        *(V*)(out + v * L) = acc[v];                                                   \
}

/* W[:, 0 : NV L] += (-lr x) dz[0 : NV L] (outer product), dz held in registers */    \
#define FNN_UPDATE_BLOCK(T, S, V, L, NV)                                               \
static inline void fnn_update##NV##_##S(Py_ssize_t k, const T* FNN_SAMPLE_RESTRICT x,  \
        T lr, const T* FNN_SAMPLE_RESTRICT dz, T* FNN_SAMPLE_RESTRICT W, Py_ssize_t ldw) { \
    V d[NV];                                                                           \
    Py_ssize_t p;                                                                      \
    int v;                                                                             \
    for (v = 0; v < NV; v++)                                                           \
        d[v] = *(const V*)(dz + v * L);                                                \
    for (p = 0; p < k; p++) {                                                          \
        const T a = -lr * x[p];                                                        \
        T* w = W + p * ldw;                                                            \
        for (v = 0; v < NV; v++)                                                       \
            *(V*)(w + v * L) = *(V*)(w + v * L) + a * d[v];                            \
    }                                                                                  \
}

#define FNN_SAMPLE_KERNELS(T, S, V, L)                                                 \
FNN_FORWARD_BLOCK(T, S, V, L, 8)                                                       \
FNN_FORWARD_BLOCK(T, S, V, L, 4)                                                       \
FNN_FORWARD_BLOCK(T, S, V, L, 2)                                                       \
FNN_FORWARD_BLOCK(T, S, V, L, 1)                                                       \
FNN_UPDATE_BLOCK(T, S, V, L, 8)                                                        \
FNN_UPDATE_BLOCK(T, S, V, L, 4)                                                        \
FNN_UPDATE_BLOCK(T, S, V, L, 2)                                                        \
FNN_UPDATE_BLOCK(T, S, V, L, 1)                                                        \
                                                                                       \
/* out := b + x W for one sample x (k), W (k x n) row-major */                         \
static void fnn_sample_forward_##S(Py_ssize_t k, Py_ssize_t n, const T* x, const T* W, \
                                   const T* b, T* out) {                               \
    Py_ssize_t j = 0, p;                                                               \
    if (n < L) {    /* row by row, as the small kernels: a loop over p per column      \
                       would be vectorised as an in-order sum of rounded products */   \
        T acc[L];                                                                      \
        for (j = 0; j < n; j++)                                                        \
            acc[j] = b[j];                                                             \
        for (p = 0; p < k; p++)                                                        \
            for (j = 0; j < n; j++)                                                    \
                acc[j] = acc[j] + x[p] * W[p * n + j];                                 \
        for (j = 0; j < n; j++)                                                        \
            out[j] = acc[j];                                                           \
        return;                                                                        \
    }                                                                                  \
    for (; j + 8 * L <= n; j += 8 * L)                                                 \
        fnn_forward8_##S(k, x, W + j, n, b + j, out + j);                              \
    if (j + 4 * L <= n) {                                                              \
        fnn_forward4_##S(k, x, W + j, n, b + j, out + j);                              \
        j += 4 * L;                                                                    \
    }                                                                                  \
    if (j + 2 * L <= n) {                                                              \
        fnn_forward2_##S(k, x, W + j, n, b + j, out + j);                              \
        j += 2 * L;                                                                    \
    }                                                                                  \
    if (j + L <= n) {                                                                  \
        fnn_forward1_##S(k, x, W + j, n, b + j, out + j);                              \
        j += L;                                                                        \
    }                                                                                  \
    if (j < n)      /* the last L columns, again in part: the same values */           \
        fnn_forward1_##S(k, x, W + n - L, n, b + n - L, out + n - L);                  \
}                                                                                      \
                                                                                       \
/* x . y as _small_dot in _kernels.pyx: eight interleaved partial sums, then in order */ \
static inline T fnn_dot8_##S(const T* FNN_SAMPLE_RESTRICT x,                           \
                             const T* FNN_SAMPLE_RESTRICT y, Py_ssize_t k) {           \
    Py_ssize_t p = 0;                                                                  \
    T s = 0;                                                                           \
    if (k >= 8) {                                                                      \
        V part[8 / L];                                                                 \
        T lane[8];                                                                     \
        int v;                                                                         \
        for (v = 0; v < 8 / L; v++)                                                    \
            part[v] = *(const V*)(x + v * L) * *(const V*)(y + v * L);                 \
        for (p = 8; p + 8 <= k; p += 8)                                                \
            for (v = 0; v < 8 / L; v++)                                                \
                part[v] = part[v] + *(const V*)(x + p + v * L) * *(const V*)(y + p + v * L); \
        memcpy(lane, part, sizeof lane);                                               \
        s = ((lane[0] + lane[4]) + (lane[1] + lane[5]))                                \
            + ((lane[2] + lane[6]) + (lane[3] + lane[7]));                             \
    }                                                                                  \
    for (; p < k; p++)                                                                 \
        s = s + x[p] * y[p];                                                           \
    return s;                                                                          \
}                                                                                      \
                                                                                       \
/* dX := dz W.T (unless dX is NULL), W -= lr x.T dz, b -= lr dz, for one sample:     \
   first every dX[p] (W read only), then the update by blocks of columns, whose      \
   dz stays in registers over all rows */                                            \
static void fnn_sample_backward_sgd_##S(Py_ssize_t k, Py_ssize_t n,                    \
        const T* FNN_SAMPLE_RESTRICT x, const T* FNN_SAMPLE_RESTRICT dz, T lr,        \
        T* FNN_SAMPLE_RESTRICT W, T* FNN_SAMPLE_RESTRICT b, T* FNN_SAMPLE_RESTRICT dX) { \
    Py_ssize_t p, j = 0, i;                                                            \
    if (dX != NULL)                                                                    \
        for (p = 0; p < k; p++)                                                        \
            dX[p] = fnn_dot8_##S(dz, W + p * n, n);                                    \
    for (; j + 8 * L <= n; j += 8 * L)                                                 \
        fnn_update8_##S(k, x, lr, dz + j, W + j, n);                                   \
    if (j + 4 * L <= n) {                                                              \
        fnn_update4_##S(k, x, lr, dz + j, W + j, n);                                   \
        j += 4 * L;                                                                    \
    }                                                                                  \
    if (j + 2 * L <= n) {                                                              \
        fnn_update2_##S(k, x, lr, dz + j, W + j, n);                                   \
        j += 2 * L;                                                                    \
    }                                                                                  \
    if (j + L <= n) {                                                                  \
        fnn_update1_##S(k, x, lr, dz + j, W + j, n);                                   \
        j += L;                                                                        \
    }                                                                                  \
    if (j < n)                                                                         \
        for (p = 0; p < k; p++) {                                                      \
            const T a = -lr * x[p];                                                    \
            for (i = j; i < n; i++)                                                    \
                W[p * n + i] = W[p * n + i] + a * dz[i];                               \
        }                                                                              \
    for (j = 0; j < n; j++)                                                            \
        b[j] = -lr * dz[j] + b[j];                                                     \
}                                                                                      \
                                                                                       \
/* Tiny layers (fewer than 100 multiply-adds, the seed network's 2x2), one sample:  \
   plain loops, kept scalar (gcc would vectorise them with set-up and epilogues that \
   cost more than the arithmetic), with the bias added last as in the general loops */ \
static FNN_SCALAR_LOOPS void fnn_tiny_forward_##S(Py_ssize_t k, Py_ssize_t n,         \
        const T* x, const T* W, const T* b, T* out) {                                 \
    Py_ssize_t j, p;                                                                   \
    for (j = 0; j < n; j++) {                                                          \
        T s = 0;                                                                       \
        for (p = 0; p < k; p++)                                                        \
            s = s + x[p] * W[p * n + j];                                               \
        out[j] = s + b[j];                                                             \
    }                                                                                  \
}                                                                                      \
                                                                                       \
/* row p of W gives dX[p] (unless dX is NULL), then takes its update */                \
static FNN_SCALAR_LOOPS void fnn_tiny_backward_sgd_##S(Py_ssize_t k, Py_ssize_t n,    \
        const T* x, const T* dz, T lr, T* W, T* b, T* dX) {                           \
    Py_ssize_t j, p;                                                                   \
    for (p = 0; p < k; p++) {                                                          \
        if (dX != NULL) {                                                              \
            T s = 0;                                                                   \
            for (j = 0; j < n; j++)                                                    \
                s = s + dz[j] * W[p * n + j];                                          \
            dX[p] = s;                                                                 \
        }                                                                              \
        const T xp = x[p];                                                             \
        for (j = 0; j < n; j++)                                                        \
            W[p * n + j] = -lr * (xp * dz[j]) + W[p * n + j];                          \
    }                                                                                  \
    for (j = 0; j < n; j++)                                                            \
        b[j] = -lr * dz[j] + b[j];                                                     \
}

FNN_SAMPLE_KERNELS(float, f, FNN_VF, FNN_LF)
FNN_SAMPLE_KERNELS(double, d, FNN_VD, FNN_LD)

#endif
