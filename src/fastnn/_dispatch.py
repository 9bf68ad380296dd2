"""Chooses the compiled kernels for this CPU: the AVX2 + FMA build or the baseline.

Both are built from the same source (``_kernels.pyx``). ``FASTNN_KERNELS``
overrides the choice: ``auto`` (default), ``baseline`` or ``avx2``. A kernel
module that exists but fails to import raises: fastnn never falls back
silently from a broken build.
"""
import importlib
import os

from . import _kernels as _baseline

CHOICES = ("auto", "baseline", "avx2")


def select(choice=None):
    """The kernel module to use for `choice` (default: $FASTNN_KERNELS or "auto")."""
    choice = os.environ.get("FASTNN_KERNELS", "auto") if choice is None else choice
    if choice not in CHOICES:
        raise ValueError(f"FASTNN_KERNELS must be one of {', '.join(CHOICES)}; got {choice!r}")
    if choice == "baseline":
        return _baseline
    if not _baseline.cpu_has_avx2_fma():
        if choice == "avx2":
            raise RuntimeError("FASTNN_KERNELS=avx2, but this CPU lacks AVX2 or FMA")
        return _baseline
    try:
        return importlib.import_module("fastnn._kernels_avx2")
    except ModuleNotFoundError as missing:
        # not built on this platform (e.g. a non-x86 or MSVC build); a module
        # that is present but broken raises ImportError, which is not caught
        if choice == "avx2" or missing.name != "fastnn._kernels_avx2":
            raise
        return _baseline


#: OpenBLAS kernel families built on its Haswell (AVX2) kernels: there, one-row to
#: four-row products are faster in the kernels' own small-matrix code.
HASWELL_FAMILY = ("haswell", "zen")


def blas_core():
    """The kernel family (e.g. 'SkylakeX', 'Haswell') of the OpenBLAS behind SciPy's BLAS,
    which the kernels call; None for another BLAS or when it cannot be told."""
    import scipy
    from threadpoolctl import threadpool_info
    openblas = [lib for lib in threadpool_info() if lib.get("internal_api") == "openblas"]
    scipy_dir = os.path.dirname(os.path.abspath(scipy.__file__))
    own = [lib for lib in openblas if os.path.abspath(lib["filepath"]).startswith(scipy_dir)]
    chosen = own or openblas
    return chosen[0].get("architecture") if len(chosen) == 1 else None


def small_batch_for(core):
    """The largest batch whose products go to the kernels' small-matrix code, for a BLAS
    kernel family (measured with bench/measure_blas_threshold.py, figures there):
    4 under OpenBLAS's Haswell kernels (1-4 rows: 1.1-4x faster than its GEMM), else 1
    (one row: within 10 % of OpenBLAS's AVX-512 kernels either way; from 2 rows on they
    win)."""
    return 4 if core is not None and core.lower() in HASWELL_FAMILY else 1


kernels = select()
kernels._set_product_path(100, small_batch_for(blas_core()))
