"""Measures where BLAS starts to beat the kernels' own small-matrix products.

    python bench/measure_blas_threshold.py [--quick]
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/measure_blas_threshold.py
    OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512 python bench/measure_blas_threshold.py

For the three products of a training step (forward X @ W, backward dZ @ W.T
and X.T @ dZ) at the shapes of small networks (batch sizes 1 to 64, layer
widths 10 to 784), it times `matmul` with every product forced to the small
kernels and forced to BLAS, in one process, interleaved, medians of repeats,
on one BLAS thread, and prints small / BLAS (below 1: the small kernels win).

Measured 2026-12-01 on a 2-vCPU AMD EPYC (Zen 5, AVX-512; a shared VM, load
average ~3: ratios move by ~0.1 between runs), the AVX2 + FMA kernels, float64,
SciPy's OpenBLAS 0.3.30 with its default kernels (SkylakeX) and with
OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512, taskset -c 1:

  batch  layer    | default: X@W dZ@W.T X.T@dZ | Haswell: X@W dZ@W.T X.T@dZ
      1  64x32    |         1.05   1.03   1.13 |         0.62   0.66   0.83
      1  32x10    |         0.92   0.88   1.03 |         0.83   0.92   0.89
      1  784x256  |         0.78   1.11   0.78 |         0.31   0.34   0.44
      1  256x128  |         0.81   1.14   0.94 |         0.25   0.29   0.52
      1  100x100  |         0.87   1.16   0.96 |         0.38   0.45   0.61
      2  64x32    |         1.22   1.23   1.28 |         0.56   0.68   0.99
      2  32x10    |         0.99   0.98   1.11 |         0.85   0.98   0.92
      2  784x256  |         1.87   0.49   0.76 |         0.37   0.45   0.68
      2  256x128  |         1.39   1.90   1.50 |         0.35   0.41   0.71
      2  100x100  |         1.30   1.65   1.38 |         0.35   0.47   0.79
      4  64x32    |         1.39   1.45   1.11 |         0.73   0.87   0.84
      4  32x10    |         1.06   1.13   1.21 |         0.90   1.16   0.93
      4  784x256  |         2.66   1.00   1.19 |         0.76   0.89   0.80
      4  256x128  |         2.25   2.54   0.88 |         0.52   0.67   0.56
      4  100x100  |         1.50   2.05   0.94 |         0.58   0.81   0.88
      8  64x32    |         1.59   1.76   1.48 |         1.11   1.24   0.88
      8  32x10    |         1.27   1.48   1.46 |         0.97   1.52   1.02
      8  784x256  |         1.70   1.62   1.13 |         1.18   1.44   1.04
      8  256x128  |         2.33   1.54   1.68 |         0.94   1.18   0.85
      8  100x100  |         2.01   2.54   1.48 |         1.09   1.54   1.07
     16  64x32    |         1.86   1.90   1.47 |         1.22   1.55   0.97
     16  32x10    |         1.54   1.93   1.62 |         1.19   1.98   1.11
     16  784x256  |         1.84   1.77   1.41 |         1.58   1.79   1.30
     16  256x128  |         2.41   1.72   1.29 |         1.47   2.05   1.57
     16  100x100  |         1.82   1.57   1.36 |         1.18   1.79   1.30
     64  64x32    |         2.21   2.08   1.78 |         1.60   2.36   1.57
     64  32x10    |         2.53   3.37   2.74 |         1.62   3.37   1.30
     64  784x256  |         2.33   2.43   2.21 |         2.44   2.91   2.63
     64  256x128  |         1.91   2.35   1.76 |         1.98   2.43   1.66
     64  100x100  |         2.29   2.35   2.05 |         1.58   2.33   1.54

So: one row is a tie with the AVX-512 kernels (0.8-1.15) and a win of up to 4x
over the Haswell kernels; two to four rows lose to the AVX-512 kernels but still
beat the Haswell ones (0.35-0.9); from eight rows on, BLAS wins in both. Hence
the rule fastnn._dispatch sets at import: batches of up to 4 rows under
OpenBLAS's Haswell-family kernels, 1 row otherwise, go to the small kernels;
products under 100 multiply-adds take plain loops whatever the batch.
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
