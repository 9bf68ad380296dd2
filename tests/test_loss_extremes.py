"""Cross-entropies from logits of any finite size: finite, exact where float64 can hold
the value, never NaN from a target of 0 times an infinite gap; NaN only from non-finite
logits. Both backends, float32 and float64, and Network.evaluate on top of them."""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conftest import _kernels as K
from conftest import _reference as R
from fastnn import Layer, Network

EXTENDED = np.finfo(np.longdouble).max > 1e309        # x86-64: 80-bit long double
BIG = {np.float32: float(np.finfo(np.float32).max), np.float64: float(np.finfo(np.float64).max)}


@pytest.fixture(params=[K, R], ids=["compiled", "numpy"])
def backend(request):
    return request.param


def quietly(call, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call(*args)


def test_a_zero_target_adds_nothing_however_far_its_logit(backend, dtype):
    big = 0.9 * BIG[dtype]
    z = np.array([[big, -big]], dtype)
    y = np.array([[1, 0]], dtype)
    assert quietly(backend.softmax_cce_loss, y, z) == 0.0
    # the true value 1.8 * big fits a float64 for float32 logits
    expected = 2 * big if dtype == np.float32 else BIG[np.float64]
    assert quietly(backend.softmax_cce_loss, y[:, ::-1].copy(), z) == pytest.approx(expected)


def test_the_issue_example_is_zero(backend):
    assert quietly(backend.softmax_cce_loss, np.array([[1.0, 0.0]]),
                   np.array([[1e308, -1e308]])) == 0.0


@pytest.mark.parametrize("y", [0.0, 0.5, 1.0])
def test_sums_of_huge_losses_do_not_overflow(backend, y):
    # every term is about 1e308, so is their mean; their sum is not a float64
    z = np.array([[1e308, 1.5e308], [-1e308, 1e308]])
    targets = np.array([[1 - y, 1 - y], [y, 1 - y]])
    bce = quietly(backend.sigmoid_bce_loss, targets, z)
    zl, yl = z.astype(np.longdouble), targets.astype(np.longdouble)
    exact = float(np.mean(np.maximum(zl, 0) - zl * yl)) if EXTENDED else bce
    assert np.isfinite(bce) and bce == pytest.approx(exact, rel=1e-12)
    cce_rows = np.array([[0.0, 1.0], [0.0, 1.0]])
    logits = np.array([[1e308, 0.0], [1.5e308, 0.0]])
    assert quietly(backend.softmax_cce_loss, cce_rows, logits) == pytest.approx(1.25e308)


def test_a_row_loss_beyond_the_float64_range_is_the_largest_float64(backend):
    z = np.array([[1.7e308, -1.7e308]])
    assert quietly(backend.softmax_cce_loss, np.array([[0.0, 1.0]]), z) == BIG[np.float64]
    # a partial target: 0.25 * 3.4e308 is a float64, found without forming the gap
    assert quietly(backend.softmax_cce_loss, np.array([[0.75, 0.25]]), z) == \
        pytest.approx(0.25 * 1.7e308 * 2)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_a_non_finite_logit_gives_nan_whatever_the_target(backend, dtype, bad):
    z = np.array([[0.0, bad]], dtype)
    for y in ([[1, 0]], [[0, 1]], [[0, 0]]):
        y = np.array(y, dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert np.isnan(backend.sigmoid_bce_loss(y, z))
            assert np.isnan(backend.softmax_cce_loss(y, z))


@pytest.mark.parametrize("backend_name", ["compiled", "numpy"])
def test_evaluate_with_finite_weights_is_finite(backend_name):
    net = Network([1, Layer(2, "softmax")], weights=[[[1e308, -1e308]]], biases=[[0.0, 0.0]],
                  backend=backend_name)
    assert net.evaluate([[1.0]], [0]) == {"loss": 0.0, "accuracy": 1.0}
    net = Network([1, Layer(2, "sigmoid")], weights=[[[1e308, 1.5e308]]], biases=[[0.0, 0.0]],
                  backend=backend_name)
    assert net.evaluate([[1.0]], [[0.0, 0.0]], loss="bce")["loss"] == pytest.approx(1.25e308)


# -- property: finite, and equal to the value computed in extended precision ------------

def _extended_bce(y, z):
    y, z = y.astype(np.longdouble), z.astype(np.longdouble)
    return np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))


def _extended_cce(y, z):
    y, z = y.astype(np.longdouble), z.astype(np.longdouble)
    zmax = z.max(axis=1, keepdims=True)
    lse = zmax + np.log(np.exp(z - zmax).sum(axis=1, keepdims=True))
    rows = np.where(y != 0, y * (lse - z), 0).sum(axis=1)
    return np.mean(np.minimum(rows, BIG[np.float64]))     # a row beyond float64: its max


@st.composite
def logits_and_targets(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 5)))
    width, big = np.dtype(dtype).itemsize * 8, BIG[dtype]
    huge = st.sampled_from([big, -big, big / 2, -big / 2, 0.9 * big, -0.9 * big])
    z = draw(hnp.arrays(dtype, shape, elements=st.one_of(
        huge, st.floats(allow_nan=False, allow_infinity=False, width=width))))
    y = draw(hnp.arrays(dtype, shape, elements=st.one_of(
        st.sampled_from([0.0, 1.0]), st.floats(0, 1, width=np.dtype(dtype).itemsize * 8))))
    return y, z


@pytest.mark.parametrize("backend", [K, R], ids=["compiled", "numpy"])
@pytest.mark.parametrize("loss,extended", [("sigmoid_bce_loss", _extended_bce),
                                           ("softmax_cce_loss", _extended_cce)])
@given(data=logits_and_targets())
def test_cross_entropies_are_finite_and_exact_for_any_finite_logits(backend, loss, extended,
                                                                    data):
    y, z = data
    value = quietly(getattr(backend, loss), y, z)
    assert np.isfinite(value), (y, z, value)
    if EXTENDED:
        with np.errstate(all="ignore"):
            expected = float(extended(y, z))
        # rounding of terms as large as the largest logit, in double
        tolerance = 64 * z.shape[1] * np.finfo(np.float64).eps * (np.abs(z).max() + 1)
        assert abs(value - expected) <= tolerance, (y, z, value, expected)
