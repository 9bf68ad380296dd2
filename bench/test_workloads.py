"""pytest-benchmark view of fastnn.workloads, the workloads `python -m fastnn bench` runs.

One group per workload x dtype; `extra_info["impl"]` names the side (compiled,
reference, blas_gemm for the bare BLAS products). Correctness is checked before
timing, outside the timed region. `python bench/report.py RESULTS.json` prints
the ratios.
"""
import math
import time

import numpy as np
import pytest

import fastnn
from fastnn import workloads

CASES = [(w, dtype) for w in workloads.WORKLOADS for dtype in w.dtypes]
_cases = {}


def case_for(workload, dtype, quick):
    """Set up (and check) each workload once per dtype, shared by its impls."""
    key = (workload.name, dtype)
    if key not in _cases:
        _cases.clear()                   # one workload's data at a time (the large layer is 200 MB)
        case = workload.setup(np.dtype(dtype).type, quick)
        if case.check is not None:
            case.check()
        _cases[key] = case
    return _cases[key]


@pytest.mark.parametrize("impl", ["compiled", "reference", "blas_gemm"])
@pytest.mark.parametrize("workload,dtype", CASES, ids=[f"{w.name}-{d}" for w, d in CASES])
def test_workload(benchmark, request, blas_threads, workload, dtype, impl):
    case = case_for(workload, dtype, request.config.getoption("--bench-quick"))
    if impl not in case.impls:
        pytest.skip(f"{workload.name} has no {impl} side")
    fn = case.impls[impl]
    fn()
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    iterations = max(1, math.ceil(0.05 / max(once, 1e-9)))
    rounds = 5 if once * iterations > 0.1 else 20
    benchmark.group = f"{workload.name}-{dtype}"
    benchmark.extra_info.update(impl=impl, unit=workload.unit, units=case.units,
                                flops=case.flops, threads=blas_threads,
                                kernels=fastnn.kernels.INSTRUCTION_SET)
    benchmark.pedantic(fn, rounds=rounds, iterations=iterations, warmup_rounds=1)
