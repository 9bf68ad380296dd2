"""Where two BLAS threads start to beat one for fastnn's matrix products.

Times ``fastnn.kernels.matmul`` (the BLAS the kernels call) for products
(m x k) @ (k x n) of float64 and float32 on 1 and on all BLAS threads, interleaved, medians of
``--repeat`` runs, and prints the speed-up of all threads over one against m*k*n, then the
median speed-up per size class (a factor of 4 in m*k*n). fastnn.threads.CROSSOVER is the
class from which all threads win (by 10 %) when the other cores are free; on a shared
machine a busy core shows up as 10-100x slower rows (an 8 ms scheduler slice).

    python tools/measure_thread_crossover.py
"""
import argparse
import itertools
import time

import numpy as np
from threadpoolctl import threadpool_info

from fastnn import kernels, threads


def median_time(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    most = max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
    print(f"BLAS threads: 1 vs {most}; medians of {args.repeat}")
    print(f"{'dtype':<8} {'m':>5} {'k':>5} {'n':>5} {'m*k*n':>11} {'1 thread':>10} "
          f"{f'{most} threads':>10} {'speed-up':>8}")
    rows = []
    for dtype, m, k in itertools.product((np.float64, np.float32), (32, 64, 128, 256, 512, 1024),
                                         (32, 64, 128, 256, 512)):
        n = k
        rng = np.random.default_rng(0)
        A, B = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
        out = np.empty((m, n), dtype)
        reps = max(1, int(2e6 // (m * k * n)))

        def run():
            for _ in range(reps):
                kernels.matmul(A, B, out=out)
        timings = {1: [], most: []}
        for _ in range(3):                        # interleaved
            for count in (1, most):
                with threads.limit(count):
                    run()
                    timings[count].append(median_time(run, args.repeat) / reps)
        one, many = min(timings[1]), min(timings[most])
        rows.append((dtype, m * k * n, one / many))
        print(f"{np.dtype(dtype).name:<8} {m:>5} {k:>5} {n:>5} {m * k * n:>11} "
              f"{one * 1e6:>8.1f}us {many * 1e6:>8.1f}us {one / many:>7.2f}x")
    print("median speed-up by size class (both dtypes):")
    classes = {}
    for _, work, speedup in rows:
        classes.setdefault(int(np.log2(work)) // 2 * 2, []).append(speedup)
    for bits, speedups in sorted(classes.items()):
        print(f"  m*k*n in [2**{bits}, 2**{bits + 2}): {np.median(speedups):.2f}x "
              f"(min {min(speedups):.2f}x, max {max(speedups):.2f}x, {len(speedups)} products)")


if __name__ == "__main__":
    main()
