"""Random valid and invalid arrays through the public API, on both backends: every call
either works or raises ValueError/TypeError, and a rejected call changes nothing: not
the network (parameters and history, bit for bit) and not the caller's arrays (values
and flags)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastnn import Network, TrainingDivergedError

DTYPES = [np.float64, np.float32, ">f8", np.int32, np.int64, np.bool_, np.uint8,
          np.complex128, np.float16]


@st.composite
def arrays(draw, n_features=3, n_samples=None):
    """Arrays of any dtype, shape and layout; often (n_samples, n_features) exactly."""
    dtype = draw(st.sampled_from(DTYPES))
    ndim = draw(st.sampled_from([0, 1, 2, 2, 2, 3]))
    shape = tuple(draw(st.integers(0, 5)) for _ in range(ndim))
    if ndim == 2 and draw(st.booleans()):
        shape = (shape[0] if n_samples is None else n_samples, n_features)
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


@st.composite
def any_samples_and_targets(draw):
    """X for a 3-input network and y for its 2 outputs, often of the same length."""
    n_samples = draw(st.integers(0, 5))
    return (draw(arrays(n_features=3, n_samples=n_samples)),
            draw(arrays(n_features=2, n_samples=n_samples)))


@st.composite
def valid_samples_and_targets(draw):
    """Finite real X (n, 3) and y (n, 2) in any accepted dtype and layout."""
    n_samples = draw(st.integers(1, 5))
    pair = []
    for n_features in (3, 2):
        dtype = draw(st.sampled_from([np.float64, np.float32, ">f8", np.int32, np.bool_]))
        elements = (st.floats(-1e3, 1e3, width=32) if np.dtype(dtype).kind == "f" else None)
        array = draw(hnp.arrays(dtype, (n_samples, n_features), elements=elements))
        if draw(st.booleans()):
            array = np.asfortranarray(array)
        pair.append(array)
    return tuple(pair)


def samples_and_targets():
    return st.one_of(valid_samples_and_targets(), any_samples_and_targets())


@pytest.mark.parametrize("backend", ["compiled", "numpy"])
@pytest.mark.parametrize("call", ["fit", "predict", "evaluate", "gradients"])
@given(data=samples_and_targets())
def test_any_arrays_through_the_public_api(backend, call, data):
    X, y = data
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
    except TrainingDivergedError:       # documented: huge targets overflow the loss
        assert call == "fit" and np.all(np.isfinite(net.parameters))
    except (ValueError, TypeError):
        np.testing.assert_array_equal(net.parameters, params)
        assert net.history is history
    else:
        # only real samples of 3 finite features get here
        assert X.shape[-1] == 3 and X.size > 0 and np.all(np.isfinite(X))
        assert call != "fit" or np.all(np.isfinite(net.parameters))
    unchanged(X, x_snap)
    unchanged(y, y_snap)
