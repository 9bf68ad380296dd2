"""The JAX peer of `bench --compare jax` trains the same run as fastnn: its final
parameters are held to fastnn's compiled fit (skipped without JAX)."""
import numpy as np
import pytest

pytest.importorskip("jax")

from fastnn import _jax_workloads  # noqa: E402


@pytest.mark.parametrize("name,dtype", [("seed-network", np.float64), ("digits", np.float64),
                                        ("digits", np.float32), ("predict", np.float64),
                                        ("mnist-b256", np.float32)])
def test_jax_run_matches_fastnn(name, dtype):
    case = _jax_workloads.SETUPS[name](dtype, quick=True)
    case.check()


def test_a_different_run_fails_the_check():
    case = _jax_workloads.seed_network(np.float64, epochs=10)
    other = _jax_workloads.seed_network(np.float64, epochs=11)
    case.run = other.run                              # JAX trains one epoch more
    with pytest.raises(AssertionError, match="differ from fastnn"):
        case.check()
