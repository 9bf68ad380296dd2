/* Each activation and its derivative for one value, written once for four kinds of
 * operand:
 *   f, d      a float or a double: the row loops of _kernels.pyx call these with a
 *             constant activation, and gcc vectorises the loops;
 *   v4f, v4d  a vector of 4 floats or 4 doubles (gcc and clang only): the step of small
 *             networks whose values stay in registers (_sample_kernels.h).
 * The same expressions in the same order for every kind, so a value gets the same
 * result bit for bit in each.
 *
 * exp(x) and expm1(x) for x <= 0 are written here rather than taken from libm (a call
 * per element, which blocks vectorisation): x = n ln2 + r with |r| <= ln2/2; e^r - 1 by
 * its Taylor series to r^13 (truncation < 1e-17), evaluated in Estrin's scheme (a short
 * dependency chain: the loops are latency-bound otherwise); 2^n is built in the
 * exponent bits. Within a few ulp of libm. Below -708 exp returns 0 (libm: subnormals,
 * all < 3.3e-308) and expm1 returns -1. NaN in, NaN out. sigmoid and tanh call them
 * with -|z| only, so that nothing overflows; float values are computed in double.
 */
#ifndef FASTNN_ACTIVATIONS_H
#define FASTNN_ACTIVATIONS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* the activation codes (_kernels.pyx names them) */
enum {
    FNN_IDENTITY = 0, FNN_SIGMOID = 1, FNN_TANH = 2, FNN_RELU = 3, FNN_LEAKY_RELU = 4,
    FNN_SOFTMAX = 5, FNN_STEP = 6
};
#define FNN_LEAKY_SLOPE 0.01

/* What differs between the kinds of operand: a constant in every lane, a select
   (c ? a : b per lane), the conversions to and from double, |x|, and the bits of a
   double as an integer. */
static inline float fnn_splat_f(double c) { return (float)c; }
static inline double fnn_splat_d(double c) { return c; }
static inline float fnn_sel_f(int c, float a, float b) { return c ? a : b; }
static inline double fnn_sel_d(int c, double a, double b) { return c ? a : b; }
static inline double fnn_to_d_f(float x) { return x; }
static inline double fnn_to_d_d(double x) { return x; }
static inline float fnn_from_d_f(double x) { return (float)x; }
static inline double fnn_from_d_d(double x) { return x; }
static inline double fnn_abs_d(double x) { return fabs(x); }
/* x < low ? low : x (NaN stays NaN): maxsd */
static inline double fnn_floor_at_d(double x, double low) { return x < low ? low : x; }
static inline uint64_t fnn_bits_d(double x) { uint64_t u; memcpy(&u, &x, 8); return u; }
static inline double fnn_from_bits_d(uint64_t u) { double x; memcpy(&x, &u, 8); return x; }

#if defined(__GNUC__)
#  define FNN_HAVE_V4 1
#  if !defined(__clang__)
/* (static inline: every call is inlined, no ABI is involved) */
#    pragma GCC diagnostic ignored "-Wpsabi"
#  endif
typedef float fnn_v4f __attribute__((vector_size(16)));
typedef double fnn_v4d __attribute__((vector_size(32)));
/* masks (what comparisons give) and bits */
typedef __typeof__((fnn_v4f){0, 0, 0, 0} > (fnn_v4f){0, 0, 0, 0}) fnn_v4mf;
typedef __typeof__((fnn_v4d){0, 0, 0, 0} > (fnn_v4d){0, 0, 0, 0}) fnn_v4md;
static inline fnn_v4f fnn_splat_v4f(double c) { fnn_v4f v = {(float)c, (float)c, (float)c, (float)c}; return v; }
static inline fnn_v4d fnn_splat_v4d(double c) { fnn_v4d v = {c, c, c, c}; return v; }
static inline fnn_v4f fnn_sel_v4f(fnn_v4mf c, fnn_v4f a, fnn_v4f b) {
    return (fnn_v4f)(((fnn_v4mf)a & c) | ((fnn_v4mf)b & ~c));
}
static inline fnn_v4d fnn_sel_v4d(fnn_v4md c, fnn_v4d a, fnn_v4d b) {
    return (fnn_v4d)(((fnn_v4md)a & c) | ((fnn_v4md)b & ~c));
}
static inline fnn_v4d fnn_to_d_v4f(fnn_v4f x) { return __builtin_convertvector(x, fnn_v4d); }
static inline fnn_v4d fnn_to_d_v4d(fnn_v4d x) { return x; }
static inline fnn_v4f fnn_from_d_v4f(fnn_v4d x) { return __builtin_convertvector(x, fnn_v4f); }
static inline fnn_v4d fnn_from_d_v4d(fnn_v4d x) { return x; }
static inline fnn_v4d fnn_abs_v4d(fnn_v4d x) {
    return (fnn_v4d)((fnn_v4md)x & 0x7fffffffffffffffLL);
}
static inline fnn_v4d fnn_floor_at_v4d(fnn_v4d x, double low) {
#  if defined(__AVX__) && !defined(__clang__)
    /* max(low, x) is low where low > x, else x (NaN too): one instruction, where the
       select is a compare and a blend on the chain of dependent operations */
    return __builtin_ia32_maxpd256(fnn_splat_v4d(low), x);
#  else
    return fnn_sel_v4d(x < low, fnn_splat_v4d(low), x);
#  endif
}
static inline fnn_v4md fnn_bits_v4d(fnn_v4d x) { return (fnn_v4md)x; }
static inline fnn_v4d fnn_from_bits_v4d(fnn_v4md u) { return (fnn_v4d)u; }
#else
#  define FNN_HAVE_V4 0
#endif

/* exp and expm1 of x <= 0, sigmoid and tanh, over doubles (D: double or fnn_v4d) */
#define FNN_EXPONENTIALS(D, S)                                                        \
/* e^x = scale * (1 + q), scale = 2^n exactly, for -708 <= x <= 0 (NaN: q NaN) */      \
static inline void fnn_exp_parts_##S(D x, D* scale, D* q) {                           \
    const D shift = fnn_splat_##S(6755399441055744.0); /* 1.5 2^52: rounds to integers */ \
    D xc = fnn_floor_at_##S(x, -708.0);                /* NaN stays NaN */             \
    D n = (xc * 1.4426950408889634 + shift) - shift;                                   \
    /* ln 2 split in two: n * 0.693145751953125 is exact (few mantissa bits) */        \
    D r = (xc - n * 0.693145751953125) - n * 1.4286068203094173e-06;                   \
    D r2 = r * r;                                                                      \
    D r4 = r2 * r2;                                                                    \
    D r8 = r4 * r4;                                                                    \
    D t1 = 1.0 + r * 0.5;                                                              \
    D t2 = 1.0 / 6.0 + r * (1.0 / 24.0);                                               \
    D t3 = 1.0 / 120.0 + r * (1.0 / 720.0);                                            \
    D t4 = 1.0 / 5040.0 + r * (1.0 / 40320.0);                                         \
    D t5 = 1.0 / 362880.0 + r * (1.0 / 3628800.0);                                     \
    D t6 = 1.0 / 39916800.0 + r * (1.0 / 479001600.0);                                 \
    D u1 = t1 + r2 * t2;                                                               \
    D u2 = t3 + r2 * t4;                                                               \
    D u3 = t5 + r2 * (t6 + r2 * (1.0 / 6227020800.0));                                 \
    /* q = r (1 + r/2 + r^2/6 + ...) = e^r - 1, with no cancellation near 0 */         \
    *q = r * ((u1 + r4 * u2) + r8 * u3);                                               \
    /* 2^n: n + 1023 (in 1..1023, as -708 <= x <= 0) is its biased exponent. It is     \
       read from the low mantissa bits of (n + 1023) + 2^52, with no integer           \
       arithmetic that could wrap (the debug build's overflow checks stay quiet). */   \
    D biased = (n + 1023.0) + 4503599627370496.0;                                      \
    *scale = fnn_from_bits_##S(((fnn_bits_##S(biased) - 0x4330000000000000) & 0x7ff) << 52); \
}                                                                                      \
                                                                                       \
static inline D fnn_exp_nonpositive_##S(D x) {                                         \
    D scale, q;                                                                        \
    fnn_exp_parts_##S(x, &scale, &q);                                                  \
    return fnn_sel_##S(x < -708.0, fnn_splat_##S(0.0), scale + scale * q);             \
}                                                                                      \
                                                                                       \
static inline D fnn_expm1_nonpositive_##S(D x) {                                       \
    D scale, q;                                                                        \
    fnn_exp_parts_##S(x, &scale, &q);                                                  \
    return fnn_sel_##S(x < -708.0, fnn_splat_##S(-1.0), (scale - 1.0) + scale * q);   \
}                                                                                      \
                                                                                       \
/* 1 / (1 + e^-z) for z >= 0, e^z / (1 + e^z) below: stable for every input, exp only \
   ever sees -|z| <= 0. The numerator is chosen before the one division (a select, not  \
   a branch): the shortest chain of dependent operations. */                           \
static inline D fnn_sigmoid_##S(D z) {                                                 \
    D e = fnn_exp_nonpositive_##S(-fnn_abs_##S(z));                                    \
    return fnn_sel_##S(z >= 0, fnn_splat_##S(1.0), e) / (1.0 + e);                     \
}                                                                                      \
                                                                                       \
/* tanh|z| = -expm1(-2|z|) / (2 + expm1(-2|z|)): no overflow, exact near 0; the sign    \
   chosen before the division */                                                       \
static inline D fnn_tanh_##S(D z) {                                                    \
    D m = fnn_expm1_nonpositive_##S(-2.0 * fnn_abs_##S(z));                            \
    return fnn_sel_##S(z >= 0, -m, m) / (2.0 + m);                                     \
}

/* f(z) and dA f'(z) (with f'(z) written in terms of a = f(z)) for the activation code
   `act` (identity for codes without a per-value form, softmax); T: the operand, S its
   suffix, SD the suffix of its double form. */
#define FNN_ACTIVATIONS(T, S, SD)                                                      \
static inline T fnn_activation_##S(T z, int act) {                                     \
    if (act == FNN_SIGMOID)                                                            \
        return fnn_from_d_##S(fnn_sigmoid_##SD(fnn_to_d_##S(z)));                      \
    if (act == FNN_TANH)                                                               \
        return fnn_from_d_##S(fnn_tanh_##SD(fnn_to_d_##S(z)));                         \
    if (act == FNN_RELU)            /* NaN passes through, as in np.maximum */         \
        return fnn_sel_##S(z <= 0, fnn_splat_##S(0.0), z);                             \
    if (act == FNN_LEAKY_RELU)                                                         \
        return fnn_sel_##S(z > 0, z, fnn_from_d_##S(FNN_LEAKY_SLOPE * fnn_to_d_##S(z))); \
    if (act == FNN_STEP)                                                               \
        return fnn_sel_##S(z > 0, fnn_splat_##S(1.0), fnn_splat_##S(0.0));             \
    return z;                                                                          \
}                                                                                      \
                                                                                       \
static inline T fnn_derivative_##S(T a, T da, int act) {                               \
    if (act == FNN_SIGMOID)         /* f' first: dA is the last to be known */          \
        return da * (a * (fnn_splat_##S(1.0) - a));                                    \
    if (act == FNN_TANH)                                                               \
        return da * (fnn_splat_##S(1.0) - a * a);                                      \
    if (act == FNN_RELU)                                                               \
        return fnn_sel_##S(a > 0, da, fnn_splat_##S(0.0));                             \
    if (act == FNN_LEAKY_RELU)                                                         \
        return fnn_sel_##S(a > 0, da, fnn_from_d_##S(FNN_LEAKY_SLOPE * fnn_to_d_##S(da))); \
    return da;                                                                         \
}

FNN_EXPONENTIALS(double, d)
FNN_ACTIVATIONS(float, f, d)
FNN_ACTIVATIONS(double, d, d)
#if FNN_HAVE_V4
FNN_EXPONENTIALS(fnn_v4d, v4d)
FNN_ACTIVATIONS(fnn_v4f, v4f, v4d)
FNN_ACTIVATIONS(fnn_v4d, v4d, v4d)
#endif

#endif
