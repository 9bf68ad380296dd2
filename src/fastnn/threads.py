"""BLAS threads for fastnn's work: ``threads=`` of ``fit``, ``evaluate`` and the estimators.

The compiled kernels hand large matrix products to SciPy's OpenBLAS, which
runs them on several threads. For small products more threads do not help,
and on a machine whose other cores are busy they wait for them: a 288x64 by
64x64 product took 8 ms on two threads with the other core busy, instead of
40 us on one. ``threads="auto"`` (the default) therefore runs on one BLAS
thread unless the largest product of a step, ``m*k*n`` (rows x inputs x
outputs of a layer), reaches ``CROSSOVER``; an integer fixes the count, and
None leaves BLAS as it is.

The limit is set through threadpoolctl's library controllers (``limit``),
found once: about 10 us per fit instead of the 1.1 ms of
``threadpool_limits``, which looks the libraries up on every use. ``predict``
does not change threads on its own (a microsecond-scale call); wrap many calls
in ``with fastnn.threads.limit(1):`` when they are small and the machine busy.
"""
import contextlib
import os
import threading

# imported here, not when first needed: a child forked while another thread imports it
# would wait forever for the import lock
from threadpoolctl import ThreadpoolController

from . import validation

#: Products (m*k*n multiply-adds) from which two BLAS threads beat one when the second core
#: is free: tools/measure_thread_crossover.py on a 2-core AMD EPYC (shared VM), 2026-12-01,
#: float64 and float32, m in 32..1024, k = n in 32..512. Below 2**18 OpenBLAS runs one
#: thread anyway (1.00x); from 2**20 to 2**22 two threads range from 0.71x (64x128x128) to
#: 1.81x (512x64x64); from 2**22 up they win 1.10x-1.95x when the core is free. A busy
#: second core made the two-thread product 10-100x slower at every size (8 ms slices).
CROSSOVER = 2**22

_lock = threading.Lock()
_libraries = None       # threadpoolctl's controllers of the loaded BLAS libraries
_active = 0             # limits in force (from any thread)
_original = None        # each library's thread count before the first of them
_current = None         # each library's thread count as the limits in force set it
_inherited = None       # in a forked child: the counts its parent's limits would restore


def _blas_libraries():
    global _libraries
    if _libraries is None:
        _libraries = ThreadpoolController().select(user_api="blas").lib_controllers
    return _libraries


def limit(threads):
    """A context manager running BLAS on ``threads`` threads inside its block (None: leave
    BLAS as it is).

    Limits from several threads at once (fits in a thread pool) nest: BLAS
    gets its own thread counts back when the last of them ends, not when the
    first does (threadpoolctl's ``threadpool_limits`` restores per block, so
    overlapping blocks can leave one thread behind).
    """
    return _UNCHANGED if threads is None else _Limit(threads)


_UNCHANGED = contextlib.nullcontext()


class _Limit:
    """The block of ``limit(threads)`` (a class: half the cost of a generator's block)."""
    __slots__ = ("threads", "libraries")

    def __init__(self, threads):
        self.threads = threads

    def __enter__(self):
        global _active, _original, _current, _inherited
        with _lock:
            self.libraries = libraries = _blas_libraries()
            if _active == 0:
                _original = _inherited or [lib.get_num_threads() for lib in libraries]
                _current, _inherited = list(_original), None
            _active += 1
            for i, lib in enumerate(libraries):
                if _current[i] != self.threads:     # a library call only where it changes
                    lib.set_num_threads(self.threads)
                    _current[i] = self.threads

    def __exit__(self, *exc_info):
        global _active
        with _lock:
            _active -= 1
            if _active == 0:
                for lib, now, before in zip(self.libraries, _current, _original):
                    if now != before:
                        lib.set_num_threads(before)


def check(threads, name="threads"):
    """'auto', None or an integer >= 1; ValueError naming `name` otherwise."""
    if threads is None or threads == "auto" and isinstance(threads, str):
        return threads
    if isinstance(threads, str):
        raise ValueError(f"{name} must be 'auto', None or an integer >= 1, got {threads!r}")
    return validation.positive_int(threads, name)


def choose(threads, work):
    """The thread count for work whose largest product is `work` multiply-adds: 'auto'
    gives 1 below CROSSOVER and None (BLAS's own) above it."""
    if threads == "auto":
        return 1 if work < CROSSOVER else None
    return threads


def largest_product(sizes, rows):
    """m*k*n of a network's largest product for `rows` rows at once."""
    return rows * max(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def _before_fork():
    # no fork while a thread changes BLAS's thread counts: OpenBLAS's own lock, held by a
    # thread the child does not have, would block the child's next change forever
    _lock.acquire()


def _after_fork_in_child():
    """The child gets a free lock (the parent's is held across the fork), and restores the
    parent's counts when its own limits end (the parent's limits never end in it)."""
    global _lock, _active, _inherited
    _lock = threading.Lock()
    if _active:
        _inherited, _active = _original, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=lambda: _lock.release(),
                        after_in_child=_after_fork_in_child)
