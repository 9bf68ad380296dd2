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


kernels = select()
