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
 * They add in the order of the small-matrix kernels of _kernels.pyx for one
 * row (the forward pass and the update give the same numbers bit for bit):
 *   forward   out[j] = ((b[j] + x[0] W[0, j]) + x[1] W[1, j]) + ...
 *   backward  dX[p]  = dz . W[p, :] over eight interleaved partial sums
 *                      ((0 + 4) + (1 + 5)) + ((2 + 6) + (3 + 7)), then the rest
 *                      in order, each a fused multiply-add where the build has
 *                      them, with W before its update (all of dX first);
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

#include "_activations.h"

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
#  define FNN_LANE(part, q, L) (part)[(q) / (L)][(q) % (L)]
#else
#  define FNN_SAMPLE_RESTRICT
#  define FNN_VF float
#  define FNN_VD double
#  define FNN_LF 1
#  define FNN_LD 1
#  define FNN_LANE(part, q, L) (part)[q]
#endif
#if defined(__GNUC__) && !defined(__clang__)
#  define FNN_SCALAR_LOOPS __attribute__((optimize("no-tree-vectorize")))
#else
#  define FNN_SCALAR_LOOPS
#endif
#if FNN_LF > 8
#  error "the interleaved dot product assumes at most 8 lanes per vector"
#endif

/* v as computed, rounded: the compiler may not fuse the multiplication that made it
   into a later addition. Which of two products a + b gets fused is the compiler's
   choice; the dot products below fix it, so that rows computed one by one and four
   at a time (x86-64 only) agree bit for bit. */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#  define FNN_ROUNDED(v) __asm__("" : "+x"(v))     /* v is in an SSE/AVX register */
#else
#  define FNN_ROUNDED(v) ((void)0)
#endif

/* total + d^2, the square rounded before it is added (never fused): the mse loss's
   terms, the same in the small networks' run (below) and in _kernels.pyx's loss rows,
   whichever of its loops gcc vectorises */
static inline double fnn_add_square(double total, double d) {
    double square = d * d;
    FNN_ROUNDED(square);
    return total + square;
}

#define FNN_TERM(i) if (p + (i) < k) s = s + x[p + (i)] * y[p + (i)];

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

/* W[:, 0 : NV L] += (-lr x) dz (as fnn_update), and z[0 : NV L] := b + xn W with each   \
   row of W as just updated (as fnn_forward): one pass over W for the update of one     \
   sample and the first layer of the next. b must already be updated. */              \
#define FNN_UPDATE_FORWARD_BLOCK(T, S, V, L, NV)                                       \
static inline void fnn_update_forward##NV##_##S(Py_ssize_t k,                          \
        const T* FNN_SAMPLE_RESTRICT x, T lr, const T* FNN_SAMPLE_RESTRICT dz,         \
        T* FNN_SAMPLE_RESTRICT W, Py_ssize_t ldw, const T* FNN_SAMPLE_RESTRICT xn,     \
        const T* FNN_SAMPLE_RESTRICT b, T* FNN_SAMPLE_RESTRICT z) {                    \
    V d[NV], acc[NV], w;                                                               \
    Py_ssize_t p;                                                                      \
    int v;                                                                             \
    for (v = 0; v < NV; v++) {                                                         \
        d[v] = *(const V*)(dz + v * L);                                                \
        acc[v] = *(const V*)(b + v * L);                                               \
    }                                                                                  \
    for (p = 0; p < k; p++) {                                                          \
        const T a = -lr * x[p];                                                        \
        const T xp = xn[p];                                                            \
        T* row = W + p * ldw;                                                          \
        for (v = 0; v < NV; v++) {                                                     \
            w = *(V*)(row + v * L) + a * d[v];                                         \
            *(V*)(row + v * L) = w;                                                    \
            acc[v] = acc[v] + xp * w;                                                  \
        }                                                                              \
    }                                                                                  \
    for (v = 0; v < NV; v++)                                                           \
        *(V*)(z + v * L) = acc[v];                                                     \
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
FNN_UPDATE_FORWARD_BLOCK(T, S, V, L, 4)                                                \
FNN_UPDATE_FORWARD_BLOCK(T, S, V, L, 2)                                                \
FNN_UPDATE_FORWARD_BLOCK(T, S, V, L, 1)                                                \
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
/* x . y: eight interleaved partial sums, then the rest in order */                    \
static inline T fnn_dot8_##S(const T* FNN_SAMPLE_RESTRICT x,                           \
                             const T* FNN_SAMPLE_RESTRICT y, Py_ssize_t k) {           \
    Py_ssize_t p = 0;                                                                  \
    T s = 0;                                                                           \
    if (k >= 8) {                                                                      \
        V part[8 / L];                                                                 \
        int v;                                                                         \
        for (v = 0; v < 8 / L; v++) {                                                  \
            part[v] = *(const V*)(x + v * L) * *(const V*)(y + v * L);                 \
            FNN_ROUNDED(part[v]);                                                      \
        }                                                                              \
        for (p = 8; p + 8 <= k; p += 8)                                                \
            for (v = 0; v < 8 / L; v++)                                                \
                part[v] = part[v] + *(const V*)(x + p + v * L) * *(const V*)(y + p + v * L); \
        /* lane q of the eight partial sums is FNN_LANE(part, q, L): in registers,     \
           not through memory (a store and eight loads per row) */                     \
        s = ((FNN_LANE(part, 0, L) + FNN_LANE(part, 4, L))                             \
             + (FNN_LANE(part, 1, L) + FNN_LANE(part, 5, L)))                          \
            + ((FNN_LANE(part, 2, L) + FNN_LANE(part, 6, L))                           \
               + (FNN_LANE(part, 3, L) + FNN_LANE(part, 7, L)));                       \
    }                                                                                  \
    /* the last k - p < 8 terms in order, one fused multiply-add each: written out,    \
       as a loop gcc would sum them in order but with the products rounded first */    \
    FNN_TERM(0) FNN_TERM(1) FNN_TERM(2) FNN_TERM(3) FNN_TERM(4) FNN_TERM(5) FNN_TERM(6) \
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
        for (p = fnn_dots_by_four_##S(k, n, dz, W, dX); p < k; p++)                    \
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
/* The first layer's SGD update for sample x (no dX), then z := b + xn W, the next      \
   sample's first-layer pre-activation, with W and b updated: the same numbers as       \
   fnn_sample_backward_sgd then fnn_sample_forward, in one pass over W (the update is    \
   bound by its stores; the forward pass's multiply-adds ride along). Blocks of at     \
   most 4 vectors: dz, the outputs and the row being updated share the registers. */   \
static void fnn_sample_update_forward_##S(Py_ssize_t k, Py_ssize_t n,                  \
        const T* FNN_SAMPLE_RESTRICT x, const T* FNN_SAMPLE_RESTRICT dz, T lr,        \
        T* FNN_SAMPLE_RESTRICT W, T* FNN_SAMPLE_RESTRICT b,                            \
        const T* FNN_SAMPLE_RESTRICT xn, T* FNN_SAMPLE_RESTRICT z) {                   \
    Py_ssize_t p, j = 0, i;                                                            \
    for (i = 0; i < n; i++)                                                            \
        b[i] = -lr * dz[i] + b[i];                                                     \
    for (; j + 4 * L <= n; j += 4 * L)                                                 \
        fnn_update_forward4_##S(k, x, lr, dz + j, W + j, n, xn, b + j, z + j);         \
    if (j + 2 * L <= n) {                                                              \
        fnn_update_forward2_##S(k, x, lr, dz + j, W + j, n, xn, b + j, z + j);         \
        j += 2 * L;                                                                    \
    }                                                                                  \
    if (j + L <= n) {                                                                  \
        fnn_update_forward1_##S(k, x, lr, dz + j, W + j, n, xn, b + j, z + j);         \
        j += L;                                                                        \
    }                                                                                  \
    if (j < n) {    /* the last columns: updated, then their outputs computed */        \
        for (p = 0; p < k; p++) {                                                      \
            const T a = -lr * x[p];                                                    \
            for (i = j; i < n; i++)                                                    \
                W[p * n + i] = W[p * n + i] + a * dz[i];                               \
        }                                                                              \
        if (n >= L)                                                                    \
            fnn_forward1_##S(k, xn, W + n - L, n, b + n - L, z + n - L);               \
        else                                                                           \
            fnn_sample_forward_##S(k, n, xn, W, b, z);                                 \
    }                                                                                  \
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

/* dX[p] = dz . W[p, :] for rows in fours, as fnn_dot8 computes them one by one; returns
   the rows done. With 4-lane double vectors (gcc, AVX) the last additions of four rows
   are done together by shuffles: per row, the lanes of lo + hi are (l0 + l4, l1 + l5,
   l2 + l6, l3 + l7); pairwise sums of neighbours, then of the halves, give
   ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7)) for each row in one vector. The
   rest of each row, in order, is added lane by lane. float (8 lanes per vector) adds
   the halves first, then finishes the same way. Elsewhere: no rows (0). */
#if defined(__GNUC__) && !defined(__clang__) && FNN_VBYTES == 32
typedef float fnn_vf4 __attribute__((vector_size(16), aligned(4), may_alias));
typedef int fnn_vmask_f __attribute__((vector_size(16)));
typedef fnn_vd fnn_vd4;
typedef long long fnn_vmask_d __attribute__((vector_size(32)));

/* One row's eight partial sums folded to four lanes, (l0 + l4, l1 + l5, l2 + l6, l3 + l7),
   n >= 8; *j: where the rest of the row starts. float keeps the eight lanes in one vector,
   double in two (lo, hi). */
static inline fnn_vf4 fnn_row_sums_f(const float* FNN_SAMPLE_RESTRICT dz,
                                     const float* FNN_SAMPLE_RESTRICT row, Py_ssize_t n,
                                     Py_ssize_t* j) {
    fnn_vf part = *(const fnn_vf*)dz * *(const fnn_vf*)row;
    FNN_ROUNDED(part);
    for (*j = 8; *j + 8 <= n; *j += 8)
        part = part + *(const fnn_vf*)(dz + *j) * *(const fnn_vf*)(row + *j);
    fnn_vf4 lo = {part[0], part[1], part[2], part[3]};
    fnn_vf4 hi = {part[4], part[5], part[6], part[7]};
    return lo + hi;
}

static inline fnn_vd4 fnn_row_sums_d(const double* FNN_SAMPLE_RESTRICT dz,
                                     const double* FNN_SAMPLE_RESTRICT row, Py_ssize_t n,
                                     Py_ssize_t* j) {
    fnn_vd lo = *(const fnn_vd*)dz * *(const fnn_vd*)row;
    fnn_vd hi = *(const fnn_vd*)(dz + 4) * *(const fnn_vd*)(row + 4);
    FNN_ROUNDED(lo);
    FNN_ROUNDED(hi);
    for (*j = 8; *j + 8 <= n; *j += 8) {
        lo = lo + *(const fnn_vd*)(dz + *j) * *(const fnn_vd*)(row + *j);
        hi = hi + *(const fnn_vd*)(dz + *j + 4) * *(const fnn_vd*)(row + *j + 4);
    }
    return lo + hi;
}

#define FNN_DOTS_BY_FOUR(T, S)                                                         \
static inline Py_ssize_t fnn_dots_by_four_##S(Py_ssize_t k, Py_ssize_t n,              \
        const T* FNN_SAMPLE_RESTRICT dz, const T* FNN_SAMPLE_RESTRICT W,               \
        T* FNN_SAMPLE_RESTRICT dX) {                                                   \
    Py_ssize_t p, j;                                                                   \
    for (p = 0; p + 4 <= k; p += 4) {                                                  \
        const T* w = W + p * n;                                                        \
        fnn_v##S##4 s = {0, 0, 0, 0};                                                  \
        j = 0;                                                                         \
        if (n >= 8) {                                                                  \
            fnn_v##S##4 v[4], t01, t23;                                                \
            int r;                                                                     \
            for (r = 0; r < 4; r++)                                                    \
                v[r] = fnn_row_sums_##S(dz, w + r * n, n, &j);                         \
            /* (a0 + a1, b0 + b1, a2 + a3, b2 + b3), and the same for rows c, d */     \
            t01 = __builtin_shuffle(v[0], v[1], (fnn_vmask_##S){0, 4, 2, 6})           \
                  + __builtin_shuffle(v[0], v[1], (fnn_vmask_##S){1, 5, 3, 7});        \
            t23 = __builtin_shuffle(v[2], v[3], (fnn_vmask_##S){0, 4, 2, 6})           \
                  + __builtin_shuffle(v[2], v[3], (fnn_vmask_##S){1, 5, 3, 7});        \
            s = __builtin_shuffle(t01, t23, (fnn_vmask_##S){0, 1, 4, 5})               \
                + __builtin_shuffle(t01, t23, (fnn_vmask_##S){2, 3, 6, 7});            \
        }                                                                              \
        for (; j < n; j++) {                                                           \
            fnn_v##S##4 column = {w[j], w[n + j], w[2 * n + j], w[3 * n + j]};         \
            s = s + dz[j] * column;                                                    \
        }                                                                              \
        *(fnn_v##S##4*)(dX + p) = s;                                                   \
    }                                                                                  \
    return p;                                                                          \
}
#else
#define FNN_DOTS_BY_FOUR(T, S)                                                         \
static inline Py_ssize_t fnn_dots_by_four_##S(Py_ssize_t k, Py_ssize_t n, const T* dz, \
                                              const T* W, T* dX) {                     \
    (void)k; (void)n; (void)dz; (void)W; (void)dX;                                     \
    return 0;                                                                          \
}
#endif

FNN_DOTS_BY_FOUR(float, f)
FNN_DOTS_BY_FOUR(double, d)

FNN_SAMPLE_KERNELS(float, f, FNN_VF, FNN_LF)
FNN_SAMPLE_KERNELS(double, d, FNN_VD, FNN_LD)

/* Per-sample SGD through a network of two layers at most FNN_SMALL_WIDTH wide (k0 -> k1
 * -> k2, the seed network's 2-2-1) with the mse loss, its weights and biases held in
 * vector registers from the first sample to the last, across epochs: a step is one
 * chain of dependent operations (forward, loss, backward, update, the next forward),
 * and values that go through memory between kernels or epochs lengthen it.
 *
 * Row p of a layer's W is a vector over its outputs j, zero past the layer's width (and
 * rows past its inputs are zero); so is b. The loss gradient is zero past the output
 * width, so those lanes of every W and b stay zero, and a lane past a width is never
 * read into one within it. The arithmetic of the tiny kernels above (fnn_tiny_forward,
 * fnn_tiny_backward_sgd), the activations of _activations.h and the mse loss and
 * gradient of _kernels.pyx, in the same order, with one exception: the first-layer
 * pre-activation of each sample after the first of a call and epoch is computed during
 * the step before, from W1 and b1 before that step's update, as (W1 x' + b1) - lr (x .
 * x' + 1) dz1 (= W1' x' + b1' with W1' = W1 - lr x dz1, b1' = b1 - lr dz1): one
 * multiply-add after dz1 instead of the update, a dot product and the bias (the seed
 * network's update: 59 -> 52 ns on Zen 5). The same values up to rounding; an epoch's
 * first sample is computed directly, so results do not depend on how a fit's epochs are
 * split in calls.
 *
 * params: W1 (k0 x k1), b1, W2 (k1 x k2), b2, consecutive (fastnn's layout). X (k0
 * wide) and Y (k2 wide) hold n samples; epoch e visits rows order[e n + i] (or i without
 * an order). Runs samples first .. first + count - 1 of the epoch under way, adding their
 * losses to *total in order. When they end it (first + count == n), the epoch's loss
 * *total / n goes to losses[0]; an epoch whose loss and parameters are all finite is
 * kept: saved receives its parameters. Then, until `epochs` epochs have ended, or one is
 * not kept or its loss is below target, whole epochs follow (their losses in losses[1],
 * ...), *total restarting from 0. Returns the epochs ended; *total: the last one's (or
 * the unfinished epoch's) loss so far; *finite: whether every parameter is finite at
 * the end.
 *
 * The copy and the check are made from registers: the caller's own, at the start of
 * the next epoch, read memory that scalar stores had just written, in wider loads,
 * which wait for the stores to complete (40-55 ns per epoch on Zen 5). gcc and clang
 * only (FNN_HAVE_V4). */
#define FNN_SMALL_WIDTH 4
#if FNN_HAVE_V4
/* the registers back into fastnn's layout at dst (W1, b1, W2, b2) */
#define FNN_SMALL_STORE(dst, W1, W2, b1, b2)                                           \
    for (p = 0; p < FNN_SMALL_WIDTH; p++) {                                            \
        for (j = 0; j < FNN_SMALL_WIDTH; j++) {                                        \
            if (p < k0 && j < k1)                                                      \
                (dst)[p * k1 + j] = (W1)[p][j];                                        \
            if (p < k1 && j < k2)                                                      \
                (dst)[W2p - W1p + p * k2 + j] = (W2)[p][j];                            \
        }                                                                              \
        if (p < k1)                                                                    \
            (dst)[b1p - W1p + p] = (b1)[p];                                            \
        if (p < k2)                                                                    \
            (dst)[b2p - W1p + p] = (b2)[p];                                            \
    }

/* the first layer's pre-activation of input row x: ((0 + x[0] W1[0]) + x[1] W1[1] + ...)
   + b1, the order of fnn_tiny_forward (a statement expression: gcc and clang) */
#define FNN_SMALL_FIRST_LAYER(x) ({                                                     \
    __typeof__(b1) z_ = {0, 0, 0, 0};                                                  \
    for (p = 0; p < FNN_SMALL_WIDTH; p++)                                              \
        if (p < k0)                                                                    \
            z_ = z_ + (x)[p] * W1[p];                                                  \
    z_ + b1; })

#define FNN_SMALL_SGD(T, S, V, M)                                                      \
static Py_ssize_t fnn_small_sgd_##S(Py_ssize_t k0, Py_ssize_t k1, Py_ssize_t k2,       \
        int act1, int act2, T lr, T* params, const T* X, const T* Y, Py_ssize_t n,     \
        const long long* order, Py_ssize_t first, Py_ssize_t count, Py_ssize_t epochs, \
        double target, double* total, double* losses, T* saved, int* finite) {         \
    T* W1p = params;                                                                   \
    T* b1p = W1p + k0 * k1;                                                            \
    T* W2p = b1p + k1;                                                                 \
    T* b2p = W2p + k1 * k2;                                                            \
    V W1[FNN_SMALL_WIDTH], W2[FNN_SMALL_WIDTH], b1, b2, yv, z, a1, a2, g, g1, dz1, dz2; \
    V kept_W1[FNN_SMALL_WIDTH], kept_W2[FNN_SMALL_WIDTH], kept_b1, kept_b2;            \
    M mask1, mask2, acc;                                                               \
    int kept = 0, finite_now = 1;                                                      \
    V z1 = fnn_splat_##S(0.0), z1_next = z1, base = z1;                                \
    fnn_v4d d, scale_v;                                                                \
    const double scale = 2.0 / (1.0 * (double)k2);     /* the mse gradient's */        \
    const T nlr = -lr;                                                                 \
    T c = 0;                                                                           \
    Py_ssize_t i, j, p, ended = 0, next;                                               \
    int have_next = 0;                                                                 \
    double sum = *total, epoch_loss;                                                   \
    for (p = 0; p < FNN_SMALL_WIDTH; p++) {                                            \
        for (j = 0; j < FNN_SMALL_WIDTH; j++) {                                        \
            W1[p][j] = p < k0 && j < k1 ? W1p[p * k1 + j] : 0;                         \
            W2[p][j] = p < k1 && j < k2 ? W2p[p * k2 + j] : 0;                         \
        }                                                                              \
        b1[p] = p < k1 ? b1p[p] : 0;                                                   \
        b2[p] = p < k2 ? b2p[p] : 0;                                                   \
        scale_v[p] = p < k2 ? scale : 0;                                               \
        mask1[p] = p < k1 ? -1 : 0;                                                    \
        mask2[p] = p < k2 ? -1 : 0;                                                    \
    }                                                                                  \
    for (;;) {                                                                         \
        for (i = first; i < first + count; i++) {                                      \
            const Py_ssize_t row = order != NULL ? (Py_ssize_t)order[ended * n + i] : i; \
            const T* x = X + row * k0;                                                 \
            const T* y = Y + row * k2;                                                 \
            const T* xn;                                                               \
            double loss = 0.0;                                                         \
            /* forward: z1 = ((0 + x[0] W[0]) + x[1] W[1] + ...) + b, or as the last     \
               step left it */                                                         \
            z1 = have_next ? z1_next : FNN_SMALL_FIRST_LAYER(x);                       \
            /* the next sample's in this call and epoch, if any: its z1 with W1 and b1  \
               before this step's update, and the update's share. (Each epoch starts    \
               afresh: results do not depend on how a fit's epochs are split in calls.) */ \
            have_next = i + 1 < first + count;                                         \
            if (have_next) {                                                           \
                next = order != NULL ? (Py_ssize_t)order[ended * n + i + 1] : i + 1;   \
                xn = X + next * k0;                                                    \
                base = FNN_SMALL_FIRST_LAYER(xn);                                      \
                c = 0;                                                                 \
                for (p = 0; p < FNN_SMALL_WIDTH; p++)                                  \
                    if (p < k0)                                                        \
                        c = c + xn[p] * x[p];                                          \
                c = lr * (c + 1);                                                      \
            }                                                                          \
            a1 = fnn_activation_##S(z1, act1);                                         \
            z = fnn_splat_##S(0.0);                                                    \
            for (p = 0; p < FNN_SMALL_WIDTH; p++)                                      \
                if (p < k1)                                                            \
                    z = z + a1[p] * W2[p];                                             \
            a2 = fnn_activation_##S(z + b2, act2);                                     \
            /* the mse loss and its gradient, 2 (a - y) / k2 */                        \
            for (j = 0; j < FNN_SMALL_WIDTH; j++)                                      \
                yv[j] = j < k2 ? y[j] : 0;                                             \
            d = fnn_to_d_##S(a2 - yv);                  /* (in T, as _kernels.pyx) */  \
            for (j = 0; j < FNN_SMALL_WIDTH; j++)                                      \
                if (j < k2)                                                            \
                    loss = fnn_add_square(loss, d[j]);                                 \
            sum = sum + loss / (double)k2;                                             \
            g = fnn_from_d_##S(scale_v * d);                                           \
            dz2 = fnn_derivative_##S(a2, g, act2);                                     \
            /* backward: g1[p] = (0 + dz2[0] W2[p, 0]) + dz2[1] W2[p, 1] + ..., with W2  \
               before its update; then W2 and b2 */                                    \
            g1 = fnn_splat_##S(0.0);                                                   \
            for (j = 0; j < FNN_SMALL_WIDTH; j++) {                                    \
                if (j < k2) {                                                          \
                    V column = {W2[0][j], W2[1][j], W2[2][j], W2[3][j]};               \
                    g1 = g1 + dz2[j] * column;                                         \
                }                                                                      \
            }                                                                          \
            for (p = 0; p < FNN_SMALL_WIDTH; p++)                                      \
                if (p < k1)                                                            \
                    W2[p] = nlr * (a1[p] * dz2) + W2[p];                               \
            b2 = nlr * dz2 + b2;                                                       \
            dz1 = fnn_derivative_##S(a1, g1, act1);                                    \
            for (p = 0; p < FNN_SMALL_WIDTH; p++)                                      \
                if (p < k0)                                                            \
                    W1[p] = nlr * (x[p] * dz1) + W1[p];                                \
            b1 = nlr * dz1 + b1;                                                       \
            /* the next z1 = W1' xn + b1' with W1' = W1 - lr x dz1 and b1' = b1 - lr dz1:  \
               (W1 xn + b1) - lr (x . xn + 1) dz1, a step's longest chain shortened */  \
            z1_next = base - c * dz1;                                                  \
        }                                                                              \
        /* every parameter finite? x - x is +0 (no bit set) for finite x, NaN for NaN   \
           and +-inf; lanes past a width are masked off */                             \
        acc = (M)(b1 - b1) & mask1;                                                    \
        acc = acc | ((M)(b2 - b2) & mask2);                                            \
        for (p = 0; p < FNN_SMALL_WIDTH; p++) {                                        \
            if (p < k0)                                                                \
                acc = acc | ((M)(W1[p] - W1[p]) & mask1);                              \
            if (p < k1)                                                                \
                acc = acc | ((M)(W2[p] - W2[p]) & mask2);                              \
        }                                                                              \
        finite_now = (acc[0] | acc[1] | acc[2] | acc[3]) == 0;                         \
        if (first + count < n)          /* the epoch goes on */                        \
            break;                                                                     \
        epoch_loss = sum / (double)n;                                                  \
        losses[ended++] = epoch_loss;                                                  \
        if (!(finite_now && epoch_loss - epoch_loss == 0))                             \
            break;                      /* not kept: the caller restores saved */      \
        for (p = 0; p < FNN_SMALL_WIDTH; p++) {     /* kept: copied (to saved at the end) */ \
            kept_W1[p] = W1[p];                                                        \
            kept_W2[p] = W2[p];                                                        \
        }                                                                              \
        kept_b1 = b1;                                                                  \
        kept_b2 = b2;                                                                  \
        kept = 1;                                                                      \
        if (ended == epochs || epoch_loss < target)                                    \
            break;                                                                     \
        sum = 0.0;                                                                     \
        first = 0;                                                                     \
        count = n;                                                                     \
    }                                                                                  \
    FNN_SMALL_STORE(params, W1, W2, b1, b2);                                           \
    if (kept)                                                                          \
        FNN_SMALL_STORE(saved, kept_W1, kept_W2, kept_b1, kept_b2);                    \
    *total = sum;                                                                      \
    *finite = finite_now;                                                              \
    return ended;                                                                      \
}

FNN_SMALL_SGD(float, v4f, fnn_v4f, fnn_v4mf)
FNN_SMALL_SGD(double, v4d, fnn_v4d, fnn_v4md)
#else
/* never called: _train_typed takes these only where FNN_HAVE_V4 */
#define FNN_SMALL_SGD(T, S)                                                            \
static Py_ssize_t fnn_small_sgd_##S(Py_ssize_t k0, Py_ssize_t k1, Py_ssize_t k2,       \
        int act1, int act2, T lr, T* params, const T* X, const T* Y, Py_ssize_t n,     \
        const long long* order, Py_ssize_t first, Py_ssize_t count, Py_ssize_t epochs, \
        double target, double* total, double* losses, T* saved, int* finite) {         \
    (void)k0; (void)k1; (void)k2; (void)act1; (void)act2; (void)lr; (void)params;      \
    (void)X; (void)Y; (void)n; (void)order; (void)first; (void)count; (void)epochs;    \
    (void)target; (void)total; (void)losses; (void)saved;                              \
    *finite = 0;                                                                       \
    return 0;                                                                          \
}
FNN_SMALL_SGD(float, v4f)
FNN_SMALL_SGD(double, v4d)
#endif

#endif
