"""``python -m fastnn bench``: the compiled backend beside the NumPy reference,
measured side by side in one process.

Every workload is checked for correctness first, outside the timing; then its
implementations are timed interleaved (compiled, reference, bare GEMM,
compiled, ...) after a warm-up, each timing long enough to be above the
clock's noise. The table reports medians over the repeats, per unit of work
(an update, a sample, a call, ...), and ratios. Timings on a shared or busy
machine drift by 5-10 % between runs: ratios within 0.9-1.1 are parity.

Columns:
  thr               BLAS threads (rows that do not depend on BLAS run once)
  compiled          median time of fastnn's compiled backend per unit of work
  spread (min-max)  the fastest and slowest of the compiled timings
  reference         median time of the NumPy reference: fastnn's numpy backend,
                    or for mnist-* plain NumPy with preallocated in-place buffers;
                    for concurrent-fits, the same fits on one thread
  ratio             reference / compiled (above 1: compiled is faster;
                    concurrent-fits: the speed-up of a second thread)
  GFLOP/s           the compiled side's rate, for the rows bound by matrix products
  of GEMM           time of the bare BLAS matrix products of the same shapes over the
                    compiled time: 100 % means compiled runs at the BLAS floor
  vs SGD            (rows trained by momentum or adam) compiled time over the
                    compiled plain-SGD fit of the same network and data: what the
                    optimizer's update costs
  torch, jax        (with --compare) the peer's median time per unit: PyTorch eager
                    mode, or JAX jit over a lax.scan of whole epochs
  vs torch, vs jax  the peer's time / compiled (above 1: fastnn is faster)
"""
import argparse
import fnmatch
import importlib
import json
import math
import os
import platform
import sys
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from . import __version__, workloads
from .workloads import CONCURRENT
from ._dispatch import kernels

MIN_TIME = 0.05     # seconds per timing; fast calls are repeated to reach it
SETTLE = 0.15       # seconds for idle BLAS threads to stop spinning (see time_interleaved)


def time_interleaved(fns, repeat, min_time=MIN_TIME, settle=0.0):
    """Median-able timings per call of each callable, interleaved across repeats.

    ``settle`` seconds of sleep, then one untimed call, precede each timing: NumPy
    and SciPy each bring their own OpenBLAS, whose worker threads spin for ~0.1 s
    after a call; without the pause, one side's spinning threads would compete
    with the other side's for the cores.
    """
    numbers = {}
    for name, fn in fns.items():                    # warm up and calibrate
        fn()
        start = time.perf_counter()
        fn()
        once = time.perf_counter() - start
        numbers[name] = max(1, math.ceil(min_time / max(once, 1e-9)))
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            number = numbers[name]
            if settle:
                time.sleep(settle)
                fn()
            start = time.perf_counter()
            for _ in range(number):
                fn()
            times[name].append((time.perf_counter() - start) / number)
    return times


#: --compare NAME: the module (in this package) with the peer's implementations
PEERS = {"torch": "_torch_workloads", "jax": "_jax_workloads"}


def run(selected, dtypes, threads_list, repeat, quick, compare=(), say=None):
    """Measure the selected workloads; returns the result rows (one per impl).

    compare: peer names (PEERS) whose implementations are timed beside fastnn's;
    a peer that is not installed is reported and skipped.
    """
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    peer_impls = []
    for peer in compare:
        module = importlib.import_module(f".{PEERS[peer]}", __package__)
        impls = module.available(say)
        if impls is not None:
            peer_impls.append(impls)
    plan = [(w, dtype, threads) for w in selected for dtype in w.dtypes if dtype in dtypes
            for threads in (threads_list if w.threaded else threads_list[:1])]
    rows = []
    started = time.perf_counter()
    for i, (workload, dtype, threads) in enumerate(plan, 1):
        say(f"[{i}/{len(plan)}] {workload.name} {dtype} threads={threads} "
            f"({time.perf_counter() - started:.0f} s)")
        with threadpool_limits(threads):
            case = workload.setup(np.dtype(dtype).type, quick)
            if case.check is not None:
                case.check()
            fns = dict(case.impls)
            for impls in peer_impls:
                fns.update(impls(workload.name, np.dtype(dtype).type, quick, threads))
            threaded = workload.threaded and threads > 1
            times = time_interleaved(fns, repeat, settle=SETTLE if threaded else 0.0)
        for impl, samples in times.items():
            rows.append({"workload": workload.name, "dtype": dtype, "threads": threads,
                         "impl": impl, "unit": workload.unit, "units_per_call": case.units,
                         "flops_per_call": case.flops, "seconds_per_call": samples})
    return rows


def summarise(rows):
    """One line per (workload, dtype, threads): medians per unit, spread, ratio, GFLOP/s."""
    groups = {}
    for row in rows:
        groups.setdefault((row["workload"], row["dtype"], row["threads"]), {})[row["impl"]] = row
    lines = []
    for (name, dtype, threads), impls in groups.items():
        c, r = impls["compiled"], impls["reference"]
        per = c["units_per_call"]
        line = {"workload": name, "dtype": dtype, "threads": threads, "unit": c["unit"],
                "compiled": float(np.median(c["seconds_per_call"])) / per,
                "compiled_min": min(c["seconds_per_call"]) / per,
                "compiled_max": max(c["seconds_per_call"]) / per,
                "reference": float(np.median(r["seconds_per_call"])) / per}
        line["ratio"] = line["reference"] / line["compiled"]
        if c["flops_per_call"]:
            line["gflops"] = c["flops_per_call"] / float(np.median(c["seconds_per_call"])) / 1e9
        if "blas_gemm" in impls:
            line["gemm_share"] = (float(np.median(impls["blas_gemm"]["seconds_per_call"]))
                                  / float(np.median(c["seconds_per_call"])))
        if "sgd" in impls:
            line["vs_sgd"] = (float(np.median(c["seconds_per_call"]))
                              / float(np.median(impls["sgd"]["seconds_per_call"])))
        for peer in PEERS:
            if peer in impls:
                line[peer] = float(np.median(impls[peer]["seconds_per_call"])) / per
                line[f"{peer}_ratio"] = line[peer] / line["compiled"]
        lines.append(line)
    return lines


def format_table(lines):
    has_sgd = any("vs_sgd" in line for line in lines)
    peers = [peer for peer in PEERS if any(peer in line for line in lines)]
    columns = [("workload", "<19"), ("dtype", "<8"), ("thr", ">3"), ("compiled", ">13"),
               ("spread (min-max)", ">21"), ("reference", ">13"), ("ratio", ">7"),
               ("GFLOP/s", ">8"), ("of GEMM", ">8")]
    if has_sgd:
        columns += [("vs SGD", ">7")]
    for peer in peers:
        columns += [(peer, ">13"), (f"vs {peer}", ">8")]
    out = [" ".join(f"{name:{align}}" for name, align in columns)]
    out.append("-" * len(out[0]))
    for line in lines:
        unit = line["unit"]
        cells = [line["workload"], line["dtype"], line["threads"],
                 f"{_time(line['compiled'])}/{unit}",
                 f"{_time(line['compiled_min'])} - {_time(line['compiled_max'])}",
                 f"{_time(line['reference'])}/{unit}", f"{line['ratio']:.2f}x",
                 f"{line['gflops']:.1f}" if "gflops" in line else "",
                 f"{line['gemm_share']:.1%}" if "gemm_share" in line else ""]
        if has_sgd:
            cells += [f"{line['vs_sgd']:.2f}x" if "vs_sgd" in line else ""]
        for peer in peers:
            cells += [f"{_time(line[peer])}/{unit}" if peer in line else "",
                      f"{line[f'{peer}_ratio']:.2f}x" if peer in line else ""]
        out.append(" ".join(f"{cell:{align}}" for cell, (_, align) in zip(cells, columns)))
    return "\n".join(out)


def legend(lines):
    """What the columns of format_table(lines) mean, for printing under it."""
    text = ["thr: BLAS threads. compiled, reference: median time per unit of work of "
            "fastnn's compiled backend and of",
            "  the NumPy reference; spread: the compiled side's fastest and slowest timing. "
            "ratio: reference / compiled",
            "  (above 1: compiled is faster)."]
    if any("gflops" in line for line in lines):
        text.append("GFLOP/s: the compiled side's rate. of GEMM: the bare BLAS products of "
                    "the same shapes over compiled (100 %: at the BLAS floor).")
    if any(line["workload"] == CONCURRENT for line in lines):
        text.append(f"{CONCURRENT}: compiled = the fits on 2 threads, reference = on 1 "
                    "thread; ratio = the speed-up.")
    if any("vs_sgd" in line for line in lines):
        text.append("vs SGD: the optimizer's compiled time over plain SGD's on the same "
                    "network and data.")
    for peer, what in (("torch", "PyTorch eager mode"),
                       ("jax", "JAX jit over a lax.scan of whole epochs")):
        if any(peer in line for line in lines):
            text.append(f"{peer}: {what}, median per unit; vs {peer}: its time / compiled "
                        "(above 1: fastnn is faster).")
    text.append("Medians of interleaved repeats; on a shared machine timings drift 5-10 % "
                "between runs. python -m fastnn bench --help explains more.")
    return "\n".join(text)


def _time(seconds):
    """A duration in s, ms, us or ns with three significant digits: 1.00ms, not 1e+03us."""
    for scale, suffix in ((1e-9, "ns"), (1e-6, "us"), (1e-3, "ms"), (1, "s")):
        value = float(f"{seconds / scale:.3g}")
        if value < 1000 or suffix == "s":
            decimals = 2 - math.floor(math.log10(value)) if value > 0 else 2
            return f"{value:.{max(decimals, 0)}f}{suffix}"
    raise AssertionError("unreachable")


def machine():
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import scipy
    return {"fastnn": __version__, "kernels": kernels.__name__,
            "instruction_set": kernels.INSTRUCTION_SET, "python": platform.python_version(),
            "numpy": np.__version__, "scipy": scipy.__version__, "platform": platform.platform(),
            "cpu": cpu, "cores": os.cpu_count(),
            "blas": [{k: v for k, v in lib.items() if k in ("internal_api", "version",
                                                              "num_threads", "architecture",
                                                              "filepath")}
                     for lib in threadpool_info()]}


def plot(lines, path, say):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        say("--plot needs matplotlib, which is not installed (pip install matplotlib): "
            "no plot written")
        return False
    labels = [f"{l['workload']} {l['dtype']} t{l['threads']}" for l in lines]
    ratios = [l["ratio"] for l in lines]
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(lines) + 1.2))
    # bars grow from 1x: right where the compiled backend wins, left where it loses
    ax.barh(range(len(lines)), [r - 1 for r in ratios], left=1,
            color=["tab:green" if r >= 1 else "tab:red" for r in ratios])
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_yticks(range(len(lines)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("speed-up of the compiled backend over the NumPy reference (log scale)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastnn bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workloads", nargs="*", help="workload names or patterns (default: all; "
                        "see --list)")
    parser.add_argument("--quick", action="store_true", help="a subset at reduced sizes "
                        "(under a minute)")
    parser.add_argument("--threads", default="all", help="BLAS threads: N, 'all', or a "
                        "comma list such as 1,all to compare (default: all)")
    parser.add_argument("--dtype", choices=["float32", "float64", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=None, help="timings per implementation "
                        "(default 5; 3 with --quick)")
    parser.add_argument("--json", metavar="PATH", help="write every figure, the machine and "
                        "the versions as JSON")
    parser.add_argument("--plot", metavar="PATH", help="write a PNG bar chart of the ratios "
                        "(needs matplotlib)")
    parser.add_argument("--compare", choices=list(PEERS), action="append", default=[],
                        help="add a peer's equivalent of the training workloads, when it is "
                        "installed: torch (PyTorch eager mode) or jax (jit over a lax.scan of "
                        "whole epochs; JAX's final parameters are checked against fastnn's); "
                        "may be given twice")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    args = parser.parse_args(argv)
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731

    if args.list:
        width = max(len(w.name) for w in workloads.WORKLOADS)
        for w in workloads.WORKLOADS:
            print(f"{w.name:<{width}} {'quick ' if w.quick else '      '}{w.description}")
        return 0
    selected = [w for w in workloads.WORKLOADS
                if (not args.workloads or any(fnmatch.fnmatch(w.name, p) for p in args.workloads))
                and (w.quick or not args.quick or args.workloads)]
    if not selected:
        parser.error(f"no workload matches {args.workloads}; see --list")
    cores = os.cpu_count() or 1
    try:
        threads = [cores if t.strip() == "all" else int(t) for t in args.threads.split(",")]
        assert all(t >= 1 for t in threads)
    except (ValueError, AssertionError):
        parser.error(f"--threads takes N, 'all' or a comma list of them; got {args.threads!r}")
    repeat = args.repeat if args.repeat is not None else (3 if args.quick else 5)
    if repeat < 1:
        parser.error("--repeat must be >= 1")
    dtypes = ("float32", "float64") if args.dtype == "both" else (args.dtype,)

    info = machine()
    say(f"fastnn {info['fastnn']} ({info['instruction_set']} kernels), {info['cpu']}, "
        f"{info['cores']} cores, Python {info['python']}, NumPy {info['numpy']}, "
        f"SciPy {info['scipy']}")
    rows = run(selected, dtypes, threads, repeat, args.quick, args.compare, say)
    lines = summarise(rows)
    print(format_table(lines))
    print()
    print(legend(lines))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "options": vars(args), "repeat": repeat,
                       "summary": lines, "measurements": rows}, f, indent=1)
        say(f"wrote {args.json}")
    if args.plot and plot(lines, args.plot, say):
        say(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
