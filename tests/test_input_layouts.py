"""Every layout of the same numbers gives the same results: lists, int and bool arrays,
big-endian, Fortran-ordered, strided, read-only and memory-mapped arrays."""
import numpy as np
import pytest

from fastnn import Network


def layouts(X, tmp_path):
    mapped = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=X.dtype, shape=X.shape)
    mapped[...] = X
    mapped.flush()
    read_only = X.copy()
    read_only.flags.writeable = False
    wide = np.zeros((X.shape[0], 2 * X.shape[1]))
    wide[:, ::2] = X
    return {"list": X.tolist(), "big-endian": X.astype(">f8"), "fortran": np.asfortranarray(X),
            "strided": wide[:, ::2], "read-only": read_only,
            "memmap": np.load(tmp_path / "X.npy", mmap_mode="r"), "float32": X.astype(np.float32),
            "int": X.astype(np.int64), "bool": X.astype(bool)}


@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_every_layout_gives_the_same_predictions_and_training(tmp_path, backend):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 2, (12, 3)).astype(np.float64)     # exact in every dtype above
    y = rng.uniform(0, 1, (12, 2))
    expected = Network([3, 4, 2], seed=0, backend=backend)
    reference_prediction = expected.predict(X)
    expected.fit(X, y, epochs=3, batch_size=4, seed=1)
    for name, variant in layouts(X, tmp_path).items():
        net = Network([3, 4, 2], seed=0, backend=backend)
        np.testing.assert_array_equal(net.predict(variant), reference_prediction, err_msg=name)
        net.fit(variant, y, epochs=3, batch_size=4, seed=1)
        np.testing.assert_array_equal(net.parameters, expected.parameters, err_msg=name)
