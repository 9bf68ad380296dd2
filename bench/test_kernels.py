"""Kernel benchmarks: each group holds the compiled kernel beside the NumPy reference.

One group per kernel x dtype x shape; `extra_info["impl"]` names the side.
Correctness is asserted before timing, outside the timed region. Run
`python bench/report.py RESULTS.json` for the ratio table.
"""
import numpy as np
import pytest

from workloads import IMPLS, LEARNING_RATE, SHAPES, Layer

DTYPES = {"float32": np.float32, "float64": np.float64}
# the large layer takes ~0.1-1 s per call: a few rounds are enough for a median
ROUNDS = {"small": None, "medium": None, "large": 5}


def run(benchmark, shape, fn):
    rounds = ROUNDS[shape]
    if rounds is None:
        return benchmark(fn)
    return benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)


def check(layer, method, dtype):
    """The compiled result equals the reference's (checked outside the timing)."""
    _kernels, _reference = IMPLS["compiled"], IMPLS["reference"]
    rtol = 1e-4 if dtype is np.float32 else 1e-9
    def results(k):
        out = getattr(layer, method)(k)
        return [np.array(a, copy=True) for a in (out if isinstance(out, tuple) else (out,))]

    for a, b in zip(results(_kernels), results(_reference)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("impl", [*IMPLS, "blas_gemm"])
def test_forward(benchmark, impl, shape, dtype):
    """dense_forward: out := f(X @ W + b); blas_gemm is X @ W alone (the ceiling)."""
    layer = Layer(shape, DTYPES[dtype])
    benchmark.group = f"forward-{shape}-{dtype}"
    benchmark.extra_info.update(impl=impl, kernels=IMPLS["compiled"].INSTRUCTION_SET, flops=layer.flops_forward, activation=layer.activation)
    if impl == "blas_gemm":
        run(benchmark, shape, layer.gemm)
        return
    check(layer, "forward", DTYPES[dtype])
    run(benchmark, shape, lambda: layer.forward(IMPLS[impl]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("impl", [*IMPLS, "blas_gemm"])
def test_backward(benchmark, impl, shape, dtype):
    """activation_backward then dense_backward: dZ, dW, db, dX; blas_gemm is the two
    bare products of the same shapes (the ceiling)."""
    layer = Layer(shape, DTYPES[dtype])
    layer.forward(IMPLS["compiled"])
    benchmark.group = f"backward-{shape}-{dtype}"
    benchmark.extra_info.update(impl=impl, kernels=IMPLS["compiled"].INSTRUCTION_SET, flops=2 * layer.flops_forward, activation=layer.activation)
    if impl == "blas_gemm":
        run(benchmark, shape, layer.backward_gemms)
        return
    check(layer, "backward", DTYPES[dtype])
    run(benchmark, shape, lambda: layer.backward(IMPLS[impl]))


def check_step(shape, dtype):
    """A compiled step equals the reference's. The reference backward starts from
    the compiled forward output, so both sides share the activation's mask (a
    float32 rounding at a ReLU kink would otherwise flip an entry of dZ)."""
    _kernels, _reference = IMPLS["compiled"], IMPLS["reference"]
    rtol = 1e-4 if dtype is np.float32 else 1e-9
    compiled, reference = Layer(shape, dtype), Layer(shape, dtype)
    dX = np.array(compiled.step(_kernels), copy=True)
    A = reference.forward(_reference)
    np.testing.assert_allclose(compiled.A, A, rtol=rtol, atol=rtol)
    dZ = _reference.activation_backward(compiled.A, reference.dA, reference.activation)
    dX_ref = _reference.dense_backward_sgd(reference.X, reference.W, reference.b, dZ,
                                           LEARNING_RATE)
    for got, ref in ((dX, dX_ref), (compiled.W, reference.W), (compiled.b, reference.b)):
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol * np.abs(ref).max())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("impl", [*IMPLS, "blas_gemm"])
def test_step(benchmark, impl, shape, dtype):
    """A full SGD step of one layer: forward, backward, update (6 n n_in n_out flops)."""
    layer = Layer(shape, DTYPES[dtype])
    benchmark.group = f"step-{shape}-{dtype}"
    benchmark.extra_info.update(impl=impl, kernels=IMPLS["compiled"].INSTRUCTION_SET, flops=3 * layer.flops_forward, activation=layer.activation)
    if impl == "blas_gemm":
        # three bare GEMMs of the same size: the ceiling of a step
        run(benchmark, shape, lambda: (layer.gemm(), layer.gemm(), layer.gemm()))
        return
    check_step(shape, DTYPES[dtype])
    run(benchmark, shape, lambda: layer.step(IMPLS[impl]))
