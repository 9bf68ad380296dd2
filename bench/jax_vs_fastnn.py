"""fastnn beside JAX (jit over a lax.scan of whole epochs), both on one core, one thread.

    pip install jax                  # not a dependency of fastnn
    python bench/jax_vs_fastnn.py    # the OpenBLAS setting of the shell
    OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512 python bench/jax_vs_fastnn.py
    python bench/jax_vs_fastnn.py digits predict --repeat 9

The script re-runs itself under ``taskset -c 0`` with XLA held to one thread
(XLA_FLAGS below; both must be in place before JAX and OpenBLAS load) and
BLAS on one thread (threadpoolctl). Each workload is the one of ``python -m
fastnn bench`` (fastnn.workloads) against its JAX twin (fastnn._jax_workloads:
the same network, initial parameters, data, batch order, loss, plain SGD and
dtype; the function is compiled and its final parameters are checked against
fastnn's compiled fit before any timing). The two sides are timed interleaved;
the table gives medians per unit of work with their min-max spread, and
fastnn / JAX: below 1, fastnn is faster. After the table, the threads of the
process that used CPU time, to confirm that the work ran on one thread.

Workloads (the issue's names): W1 seed-network (2-2-1 sigmoid, 4 samples,
1000 epochs of per-sample SGD), W2 digits (64-32-10 sigmoid, mse, per-sample
SGD, 5 epochs of 1797 samples), W5 predict (one row through the 64-32-10
network), W3 mnist-b32 / mnist-b256 (784-256-128-10 ReLU/softmax, cce, one
epoch of 60000 samples, float32).

Measured 2026-12-01 16:30-16:38 UTC on today's kernels (before issue 12's), AMD
EPYC (cpu family 25 model 17, AVX-512, 2 vCPUs; lscpu names it only "AMD
EPYC"), fastnn 0.1.0.dev0 (avx2+fma kernels), JAX 0.10.2, NumPy 2.4.6, SciPy
1.17.1 (OpenBLAS 0.3.30), Python 3.11.7. The machine was shared with two
developers compiling and profiling (load average 3-3.7 on 2 cores), so every
absolute figure is 1.3-2x slower than on a quiet machine and drifts up to
1.5x between runs; the ratios, taken within one run, moved by up to 0.35 (digits
float64, default setting) and mostly by under 0.1. Two runs per setting
(7, then 9 repeats); fastnn / JAX (below 1: fastnn faster):

    workload            OpenBLAS default      Haswell + L2 512     medians, 2nd run (default | Haswell)
    seed-network f64    2.06x  2.01x          2.14x  2.09x         150 ns vs 75 ns | 150 ns vs 72 ns per update
    digits f64          0.41x  0.75x          1.39x  1.42x         1.09 vs 1.46 us | 2.04 vs 1.43 us per sample
    digits f32          1.12x  0.91x          1.96x  2.13x         1.06 vs 1.16 us | 2.38 vs 1.12 us per sample
    predict f64         0.13x  0.21x          0.20x  0.25x         4.98 vs 23.7 us | 5.57 vs 22.6 us per call
    mnist-b32 f32       1.01x  1.01x          1.13x  1.12x         14.3 vs 14.1 us | 22.1 vs 19.8 us per sample
    mnist-b256 f32      0.85x  0.83x          0.91x  0.83x         11.5 vs 13.9 us | 17.2 vs 20.7 us per sample

Rerun 2026-12-01 20:12-20:14 UTC with issue 12's one-sample kernels, a quiet
machine, one run per setting (7 repeats); fastnn / JAX (default | Haswell):
seed-network f64 1.47x | 1.42x (114 vs 77 ns | 106 vs 75 ns per update), digits
f64 0.39x | 0.38x (549 ns vs 1.42 us | 566 ns vs 1.50 us per sample), digits f32
0.50x | 0.47x, predict f64 0.02x | 0.02x, mnist-b32 f32 1.05x | 1.14x, mnist-b256
f32 0.82x | 0.88x. With --no-pin (both cores, BLAS's and XLA's own threads),
20:25 UTC: mnist-b32 f32 0.79x | 0.81x, mnist-b256 f32 0.66x | 0.97x.

Rerun 2026-12-01 23:43-23:47 UTC with the small networks' run (a noisy hour: both
sides 10-40 % slower than at 20:12), one run per setting (7 repeats), fastnn / JAX
(default | Haswell): seed-network f64 0.76x | 0.80x (58 vs 77 ns | 67 vs 83 ns per
update), digits f64 0.38x | 0.38x, digits f32 0.38x | 0.43x, predict f64 0.02x |
0.02x, mnist-b32 f32 1.03x | 1.20x, mnist-b256 f32 0.85x | 0.84x. The seed network
on core 1 (taskset -c 1 with FASTNN_BENCH_PINNED=1 and the XLA flags above), 23:17:
0.81x | 0.76x (61 vs 76 ns | 55 vs 73 ns).

One core, one thread at a time: under ``taskset -c 0`` XLA sizes its pool from
the affinity mask (one ``tf_XLAEigen`` worker instead of two), and the CPU time
of the timings went to the main thread (fastnn and JAX's dispatch, ~50 %), a
JAX executor thread (~28 %) and the XLA worker (~20 %), which hand the work to
one another on core 0. XLA_FLAGS alone does not hold XLA to one thread: without
taskset, mnist-b256 kept both tf_XLAEigen workers busy with these flags.
"""
import argparse
import os
import shutil
import sys
import time

XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
PINNED = "FASTNN_BENCH_PINNED"

#: (workload, dtype) in the order they run
CASES = [("seed-network", "float64"), ("digits", "float64"), ("digits", "float32"),
         ("predict", "float64"), ("mnist-b32", "float32"), ("mnist-b256", "float32")]

def pin_and_rerun():
    """Re-run this script under taskset -c 0 with XLA on one thread (once)."""
    if os.environ.get(PINNED) or not shutil.which("taskset"):
        return
    env = dict(os.environ, **{PINNED: "1", "OMP_NUM_THREADS": "1"})
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {XLA_ONE_THREAD}".strip()
    os.execvpe("taskset", ["taskset", "-c", "0", sys.executable, *sys.argv], env)


def thread_cpu_times():
    """{thread id: (name, CPU seconds)} of this process, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    result = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        result[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / ticks)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workloads", nargs="*", help="names from: " + ", ".join(
        dict.fromkeys(name for name, _ in CASES)))
    parser.add_argument("--repeat", type=int, default=7, help="timings per side (default 7)")
    parser.add_argument("--quick", action="store_true", help="reduced sizes (a smoke test)")
    parser.add_argument("--no-pin", action="store_true", help="run on every core, with "
                        "XLA's and BLAS's default threads")
    args = parser.parse_args(argv)
    if not args.no_pin:
        pin_and_rerun()

    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits

    import fastnn
    from fastnn import _jax_workloads, workloads
    from fastnn.benchmark import _time, machine, time_interleaved

    jax = _jax_workloads.load()
    if jax is None:
        sys.exit("JAX is not installed: pip install jax")
    info = machine()
    print(f"# fastnn {fastnn.__version__} ({fastnn.kernels.INSTRUCTION_SET} kernels), "
          f"JAX {jax.__version__}, NumPy {np.__version__}, SciPy {info['scipy']}, "
          f"Python {info['python']}, {info['cpu']}")
    print(f"# OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}; "
          + "; ".join(f"{lib.get('internal_api')} {lib.get('version')} "
                      f"{lib.get('architecture', '')} ({os.path.basename(lib['filepath'])})"
                      for lib in threadpool_info()))
    print(f"# cores allowed: {sorted(os.sched_getaffinity(0))}, "
          f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '(unset)')!r}, BLAS threads: "
          f"{'1' if not args.no_pin else 'default'}; medians of {args.repeat} interleaved "
          "repeats")
    cases = [(n, d) for n, d in CASES if not args.workloads or n in args.workloads]
    print(f"{'workload':<12} {'dtype':<8} {'fastnn':>14} {'spread':>17} {'JAX':>14} "
          f"{'spread':>17} {'fastnn/JAX':>10}")
    busy = {}                                   # thread id: [name, CPU seconds in timings]
    limits = threadpool_limits(1) if not args.no_pin else threadpool_limits(None)
    with limits:
        for name, dtype in cases:
            dtype = np.dtype(dtype).type
            case = workloads.BY_NAME[name].setup(dtype, args.quick)
            if case.check is not None:
                case.check()
            peer = _jax_workloads.SETUPS[name](dtype, args.quick)
            peer.check()            # compiles too: compile time stays outside the timing
            before = thread_cpu_times()
            times = time_interleaved({"fastnn": case.impls["compiled"], "jax": peer.run},
                                     args.repeat)
            for tid, (thread, seconds) in thread_cpu_times().items():
                busy.setdefault(tid, [thread, 0.0])[1] += seconds - before.get(tid, ("", 0))[1]
            unit = workloads.BY_NAME[name].unit
            per = {side: np.array(t) / case.units for side, t in times.items()}
            med = {side: float(np.median(t)) for side, t in per.items()}
            print(f"{name:<12} {dtype.__name__:<8} "
                  + " ".join(f"{_time(med[s]) + '/' + unit:>14} "
                             f"{_time(per[s].min()) + ' - ' + _time(per[s].max()):>17}"
                             for s in ("fastnn", "jax"))
                  + f" {med['fastnn'] / med['jax']:>9.2f}x", flush=True)
    ranked = sorted(((seconds, thread, tid) for tid, (thread, seconds) in busy.items()),
                    reverse=True)
    total = sum(seconds for seconds, _, _ in ranked) or 1.0
    print("# CPU time by thread during the timings: " + ", ".join(
        f"{thread}[{tid}] {seconds:.1f}s ({seconds / total:.0%})"
        for seconds, thread, tid in ranked[:4] if seconds > 0.005)
        + f"; {len(thread_cpu_times())} threads in the process")
    return 0


if __name__ == "__main__":
    start = time.time()
    status = main()
    print(f"# {time.time() - start:.0f} s", file=sys.stderr)
    sys.exit(status)
