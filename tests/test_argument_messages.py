"""Arguments the public API cannot use are refused before training starts, by a
ValueError or TypeError that names the argument and says what is wrong: counts beyond
what the kernels take, numbers too large for a float, values that overflow float32,
loss inputs that are not arrays of real numbers."""
from fractions import Fraction

import numpy as np
import pytest

import fastnn
from fastnn import Network
from helpers import LyingInt


X, Y = [[0.0, 1.0], [1.0, 0.0]], [0.0, 1.0]


@pytest.fixture(params=["compiled", "numpy"])
def backend(request):
    return request.param

BAD_FIT = {
    "batch_size 2**63": ({"batch_size": 2**63}, ["batch_size", "<= 9223372036854775807",
                                                 "9223372036854775808"]),
    "batch_size 10**5000": ({"batch_size": 10**5000}, ["batch_size", "integer of 16610 bits"]),
    "epochs 2**63": ({"epochs": 2**63}, ["epochs", "<= 9223372036854775807"]),
    "patience 2**64": ({"patience": 2**64}, ["patience", "<="]),
    "batch_size a lying 0": ({"batch_size": LyingInt(0)}, ["batch_size", ">= 1", "got 0"]),
    "epochs a lying -5": ({"epochs": LyingInt(-5)}, ["epochs", ">= 1", "got -5"]),
    "learning_rate 10**400": ({"learning_rate": 10**400}, ["learning_rate", "too large for a float"]),
    "learning_rate -10**400": ({"learning_rate": -10**400}, ["learning_rate", "> 0"]),
    "learning_rate a huge Fraction": ({"learning_rate": Fraction(10**400, 3)},
                                      ["learning_rate", "too large for a float"]),
    "target_loss 10**400": ({"target_loss": 10**400}, ["target_loss", "too large for a float"]),
    "min_delta 10**400": ({"min_delta": 10**400}, ["min_delta", "too large for a float"]),
    "seed a lying -1": ({"seed": LyingInt(-1)}, ["seed", ">= 0"]),
}


@pytest.mark.parametrize("case", BAD_FIT)
def test_bad_counts_and_numbers_are_refused_before_training(backend, case, monkeypatch):
    changes, words = BAD_FIT[case]
    net = Network([2, 1], seed=0, backend=backend)
    previous = net.fit(X, Y, epochs=2)           # a history that must stay as it is
    before = net.parameters.copy()

    def train_epochs(*args, **kwargs):
        raise AssertionError("the training kernel was called")

    monkeypatch.setattr(fastnn.BACKENDS[backend], "train_epochs", train_epochs)
    with pytest.raises(ValueError) as info:
        net.fit(X, Y, **{"epochs": 1, **changes})
    for word in words:
        assert word in str(info.value), str(info.value)
    assert not isinstance(info.value, OverflowError)
    assert net.history is previous
    np.testing.assert_array_equal(net.parameters, before)


def test_the_largest_counts_are_accepted(backend):
    net = Network([2, 1], seed=0, backend=backend)
    history = net.fit(X, Y, epochs=2, batch_size=2**63 - 1, target_loss=10**300)
    assert history.epochs == 1 and history.stopped == "target_loss"


@pytest.mark.parametrize("where", ["X", "y", "X_val", "y_val"])
def test_a_value_that_overflows_float32_is_named_as_such(backend, where):
    net = Network([2, 1], dtype="float32", backend=backend)
    data = {"X": np.array(X), "y": np.array(Y), "X_val": np.array(X), "y_val": np.array(Y)}
    data[where] = data[where] * 1e39 + 1e39
    before = net.parameters.copy()
    with pytest.raises(ValueError) as info:
        net.fit(data["X"], data["y"], epochs=1, validation_data=(data["X_val"], data["y_val"]))
    message = str(info.value)
    assert message.startswith(where + " ") and "overflows float32" in message, message
    assert "2e+39" in message and "NaN" not in message
    np.testing.assert_array_equal(net.parameters, before)
    with pytest.raises(ValueError, match="overflows float32"):
        net.predict([[1e39, 0.0]])


def test_nan_and_infinity_are_still_named_as_such():
    net = Network([2, 1], dtype="float32")
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match="X contains NaN or infinity"):
            net.predict([[bad, 1e39]])


LOSSES = [fastnn.losses.mse, fastnn.losses.binary_cross_entropy,
          fastnn.losses.categorical_cross_entropy]


@pytest.mark.parametrize("loss", LOSSES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("y_true,y_pred,name,words", [
    (None, None, "y_true", ["None"]),
    ([1.0], None, "y_pred", ["None"]),
    ("1", "2", "y_true", ["real numbers", "<U1"]),
    ([0.5], ["a"], "y_pred", ["real numbers"]),
    (np.array([object()]), [1.0], "y_true", ["real numbers", "object"]),
    ([1.0], [1 + 2j], "y_pred", ["real numbers", "complex128"]),
])
def test_loss_functions_refuse_what_is_not_an_array_of_real_numbers(loss, y_true, y_pred,
                                                                    name, words):
    with pytest.raises(TypeError) as info:
        loss(y_true, y_pred)
    assert str(info.value).startswith(name)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("loss", LOSSES, ids=lambda f: f.__name__)
def test_loss_functions_take_lists_bools_and_ints(loss):
    assert np.isfinite(loss([[1, 0]], [[0.75, 0.25]]))
    assert np.isfinite(loss(np.array([[True, False]]), np.array([[1, 0]], np.int8)))
    assert fastnn.losses.mse([1, 0, 0, 1], [0, 0, 0, 0]) == 0.5


@pytest.mark.parametrize("labels", [[np.inf, 1.0], [np.nan, 0.0], [0.5, 1.0]])
def test_labels_that_are_not_whole_numbers_are_named_without_a_warning(labels):
    # inf and NaN labels once raised NumPy's "invalid value encountered in remainder"
    net = Network([3, 2, 2], output="softmax", seed=0)
    with pytest.raises(ValueError, match=r"y as class labels must be integers in \[0, 2\), "
                                         r"got (inf|nan|0\.5), which is not an integer"):
        net.fit(np.zeros((2, 3)), np.array(labels), epochs=1)
