"""Shared fixtures and hypothesis profiles.

Profiles: "default" for local runs, "ci" (fewer examples, no deadline) and
"sanitizer" (fewest examples: ASan/debug builds are slow). Select with
HYPOTHESIS_PROFILE=ci.
"""
import os

import numpy as np
import pytest
from hypothesis import settings

# Local runs explore new examples each time; CI runs are reproducible (derandomized), so
# a red CI can be replayed exactly and a green one does not depend on luck.
settings.register_profile("default", deadline=None, max_examples=100)
settings.register_profile("ci", deadline=None, max_examples=60, derandomize=True)
settings.register_profile("sanitizer", deadline=None, max_examples=15, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

import fastnn  # noqa: E402
from fastnn import _reference  # noqa: E402

#: The compiled kernels in use (the CPU's best build, or as FASTNN_KERNELS says).
_kernels = fastnn.kernels

#: Relative tolerances for kernel-vs-reference comparisons, per dtype.
RTOL = {np.float32: 1e-5, np.float64: 1e-10}
#: Absolute floor for values near zero, per dtype.
ATOL = {np.float32: 1e-6, np.float64: 1e-12}


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param


@pytest.fixture(params=["compiled", "numpy"])
def backend(request):
    """A Network backend by name."""
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)


def assert_close(actual, expected, dtype):
    np.testing.assert_allclose(actual, expected, rtol=RTOL[dtype], atol=ATOL[dtype])


__all__ = ["_kernels", "_reference", "assert_close", "RTOL", "ATOL"]
