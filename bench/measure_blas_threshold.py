"""Measures where BLAS starts to beat the kernels' own small-matrix products.

    python bench/measure_blas_threshold.py [--quick]
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/measure_blas_threshold.py
    OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512 python bench/measure_blas_threshold.py

For the three products of a training step (forward X @ W, backward dZ @ W.T
and X.T @ dZ) at the shapes of small networks (batch sizes 1 to 64, layer
widths 10 to 784), it times `matmul` with every product forced to the small
kernels and forced to BLAS, in one process, interleaved, medians of repeats,
on one BLAS thread, and prints small / BLAS (below 1: the small kernels win).
"""
import argparse
import os
import timeit

import numpy as np
from threadpoolctl import threadpool_limits

from fastnn._dispatch import kernels

ALWAYS_SMALL, ALWAYS_BLAS = (1 << 62, 1 << 62), (0, 0)


def median_time(fn, repeat=5):
    number = max(1, int(2e-3 / max(timeit.timeit(fn, number=3) / 3, 1e-9)))
    return float(np.median(timeit.repeat(fn, number=number, repeat=repeat))) / number


def shapes(quick):
    batches = (1, 4, 16, 64) if quick else (1, 2, 4, 8, 16, 32, 64, 128)
    layers = ((64, 32), (32, 10), (784, 256), (256, 128), (128, 10)) if quick else \
        ((2, 2), (64, 32), (32, 10), (784, 256), (256, 128), (128, 10), (100, 100), (256, 256))
    for m in batches:
        for n_in, n_out in layers:
            yield m, n_in, n_out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dtype", default="float64")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    dtype = np.dtype(args.dtype)
    print(f"kernels: {kernels.__name__} ({kernels.INSTRUCTION_SET}), {dtype}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}")
    print(f"{'batch':>5} {'layer':>9} | small/BLAS: {'X@W':>6} {'dZ@W.T':>7} {'X.T@dZ':>7}"
          f" | X@W us: {'small':>7} {'BLAS':>7}")
    previous = kernels._set_product_path(*ALWAYS_BLAS)
    try:
        with threadpool_limits(1):
            for m, n_in, n_out in shapes(args.quick):
                X = rng.standard_normal((m, n_in)).astype(dtype)
                W = rng.standard_normal((n_in, n_out)).astype(dtype)
                dZ = rng.standard_normal((m, n_out)).astype(dtype)
                outs = [np.empty((m, n_out), dtype), np.empty((m, n_in), dtype),
                        np.empty((n_in, n_out), dtype)]
                calls = [lambda: kernels.matmul(X, W, out=outs[0]),
                         lambda: kernels.matmul(dZ, W, out=outs[1], transpose_b=True),
                         lambda: kernels.matmul(X, dZ, out=outs[2], transpose_a=True)]
                ratios, forward = [], None
                for call in calls:
                    times = {ALWAYS_SMALL: [], ALWAYS_BLAS: []}
                    for _ in range(3):              # interleave the two sides
                        for side in times:
                            kernels._set_product_path(*side)
                            times[side].append(median_time(call))
                    small, blas = (np.median(times[s]) for s in (ALWAYS_SMALL, ALWAYS_BLAS))
                    ratios.append(small / blas)
                    forward = forward or (small, blas)
                print(f"{m:>5} {f'{n_in}x{n_out}':>9} | {'':>11} {ratios[0]:>6.2f} "
                      f"{ratios[1]:>7.2f} {ratios[2]:>7.2f} | {'':>7} "
                      f"{forward[0] * 1e6:>7.2f} {forward[1] * 1e6:>7.2f}", flush=True)
    finally:
        kernels._set_product_path(*previous)


if __name__ == "__main__":
    main()
