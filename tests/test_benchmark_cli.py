"""`python -m fastnn bench` end to end on a tiny subset: the structure of what it
writes, never a speed (the machines are shared and noisy)."""
import importlib.util
import json
import math
import subprocess
import sys

import pytest

from fastnn import benchmark, workloads


def test_quick_run_writes_the_table_and_the_json(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert benchmark.main(["--quick", "forward-small", "seed-network", "predict",
                           "--repeat", "2", "--threads", "1", "--json", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0].split()[:4] == ["workload", "dtype", "thr", "compiled"]
    table, legend = out.split("\n\n", 1)
    assert {line.split()[0] for line in table.splitlines()[2:]} == {
        "forward-small", "seed-network", "predict"}
    assert "ratio: reference / compiled" in legend and "of GEMM" in legend
    assert "e+" not in table                       # 1.00ms, never 1e+03us
    assert "[1/4] forward-small float32 threads=1" in err
    data = json.loads(path.read_text())
    assert {"fastnn", "instruction_set", "python", "numpy", "scipy", "cpu", "cores",
            "blas"} <= set(data["machine"])
    assert len(data["summary"]) == 4
    for line in data["summary"]:
        assert line["threads"] == 1
        for key in ("compiled", "reference", "ratio"):
            assert math.isfinite(line[key]) and line[key] > 0
    forward = [l for l in data["summary"] if l["workload"] == "forward-small"]
    assert all(0 < l["gemm_share"] and math.isfinite(l["gflops"]) for l in forward)
    impls = {(m["workload"], m["impl"]) for m in data["measurements"]}
    assert ("forward-small", "blas_gemm") in impls and ("predict", "reference") in impls
    assert all(len(m["seconds_per_call"]) == 2 for m in data["measurements"])


def test_thread_comparison_runs_threaded_workloads_at_each_count(tmp_path):
    path = tmp_path / "bench.json"
    benchmark.main(["forward-small", "seed-network", "--dtype", "float64", "--repeat", "1",
                    "--threads", "1,all", "--json", str(path)])
    summary = json.loads(path.read_text())["summary"]
    threads = {(l["workload"], l["threads"]) for l in summary}
    assert {t for w, t in threads if w == "forward-small"} == {1, benchmark.os.cpu_count()}
    assert len([w for w, _ in threads if w == "seed-network"]) == 1   # not BLAS-bound


def test_list_names_every_workload(capsys):
    benchmark.main(["--list"])
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == [w.name for w in workloads.WORKLOADS]


def test_plot_without_matplotlib_says_so_or_writes_the_png(tmp_path, capsys):
    png = tmp_path / "ratios.png"
    benchmark.main(["predict", "--repeat", "1", "--plot", str(png)])
    err = capsys.readouterr().err
    try:
        import matplotlib  # noqa: F401
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    except ImportError:
        assert "needs matplotlib" in err and not png.exists()


def test_compare_torch_adds_a_column_or_says_it_cannot(tmp_path, capsys):
    path = tmp_path / "bench.json"
    benchmark.main(["seed-network", "--repeat", "1", "--compare", "torch", "--json", str(path)])
    summary = json.loads(path.read_text())["summary"]
    try:
        import torch  # noqa: F401
    except ImportError:
        assert "PyTorch is not installed" in capsys.readouterr().err
        assert all("torch" not in line for line in summary)
    else:
        assert summary[0]["torch"] > 0 and math.isfinite(summary[0]["torch_ratio"])


def test_compare_jax_adds_a_column_or_says_it_cannot(tmp_path):
    # a child process: JAX, once imported, warns at every fork (and other tests fork)
    path = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, "-m", "fastnn", "bench", "seed-network", "predict",
                             "--repeat", "1", "--compare", "jax", "--json", str(path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(path.read_text())["summary"]
    if importlib.util.find_spec("jax") is None:
        assert "JAX is not installed (pip install jax): column skipped" in result.stderr
        assert all("jax" not in line for line in summary)
    else:
        assert all(line["jax"] > 0 and math.isfinite(line["jax_ratio"]) for line in summary)
        assert "vs jax" in result.stdout.splitlines()[0] and "jax: JAX jit" in result.stdout


def test_compare_jax_without_jax_says_so(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "jax", None)          # import jax fails
    assert benchmark.main(["seed-network", "--repeat", "1", "--compare", "jax"]) == 0
    out, err = capsys.readouterr()
    assert "JAX is not installed (pip install jax): column skipped" in err
    assert "vs jax" not in out


@pytest.mark.parametrize("seconds,text", [(999.6e-9, "1.00us"), (999.4e-9, "999ns"),
                                          (1.2345e-3, "1.23ms"), (12.5e-6, "12.5us"),
                                          (3e-10, "0.300ns"), (1500.0, "1500s"), (0.0, "0.00ns")])
def test_durations_are_written_without_exponents(seconds, text):
    assert benchmark._time(seconds) == text


def test_help_and_descriptions_explain_without_outside_files(capsys):
    with pytest.raises(SystemExit):
        benchmark.main(["--help"])
    help_text = capsys.readouterr().out
    for column in ("thr", "spread (min-max)", "ratio", "GFLOP/s", "of GEMM", "vs SGD",
                   "vs jax"):
        assert column in help_text
    for text in [help_text] + [w.description for w in workloads.WORKLOADS]:
        assert "SPEC" not in text and "tutorial" not in text


@pytest.mark.parametrize("args,message", [(["--threads", "0"], "--threads"),
                                          (["--threads", "two"], "--threads"),
                                          (["no-such-workload"], "no workload matches"),
                                          (["--repeat", "0", "predict"], "--repeat")])
def test_bad_options_are_refused(args, message, capsys):
    with pytest.raises(SystemExit):
        benchmark.main(args)
    assert message in capsys.readouterr().err


def test_module_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "fastnn", "bench", "--list"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "mnist-b256" in result.stdout
