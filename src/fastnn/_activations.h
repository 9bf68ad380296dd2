/* Each activation and its derivative for one value, written once for four kinds of
 * operand:
 *   f, d      a float or a double: the row loops of _kernels.pyx call these with a
 *             constant activation, and gcc vectorises the loops;
 *   v4f, v4d  a vector of 4 floats or 4 doubles (gcc and clang only): the step of small
 *             networks whose values stay in registers (_sample_kernels.h).
 * The same expressions in the same order for every kind, so a value gets the same
 * result bit for bit in each, but for the sigmoid of the vector kinds, whose exp is
 * computed by a table (see FNN_EXPONENTIALS).
 *
 * exp(x) and expm1(x) for x <= 0 are written here rather than taken from libm (a call
 * per element, which blocks vectorisation): x = n ln2 + r with |r| <= ln2/2; e^r - 1
 * by its Taylor series to r^13 (truncation < 1e-17), evaluated in Estrin's scheme (a
 * short dependency chain: the loops are latency-bound otherwise); 2^n is built in the
 * exponent bits. Within a few ulp of libm. The vectors' sigmoid takes exp's second
 * form, by a table of 2^(j/64) and e^r - 1 to r^5 (within 1 ulp; a chain of dependent
 * operations 8 multiply-adds shorter, which the small networks' step waits for; row
 * loops would not vectorise it). Below -708 exp returns 0 (libm: subnormals, all
 * < 3.3e-308) and expm1 returns -1. NaN in, NaN out. sigmoid and tanh call them with
 * -|z| only, so that nothing overflows; float values are computed in double.
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

/* 2^(j/64) for j = 0..63, each the nearest double (computed with 60 decimal digits) */
static const double fnn_exp2_64ths[64] = {
    1.0, 1.0108892860517005, 1.0218971486541166,
    1.0330248790212284, 1.0442737824274138, 1.0556451783605572,
    1.0671404006768237, 1.0787607977571199, 1.0905077326652577,
    1.102382583307841, 1.1143867425958924, 1.1265216186082418,
    1.1387886347566916, 1.1511892299529827, 1.1637248587775775,
    1.1763969916502812, 1.189207115002721, 1.202156731452703,
    1.215247359980469, 1.22848053610687, 1.241857812073484,
    1.255380757024691, 1.2690509571917332, 1.2828700160787783,
    1.2968395546510096, 1.3109612115247644, 1.3252366431597413,
    1.339667524053303, 1.3542555469368927, 1.3690024229745905,
    1.383909881963832, 1.3989796725383112, 1.4142135623730951,
    1.42961333839197, 1.4451808069770467, 1.460917794180647,
    1.4768261459394993, 1.4929077282912648, 1.5091644275934228,
    1.5255981507445384, 1.5422108254079407, 1.559004400237837,
    1.5759808451078865, 1.593142151342267, 1.6104903319492543,
    1.6280274218573478, 1.645755478153965, 1.6636765803267364,
    1.681792830507429, 1.7001063537185235, 1.718619298122478,
    1.7373338352737062, 1.7562521603732995, 1.7753764925265212,
    1.7947090750031072, 1.8142521755003989, 1.8340080864093424,
    1.8539791250833855, 1.8741676341103, 1.8945759815869656,
    1.9152065613971474, 1.9360617934922943, 1.9571441241754002,
    1.978456026387951,
};

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
static inline double fnn_exp2_64ths_d(uint64_t j) { return fnn_exp2_64ths[j & 63]; }

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
static inline fnn_v4d fnn_exp2_64ths_v4d(fnn_v4md j) {
    fnn_v4d t = {fnn_exp2_64ths[j[0] & 63], fnn_exp2_64ths[j[1] & 63],
                 fnn_exp2_64ths[j[2] & 63], fnn_exp2_64ths[j[3] & 63]};
    return t;
}
#else
#  define FNN_HAVE_V4 0
#endif

/* exp and expm1 of x <= 0, sigmoid and tanh, over doubles (D: double or fnn_v4d);
   sigmoid's exponential is EXP (one of the two forms of exp) */
#define FNN_EXPONENTIALS(D, S, EXP)                                                   \
/* e^x = scale * (1 + q), scale = 2^n exactly, for -708 <= x <= 0 (NaN: q NaN), q to    \
   r^13: expm1 takes this form, accurate near 0 (where a table's rounding would not be) */ \
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
/* e^x as above, by a table: x = (64 n + j) ln2/64 + r with |r| <= ln2/128, so          \
   e^x = 2^n 2^(j/64) e^r, 2^(j/64) from the table and e^r - 1 to r^5 (truncation      \
   < 4e-17): within 1 ulp of the correctly rounded value (2e7 random x checked), with  \
   a chain of dependent operations 8 multiply-adds shorter. Loops over rows do not     \
   vectorise it (a table read per lane): it is for the vectors of the small networks' \
   step, where the chain is what counts. */                                            \
static inline D fnn_exp_nonpositive_by_table_##S(D x) {                                \
    const D shift = fnn_splat_##S(6755399441055744.0);                                 \
    D xc = fnn_floor_at_##S(x, -708.0);                /* NaN stays NaN */             \
    D shifted = xc * 92.332482616893657 + shift;       /* 64 / ln 2 */                 \
    D k = shifted - shift;                                                             \
    D r = (xc - k * (0.693145751953125 / 64)) - k * (1.4286068203094173e-06 / 64);     \
    /* k = 64 n + j, read from the low mantissa bits of shifted; + 1023 * 64 makes it   \
       >= 0 (k >= -65369 for x >= -708): m >> 6 is n's biased exponent, m & 63 is j */  \
    __typeof__(fnn_bits_##S(x)) m =                                                    \
        (fnn_bits_##S(shifted) - fnn_bits_##S(shift)) + 65472;                         \
    D scale = fnn_from_bits_##S(((m >> 6) & 0x7ff) << 52) * fnn_exp2_64ths_##S(m);     \
    D r2 = r * r;                                                                      \
    D r4 = r2 * r2;                                                                    \
    D p = (r + r2 * (0.5 + r * (1.0 / 6.0))) + r4 * (1.0 / 24.0 + r * (1.0 / 120.0));  \
    return fnn_sel_##S(x < -708.0, fnn_splat_##S(0.0), scale + scale * p);             \
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
    D e = EXP##_##S(-fnn_abs_##S(z));                                                  \
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

/* doubles: the row loops, vectorised by gcc (the polynomial form) */
FNN_EXPONENTIALS(double, d, fnn_exp_nonpositive)
FNN_ACTIVATIONS(float, f, d)
FNN_ACTIVATIONS(double, d, d)
#if FNN_HAVE_V4
/* vectors: the small networks' step (the table: a shorter chain; the sigmoid agrees
   with the doubles' to 1-2 ulp) */
FNN_EXPONENTIALS(fnn_v4d, v4d, fnn_exp_nonpositive_by_table)
FNN_ACTIVATIONS(fnn_v4f, v4f, v4d)
FNN_ACTIVATIONS(fnn_v4d, v4d, v4d)
#endif

#endif
