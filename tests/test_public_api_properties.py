"""Random valid and invalid arrays through the public API, on both backends: every call
either works or raises ValueError/TypeError, and a rejected call changes nothing: not
the network (parameters and history, bit for bit) and not the caller's arrays (values
and flags)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastnn import Network

DTYPES = [np.float64, np.float32, ">f8", np.int32, np.int64, np.bool_, np.uint8,
          np.complex128, np.float16]


@st.composite
def arrays(draw, n_features=3):
    dtype = draw(st.sampled_from(DTYPES))
    ndim = draw(st.sampled_from([0, 1, 2, 2, 2, 3]))
    shape = tuple(draw(st.integers(0, 5)) for _ in range(ndim))
    if ndim == 2 and draw(st.booleans()):
        shape = (shape[0], n_features)
    elements = None
    if np.dtype(dtype).kind == "f":
        elements = st.floats(allow_nan=True, allow_infinity=True,
                             width=min(64, np.dtype(dtype).itemsize * 8))
    array = draw(hnp.arrays(dtype, shape, elements=elements))
    layout = draw(st.sampled_from(["c", "fortran", "strided", "read_only"]))
    if layout == "fortran":
        array = np.asfortranarray(array)
    elif layout == "strided" and array.ndim >= 1:
        wide = np.repeat(array, 2, axis=-1)
        array = wide[..., ::2]
    elif layout == "read_only":
        array = array.copy()
        array.flags.writeable = False
    return array


def snapshot(array):
    return np.array(array, copy=True), array.flags.writeable, array.flags.c_contiguous


def unchanged(array, snap):
    values, writeable, contiguous = snap
    assert array.flags.writeable == writeable and array.flags.c_contiguous == contiguous
    np.testing.assert_array_equal(array, values)


@pytest.mark.parametrize("backend", ["compiled", "numpy"])
@pytest.mark.parametrize("call", ["fit", "predict", "evaluate", "gradients"])
@given(X=arrays(), y=arrays())
def test_any_arrays_through_the_public_api(backend, call, X, y):
    net = Network([3, 4, 2], seed=0, backend=backend)
    params, history = net.parameters.copy(), net.history
    x_snap, y_snap = snapshot(X), snapshot(y)
    try:
        if call == "fit":
            net.fit(X, y, epochs=2, batch_size=2, learning_rate=0.01)
        elif call == "predict":
            net.predict(X)
        elif call == "evaluate":
            net.evaluate(X, y)
        else:
            net.gradients(X, y)
    except (ValueError, TypeError):
        np.testing.assert_array_equal(net.parameters, params)
        assert net.history is history
    else:
        assert call != "fit" or np.all(np.isfinite(net.parameters))
    unchanged(X, x_snap)
    unchanged(y, y_snap)
