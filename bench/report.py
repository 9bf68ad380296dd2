"""Ratio table from a pytest-benchmark JSON file: reference / compiled, and GEMM share.

"of GEMM" is the time of the bare BLAS products doing the same flops (measured
in the same run) over the compiled kernel's time: 100 % is the ceiling.
"floor ratio" is reference / bare products: the best ratio any implementation
calling the same BLAS could reach.

    python -m pytest bench --benchmark-json=bench.json
    python bench/report.py bench.json
"""
import json
import sys
from collections import defaultdict

from fastnn.benchmark import _time as _t


def main(path):
    with open(path) as f:
        data = json.load(f)
    groups = defaultdict(dict)
    for b in data["benchmarks"]:
        groups[b["group"]][b["extra_info"]["impl"]] = b
    machine = data["machine_info"]
    info = data["benchmarks"][0]["extra_info"] if data["benchmarks"] else {}
    print(f"# {machine.get('cpu', {}).get('brand_raw', machine.get('processor'))}, "
          f"Python {machine['python_version']}, {data['datetime']}, "
          f"kernels: {info.get('kernels', '?')}, BLAS threads: {info.get('threads', '?')}")
    print(f"{'group':<24} {'compiled':>14} {'reference':>14} {'ratio':>7} {'GFLOP/s':>8} "
          f"{'of GEMM':>8} {'floor ratio':>11}")
    for name, g in groups.items():
        if "compiled" not in g or "reference" not in g:
            continue
        c, r = g["compiled"]["stats"]["median"], g["reference"]["stats"]["median"]
        extra = g["compiled"]["extra_info"]
        per, unit = extra.get("units", 1), extra.get("unit", "call")
        line = (f"{name:<24} {_t(c / per) + '/' + unit:>14} {_t(r / per) + '/' + unit:>14} "
                f"{r / c:>6.2f}x")
        line += f" {extra['flops'] / c / 1e9:>8.1f}" if extra.get("flops") else f" {'':>8}"
        if "blas_gemm" in g:
            gemm = g["blas_gemm"]["stats"]["median"]
            line += f" {gemm / c:>8.1%} {r / gemm:>10.2f}x"
        print(line)


if __name__ == "__main__":
    main(sys.argv[1])
