"""Which GEMM for fastnn's matrix products: SciPy's OpenBLAS, BLIS (the ``blis``
package) or a newer OpenBLAS (``scipy-openblas32``), at the exact shapes of its
training steps.

    pip install blis scipy-openblas32           # only for this study
    python bench/blas_study.py                  # the OpenBLAS setting of the shell
    python bench/blas_study.py --threads 1 --batches 32
    OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512 python bench/blas_study.py

Every product is timed from Cython, in a loop of calls without the GIL (as
fastnn's kernels call BLAS), so the figures are the libraries' own cost per
call, Python excluded. Row-major products go to the column-major Fortran
``sgemm`` as the transposed product (as fastnn does); BLIS takes row and
column strides, so it gets them as they are. Shapes:

- W3, one mini-batch SGD step of 784-256-128-10 float32 (``eight_products``
  in fastnn.workloads): forward X @ W for the 3 layers, dW = A.T @ dZ for the
  3 layers, dX = dZ @ W.T for the upper 2; at B = 32 and B = 256, on 1 and 2
  threads (this BLIS build is single-threaded: its 2-thread figures are n/a).
- Per-sample (64-32-10, one row), float32 and float64: 1x64 @ 64x32, 1x32 @ 32x10, the outer
  products 64x1 @ 1x32 and 32x1 @ 1x10, and 1x10 @ 10x32: what a BLAS call
  costs when there is almost no arithmetic.

The three sides take turns (interleaved), medians of --repeat timings. The
libraries' own reports are printed first: the OpenBLAS core each OpenBLAS
chose (``OPENBLAS_CORETYPE`` is read by both: it is OpenBLAS's DYNAMIC_ARCH
switch) and the BLIS kernel set (``bli_arch_query_id``).

Calling each from Cython without the GIL (what adoption would take):
- SciPy's OpenBLAS: ``from scipy.linalg.cython_blas cimport sgemm, dgemm``
  (what fastnn uses today; SciPy is already a build and run dependency).
- BLIS: ``from blis cimport cy`` then ``cy.gemm(cy.NO_TRANSPOSE, cy.TRANSPOSE,
  m, n, k, alpha, <float*>a, rsa, csa, <float*>b, rsb, csb, beta, <float*>c,
  rsc, csc)``, ``noexcept nogil``, a fused function over float*/double*; the
  pxd ships in the wheel (site-packages/blis/cy.pxd), the call goes through the
  module's ``__pyx_capi__`` capsule at run time (nothing to link). The bare
  ``bli_sgemm``/``bli_dgemm`` (and ``bli_arch_*``) symbols are also exported
  by blis/cy.*.so.
- scipy-openblas32: ships headers (``scipy_openblas32.get_include_dir()``,
  cblas.h with ``scipy_cblas_sgemm``) and ``libscipy_openblas.so``
  (``get_lib_dir()``, ``get_library()``); its symbols carry a ``scipy_``
  prefix: ``scipy_sgemm_``/``scipy_dgemm_`` (Fortran ABI, 32-bit ints),
  ``scipy_cblas_sgemm``, ``scipy_openblas_set_num_threads``,
  ``scipy_openblas_get_corename``. Either link against it (-L get_lib_dir()
  -lscipy_openblas, plus an rpath or a preload: the wheel does not put it on
  the loader's path) or take the function pointers at import (ctypes/dlsym,
  as this script does) and call them from nogil code.

Results, 2026-12-01 16:33-16:35 UTC, AMD EPYC (cpu family 25 model 17, AVX-512,
2 vCPUs), SciPy 1.17.1 (its OpenBLAS 0.3.30), scipy-openblas32 0.3.34.481.3,
blis 1.3.4; medians of 7; the machine shared with two developers' builds
(load average ~3 on 2 cores: absolute figures are ~2x a quiet machine's, the
ratios are what counts). Sum of the 8 products of one W3 step, SciPy's OpenBLAS
time / the other's (above 1: the other is faster):

    setting            B    threads  SciPy OB 0.3.30   OB 0.3.34   BLIS
    default (SkylakeX)  32  1         390 us            1.02x       0.33x
    default (SkylakeX) 256  1        2671 us            1.05x       0.35x
    Haswell, L2 512     32  1         458 us            1.00x       0.29x
    Haswell, L2 512    256  1        3219 us            1.10x       0.27x
    default             32  2         246 us            1.00x       n/a (single-threaded build)
    either             256  2        (not measurable: with the other core busy, OpenBLAS's
                                      2-thread products took 3-80x their 1-thread time)

The 2-thread rows are unreliable on a shared machine: a second run at 16:43
(--threads 2) gave 9.6 ms for the B=32 step (SciPy) against 246 us in the first,
single products swinging 100x between the two OpenBLAS builds. Whenever the
worker thread on the busy core is descheduled, the whole GEMM waits for it. A
control at the same time: two Python threads each doing 100 NumPy 400x400
products (BLAS on 1 thread) took 0.91-0.98x the serial time, with process CPU
time equal to wall time: the process was getting one core's worth. Rerun on a
quiet machine before drawing 2-thread conclusions.

Per-sample products (the 5 of one 64-32-10 sample), per call, sum over the 5
(second run, 16:49 UTC, --batches ''):

    setting    dtype     SciPy OB 0.3.30            OB 0.3.34   BLIS
    default    float32   0.09-0.24 us, sum 0.79 us  sum 0.67    sum 18.3 us (3.5-4.6 per call)
    default    float64   0.08-0.38 us, sum 0.81 us  sum 0.86    sum 23.5 us
    Haswell    float32   0.18-0.56 us, sum 1.50 us  sum 1.24    sum 18.2 us
    Haswell    float64   0.26-0.91 us, sum 2.64 us  sum 1.87    sum 21.6 us

The Haswell kernels make every one-row product 2-3x dearer (1x64 @ 64x32 float64:
0.11 us default, 0.41-0.91 us Haswell) in both OpenBLAS builds; the single
products of the two builds differ by up to 2x from run to run in either
direction (an earlier run had the newer one 0.89x-0.94x on the sums), so read
them as equal. BLIS's generic path costs 2-6 us per call whatever the size.

- OPENBLAS_CORETYPE=Haswell holds scipy-openblas32 to its Haswell kernels too
  (both are DYNAMIC_ARCH builds reading the same variable): the newer OpenBLAS
  is no way out of that setting, and elsewhere it is within 0-10 % of SciPy's.
- BLIS runs its 'generic' reference kernels here: the wheel carries haswell,
  skx, zen and zen2 kernels, but its arch table has no zen3/zen4 entry and its
  detection returns 'generic' on this AMD family 0x19 CPU; neither
  BLIS_ARCH_TYPE nor bli_arch_set_id() changes the choice in this build.
  3-4x slower on W3, and each call costs ~4 us even for a 1x32 @ 32x10 product.
- Neither pays as a runtime dependency for W3 on this machine; the Haswell
  setting's cost has to be met by fastnn's own small-matrix kernels.
"""
import argparse
import ctypes
from importlib import metadata
import os
import sys
import tempfile
import time

import numpy as np

PROBE = r'''
# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
from cython cimport floating
from libc.stdint cimport uintptr_t
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC
from scipy.linalg.cython_blas cimport sgemm as scipy_linalg_sgemm, dgemm as scipy_linalg_dgemm
from blis cimport cy

ctypedef void (*fortran_sgemm_t)(char*, char*, int*, int*, int*, float*, float*, int*,
                                 float*, int*, float*, float*, int*) noexcept nogil
ctypedef void (*fortran_dgemm_t)(char*, char*, int*, int*, int*, double*, double*, int*,
                                 double*, int*, double*, double*, int*) noexcept nogil

cdef double now() noexcept nogil:
    cdef timespec t
    clock_gettime(CLOCK_MONOTONIC, &t)
    return t.tv_sec + t.tv_nsec * 1e-9

cdef inline void row_major(uintptr_t f, bint ta, bint tb, int m, int n, int k,
                           floating* A, floating* B, floating* C) noexcept nogil:
    # C (m x n) := op(A) @ op(B), row-major, as the column-major C.T = op(B).T op(A).T
    cdef char transa = b'T' if tb else b'N'
    cdef char transb = b'T' if ta else b'N'
    cdef int lda = k if tb else n       # B's row length
    cdef int ldb = m if ta else k       # A's row length
    cdef floating one = 1.0, zero = 0.0
    if floating is float:
        (<fortran_sgemm_t>f)(&transa, &transb, &n, &m, &k, &one, B, &lda, A, &ldb, &zero, C, &n)
    else:
        (<fortran_dgemm_t>f)(&transa, &transb, &n, &m, &k, &one, B, &lda, A, &ldb, &zero, C, &n)

def seconds_per_call(str lib, bint ta, bint tb, int m, int n, int k,
                     floating[:, ::1] A, floating[:, ::1] B, floating[:, ::1] C, long calls,
                     uintptr_t fortran_pointer=0):
    # Mean seconds of one C := op(A) @ op(B) over `calls` calls without the GIL.
    cdef uintptr_t f = fortran_pointer
    if lib == "scipy":
        f = <uintptr_t>scipy_linalg_sgemm if floating is float else <uintptr_t>scipy_linalg_dgemm
    cdef long i
    cdef double start, elapsed
    cdef cy.trans_t blis_ta = cy.TRANSPOSE if ta else cy.NO_TRANSPOSE
    cdef cy.trans_t blis_tb = cy.TRANSPOSE if tb else cy.NO_TRANSPOSE
    cdef floating* a = &A[0, 0]
    cdef floating* b = &B[0, 0]
    cdef floating* c = &C[0, 0]
    cdef int rsa = A.shape[1], rsb = B.shape[1], rsc = C.shape[1]
    cdef bint use_blis = lib == "blis"
    with nogil:
        start = now()
        for i in range(calls):
            if use_blis:
                cy.gemm(blis_ta, blis_tb, m, n, k, 1.0, a, rsa, 1, b, rsb, 1, 0.0, c, rsc, 1)
            else:
                row_major(f, ta, tb, m, n, k, a, b, c)
        elapsed = now() - start
    return elapsed / calls
'''

SIZES = [784, 256, 128, 10]
SETTLE = 0.15   # seconds: an OpenBLAS's worker threads spin ~0.1 s after a call


def step_products(batch, sizes=SIZES):
    """(name, transpose A, transpose B, m, n, k) of one mini-batch step's 8 products."""
    out = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        out.append((f"fwd{i + 1} {batch}x{n_in}@{n_in}x{n_out}", False, False, batch, n_out, n_in))
    for i in range(len(sizes) - 2, -1, -1):
        n_in, n_out = sizes[i], sizes[i + 1]
        if i > 0:
            out.append((f"dX{i + 1} {batch}x{n_out}@({n_in}x{n_out}).T", False, True,
                        batch, n_in, n_out))
        out.append((f"dW{i + 1} ({batch}x{n_in}).T@{batch}x{n_out}", True, False,
                     n_in, n_out, batch))
    return out


PER_SAMPLE = [("1x64@64x32", False, False, 1, 32, 64), ("1x32@32x10", False, False, 1, 10, 32),
              ("1x10@(32x10).T", False, True, 1, 32, 10),
              ("(1x64).T@1x32", True, False, 64, 32, 1), ("(1x32).T@1x10", True, False, 32, 10, 1)]


def build_probe():
    """Compile the Cython probe (once per cache directory) and import it."""
    import pyximport
    where = os.path.join(tempfile.gettempdir(), "fastnn-blas-study")
    os.makedirs(where, exist_ok=True)
    path = os.path.join(where, "_blas_probe.pyx")
    if not os.path.exists(path) or open(path).read() != PROBE:
        with open(path, "w") as f:
            f.write(PROBE)
    pyximport.install(build_dir=os.path.join(where, "build"), language_level=3,
                      setup_args={"include_dirs": [np.get_include()]})
    sys.path.insert(0, where)
    import _blas_probe
    return _blas_probe


def operands(ta, tb, m, n, k, rng, dtype=np.float32):
    A = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    return A, B, np.empty((m, n), dtype)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", default="1,2", help="comma list (default 1,2)")
    parser.add_argument("--batches", default="32,256", help="comma list (default 32,256; '': none)")
    parser.add_argument("--no-per-sample", action="store_true",
                        help="skip the per-sample table")
    parser.add_argument("--min-time", type=float, default=0.02,
                        help="seconds per timing (default 0.02)")
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_info, threadpool_limits
    import blis
    import blis.cy
    import scipy
    import scipy_openblas32
    probe = build_probe()

    libopenblas32 = ctypes.CDLL(os.path.join(scipy_openblas32.get_lib_dir(),
                                             f"lib{scipy_openblas32.get_library()}.so"))
    libopenblas32.scipy_openblas_get_corename.restype = ctypes.c_char_p
    libopenblas32.scipy_openblas_get_config.restype = ctypes.c_char_p
    new_gemm = {np.float32: ctypes.cast(libopenblas32.scipy_sgemm_, ctypes.c_void_p).value,
                np.float64: ctypes.cast(libopenblas32.scipy_dgemm_, ctypes.c_void_p).value}
    libblis = ctypes.CDLL(blis.cy.__file__)
    libblis.bli_arch_string.restype = ctypes.c_char_p
    blis_arch = libblis.bli_arch_string(libblis.bli_arch_query_id()).decode()
    blis_threads = libblis.bli_info_get_enable_threading()

    print(f"# {open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}"
          f", SciPy {scipy.__version__}, blis {metadata.version('blis')}, scipy-openblas32 "
          f"{metadata.version('scipy-openblas32')}")
    print(f"# OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}")
    scipy_blas = [lib for lib in threadpool_info() if "libscipy_openblas-" in lib["filepath"]]
    print("# SciPy's OpenBLAS: " + ", ".join(f"{lib['version']} core {lib['architecture']}"
                                            for lib in scipy_blas))
    print(f"# scipy-openblas32: core {libopenblas32.scipy_openblas_get_corename().decode()}, "
          f"{libopenblas32.scipy_openblas_get_config().decode()}")
    print(f"# BLIS: kernels {blis_arch!r} (bli_arch_query_id), threading "
          f"{'on' if blis_threads else 'off in this build'}")

    rng = np.random.default_rng(0)
    libs = ["scipy", "openblas32", "blis"]

    def measure(products, threads, dtype):
        data = [operands(ta, tb, m, n, k, rng, dtype) for _, ta, tb, m, n, k in products]
        libopenblas32.scipy_openblas_set_num_threads(threads)
        sides = [lib for lib in libs if lib != "blis" or threads == 1 or blis_threads]
        times = {(lib, i): [] for lib in sides for i in range(len(products))}
        with threadpool_limits(threads, user_api="blas"):
            calls = {}
            for i, (_, ta, tb, m, n, k) in enumerate(products):      # calibrate
                once = probe.seconds_per_call("scipy", ta, tb, m, n, k, *data[i], 3, 0)
                calls[i] = max(3, int(args.min_time / max(once, 1e-8)))
            for _ in range(args.repeat):
                for i, (_, ta, tb, m, n, k) in enumerate(products):
                    for lib in sides:
                        if threads > 1:     # let the other library's idle threads stop spinning
                            time.sleep(SETTLE)
                        times[lib, i].append(probe.seconds_per_call(
                            lib, ta, tb, m, n, k, *data[i], calls[i],
                            new_gemm[dtype] if lib == "openblas32" else 0))
        return {key: float(np.median(t)) for key, t in times.items()}, sides

    def table(title, products, threads, dtype=np.float32, unit=1e-6, suffix="us"):
        med, sides = measure(products, threads, dtype)
        print(f"\n{title}, {threads} thread(s): median {suffix} per call; ratio = SciPy's "
              "OpenBLAS time / the other's (above 1: the other is faster)")
        print(f"{'product':<26} {'SciPy OB':>9} {'OB 0.3.3x':>9} {'ratio':>6} {'BLIS':>9} "
              f"{'ratio':>6}")
        totals = {lib: 0.0 for lib in sides}
        for i, (name, *_rest) in enumerate(products):
            s = med["scipy", i]
            cells = [f"{name:<26}", f"{s / unit:>9.3f}"]
            for lib in ("openblas32", "blis"):
                if lib in sides:
                    cells += [f"{med[lib, i] / unit:>9.3f}", f"{s / med[lib, i]:>5.2f}x"]
                else:
                    cells += [f"{'n/a':>9}", f"{'':>6}"]
            for lib in sides:
                totals[lib] += med[lib, i]
            print(" ".join(cells))
        line = [f"{'sum (one step)':<26}", f"{totals['scipy'] / unit:>9.3f}"]
        for lib in ("openblas32", "blis"):
            if lib in sides:
                line += [f"{totals[lib] / unit:>9.3f}", f"{totals['scipy'] / totals[lib]:>5.2f}x"]
        print(" ".join(line))

    for batch in (int(b) for b in args.batches.split(",") if b):
        for threads in map(int, args.threads.split(",")):
            table(f"W3 784-256-128-10 float32, batch {batch}", step_products(batch), threads)
    if not args.no_per_sample:
        for dtype in (np.float32, np.float64):
            table(f"Per-sample products (64-32-10, one row), {dtype.__name__}", PER_SAMPLE, 1,
                  dtype)
    return 0


if __name__ == "__main__":
    sys.exit(main())
