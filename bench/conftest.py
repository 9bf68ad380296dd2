"""Benchmarks: `python -m pytest bench` (see README, Performance).

Options: --bench-threads N (BLAS threads, default all), --bench-quick (reduced sizes).
"""
import os

import pytest
from threadpoolctl import threadpool_limits


def pytest_addoption(parser):
    parser.addoption("--bench-threads", default="all", help="BLAS threads: N or 'all'")
    parser.addoption("--bench-quick", action="store_true", help="workloads at reduced sizes")


@pytest.fixture(scope="session")
def bench_threads(request):
    value = request.config.getoption("--bench-threads")
    return os.cpu_count() if value == "all" else int(value)


@pytest.fixture
def blas_threads(bench_threads):
    with threadpool_limits(bench_threads):
        yield bench_threads
