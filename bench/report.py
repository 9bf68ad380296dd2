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
          f"kernels: {info.get('kernels', '?')}")
    print(f"{'group':<32} {'compiled':>11} {'reference':>11} {'ratio':>7} {'GFLOP/s':>8} "
          f"{'of GEMM':>8} {'floor ratio':>11}")
    for name in sorted(groups, key=_order):
        g = groups[name]
        if "compiled" not in g or "reference" not in g:
            continue
        c, r = g["compiled"]["stats"]["median"], g["reference"]["stats"]["median"]
        flops = g["compiled"]["extra_info"]["flops"]
        gflops = f"{flops / c / 1e9:>8.1f}" if flops else f"{'':>8}"
        line = f"{name:<32} {_t(c):>11} {_t(r):>11} {r / c:>6.2f}x {gflops}"
        if "blas_gemm" in g:
            gemm = g["blas_gemm"]["stats"]["median"]
            line += f" {gemm / c:>8.1%} {r / gemm:>10.2f}x"
        print(line)


_SHAPES = ["small", "medium", "large"]


def _order(group):
    kind, shape, dtype = group.split("-")
    return (kind.startswith(("fit", "predict")), _SHAPES.index(shape) if shape in _SHAPES else 9,
            kind, shape, dtype)


def _t(seconds):
    return f"{seconds * 1e6:.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


if __name__ == "__main__":
    main(sys.argv[1])
