"""The JAX peer of `bench --compare jax` trains the same run as fastnn: its final
parameters are held to fastnn's compiled fit (skipped without JAX). JAX runs in a
child process: once imported it warns at every fork, and other tests fork."""
import importlib.util
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                                reason="JAX is not installed")


def run_with_jax(code):
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_jax_runs_match_fastnn_and_a_different_run_fails_the_check():
    out = run_with_jax("""
        import numpy as np
        from fastnn import _jax_workloads as J
        for name, dtype in [("seed-network", np.float64), ("digits", np.float64),
                            ("digits", np.float32), ("predict", np.float64),
                            ("mnist-b256", np.float32), ("mnist-b32", np.float64)]:
            J.SETUPS[name](dtype, quick=True).check()
            print("ok", name, dtype.__name__)
        case = J.seed_network(np.float64, epochs=10)
        case.run = J.seed_network(np.float64, epochs=11).run      # one epoch more
        try:
            case.check()
        except AssertionError as error:
            assert "differ from fastnn" in str(error)
            print("caught")
    """)
    assert out.count("ok ") == 6 and "caught" in out
