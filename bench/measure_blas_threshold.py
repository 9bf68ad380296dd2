"""Measures where BLAS starts to beat plain loops for the kernels' matrix products.

    python bench/measure_blas_threshold.py

For cubes n x n x n (and the layer shapes of a tiny network) it times
`matmul` with every product forced to the loops and forced to BLAS, both in
one process, interleaved, medians of repeats, and prints the ratio.

Measured 2026-11-24 (2-core AVX-512 Xeon, Python 3.11, scipy-openblas 0.3.30),
median time per whole matmul call, loops / BLAS, AVX2 build (baseline build):
  1x1x1 0.89 (0.90)  2x2x2 0.92 (0.91)  3x3x3 0.94 (0.94)  4x4x4 0.98 (0.99)
  5x5x5 1.04 (1.08)  6x6x6 1.14 (1.17)  8x8x8 1.41 (1.45)  12x12x12 2.38 (2.53)
  1x32x10 1.11 (1.16)  1x64x32 2.51 (2.27)
BLAS costs ~0.07 us more than the loops for the tiniest products and wins from
~100 multiply-adds on: products below 100 (4x4x4 = 64) go to the loops.
"""
import timeit

import numpy as np

from fastnn import kernels

SHAPES = [(1, 1, 1), (2, 2, 2), (3, 3, 3), (4, 4, 4), (5, 5, 5), (6, 6, 6), (8, 8, 8),
          (12, 12, 12), (1, 2, 2), (1, 64, 32), (1, 32, 10)]


def median_time(fn, number=20000, repeat=7):
    return float(np.median(timeit.repeat(fn, number=number, repeat=repeat))) / number


def main():
    rng = np.random.default_rng(0)
    print(f"kernels: {kernels.__name__} ({kernels.INSTRUCTION_SET})")
    print(f"{'m x k x n':>12} {'loops':>9} {'BLAS':>9} {'loops/BLAS':>11}")
    previous = kernels._set_blas_threshold(0)
    try:
        for m, k, n in SHAPES:
            A, B = rng.standard_normal((m, k)), rng.standard_normal((k, n))
            out = np.empty((m, n))
            call = lambda A=A, B=B, out=out: kernels.matmul(A, B, out=out)  # noqa: E731
            times = {"loops": [], "blas": []}
            for _ in range(3):      # interleave the two sides
                kernels._set_blas_threshold(1 << 62)
                times["loops"].append(median_time(call))
                kernels._set_blas_threshold(0)
                times["blas"].append(median_time(call))
            loops, blas = np.median(times["loops"]), np.median(times["blas"])
            print(f"{f'{m}x{k}x{n}':>12} {loops * 1e6:>7.3f}us {blas * 1e6:>7.3f}us {loops / blas:>10.2f}")
    finally:
        kernels._set_blas_threshold(previous)


if __name__ == "__main__":
    main()
