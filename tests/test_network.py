"""The Network API: construction, parameters, forward, fit, evaluate, save and load."""
import numpy as np
import pytest

import fastnn
from fastnn import Layer, ModelFormatError, Network, TrainingDivergedError


def blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    X = rng.standard_normal((n, 2)) * 0.5 + np.array([[0, 3], [3, 0], [-3, -3]])[labels]
    return X, labels


def test_repr_shows_the_architecture_and_builds_the_same_network():
    assert repr(Network([2, 2, 1])) == "Network([2, 2, 1], activation='sigmoid', dtype=float64)"
    net = Network([4, Layer(8, "relu"), Layer(3, "softmax")], dtype="float32", backend="numpy")
    assert repr(net) == ("Network([4, 8, 3], activation='relu', output='softmax', "
                         "dtype=float32, backend='numpy')")
    assert repr(Network([4, 8, 1], activation="relu")) == \
        "Network([4, 8, 1], activation='relu', dtype=float64)"
    mixed = Network([4, Layer(8, "relu"), Layer(5, "tanh"), 1])
    assert repr(mixed) == ("Network([4, Layer(size=8, activation='relu'), Layer(size=5, "
                           "activation='tanh'), Layer(size=1, activation='sigmoid')], "
                           "dtype=float64)")
    for network in (net, mixed, Network([4, 8, 2], activation="tanh", output="tanh"),
                    Network([3, 1], activation="relu")):
        from numpy import float32, float64  # noqa: F401  (names in the repr)
        again = eval(repr(network))
        assert again.layer_sizes == network.layer_sizes
        assert again.activations == network.activations


@pytest.mark.parametrize("layers, kwargs, expected", [
    # the hidden-layer activations get an identity output (regression) ...
    ([13, 32, 1], {"activation": "relu"}, ["relu", "identity"]),
    ([13, 32, 16, 2], {"activation": "leaky_relu"}, ["leaky_relu", "leaky_relu", "identity"]),
    ([13, 32, 1], {"activation": "tanh"}, ["tanh", "identity"]),
    # ... the output activations keep themselves: the tutorials' all-sigmoid network
    ([2, 2, 1], {}, ["sigmoid", "sigmoid"]),
    ([2, 2, 1], {"activation": "sigmoid"}, ["sigmoid", "sigmoid"]),
    ([1, 3, 1], {"activation": "identity"}, ["identity", "identity"]),
    ([2, 2, 1], {"activation": "step"}, ["step", "step"]),
    # given explicitly, by output= or by a Layer
    ([64, 32, 10], {"activation": "relu", "output": "softmax"}, ["relu", "softmax"]),
    ([30, 16, 1], {"activation": "relu", "output": "sigmoid"}, ["relu", "sigmoid"]),
    ([2, 2, 1], {"activation": "sigmoid", "output": "identity"}, ["sigmoid", "identity"]),
    ([4, 8, 2], {"activation": "tanh", "output": "tanh"}, ["tanh", "tanh"]),
    ([4, 8, Layer(3, "softmax")], {"activation": "relu"}, ["relu", "softmax"]),
    ([4, 8, Layer(3, "relu")], {"activation": "relu"}, ["relu", "relu"]),
    ([4, 8, Layer(3, "softmax")], {"activation": "relu", "output": "softmax"}, ["relu", "softmax"]),
    # no hidden layer: activation is the one layer's
    ([3, 1], {"activation": "relu"}, ["relu"]),
    ([2, 1], {"activation": "step"}, ["step"]),
    ([3, 4], {"activation": "relu", "output": "softmax"}, ["softmax"]),
])
def test_the_output_activation_follows_the_stated_rule(layers, kwargs, expected):
    assert Network(layers, **kwargs).activations == expected


@pytest.mark.parametrize("layers, kwargs, words", [
    ([4, 8, Layer(3, "softmax")], {"output": "sigmoid"},
     ["output='sigmoid'", "contradicts", "softmax"]),
    ([4, 8, 3], {"output": "gelu"}, ["output", "gelu", "'softmax'"]),
])
def test_an_output_contradicting_the_layers_is_refused(layers, kwargs, words):
    with pytest.raises(ValueError) as info:
        Network(layers, **kwargs)
    for word in words:
        assert word in str(info.value)


def test_a_loss_needing_another_output_says_how_to_build_it():
    net = Network([4, 8, 3], activation="relu")
    with pytest.raises(ValueError) as info:
        net.fit(np.zeros((2, 4)), [0, 1], loss="cce")
    message = str(info.value)
    assert "needs a softmax output layer" in message and "output='softmax'" in message
    assert "Network([4, 8, 3], activation='relu', output='softmax')" in message
    assert net.history is None


def test_a_relu_regression_network_predicts_below_zero():
    """The regression a relu output could not do: no prediction stuck at exactly 0."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    net = Network([3, 16, 1], activation="relu", seed=0)
    net.fit(X, y, epochs=100, batch_size=16, learning_rate=0.01)
    p = net.predict(X)
    assert np.mean(p == 0) == 0 and p.min() < -1
    assert 1 - np.sum((p - y) ** 2) / np.sum((y - y.mean()) ** 2) > 0.9


@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_predict_drops_the_output_axis_of_a_one_output_network(backend):
    net = Network([2, 3, 1], seed=0, backend=backend)
    X = np.array([[0.5, -1.0], [2.0, 0.0], [1.0, 1.0]])
    raw = net.feedforward(X)
    assert raw.shape == (3, 1)
    p = net.predict(X)
    assert p.shape == (3,) and p.dtype == np.float64 and p.base is not None   # a view
    np.testing.assert_array_equal(p, raw[:, 0])
    one = net.predict(X[1])                          # one sample: its row of outputs
    assert one.shape == (1,) and one[0] == raw[1, 0]
    assert net.feedforward(X[1]).shape == (1,)
    # the mistake of the issue: comparing (n, 1) with (n,) broadcast to (n, n)
    y = np.array([1, 0, 1])
    assert ((p > 0.5) == y).shape == (3,)


@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_predict_keeps_the_output_axis_of_a_several_output_network(backend):
    net = Network([2, 3, 4], seed=0, backend=backend)
    X = np.array([[0.5, -1.0], [2.0, 0.0]])
    np.testing.assert_array_equal(net.predict(X), net.feedforward(X))
    assert net.predict(X).shape == (2, 4) and net.predict(X[0]).shape == (4,)


def test_predict_proba_and_classes_of_a_softmax_network():
    X, labels = blobs()
    net = Network([2, 8, 3], activation="relu", output="softmax", seed=0)
    net.fit(X, labels, epochs=30, batch_size=8, learning_rate=0.05)
    proba = net.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-12)
    classes = net.predict_classes(X)
    assert classes.shape == (len(X),) and classes.dtype.kind == "i"
    np.testing.assert_array_equal(classes, np.argmax(proba, 1))
    assert np.mean(classes == labels) > 0.95
    assert net.predict_classes(X[0]) == classes[0]
    np.testing.assert_array_equal(net.predict_proba(X[0]), proba[0])


def test_predict_proba_and_classes_of_a_one_sigmoid_network_match_scikit_learn_shapes():
    X, labels = blobs()
    y = (labels == 0).astype(float)
    net = Network([2, 8, 1], activation="relu", output="sigmoid", seed=0)
    net.fit(X, y, epochs=30, batch_size=8, loss="bce")
    p = net.predict(X)
    proba = net.predict_proba(X)
    assert proba.shape == (len(X), 2)                     # classes 0 and 1, as scikit-learn
    np.testing.assert_array_equal(proba[:, 1], p)
    np.testing.assert_allclose(proba[:, 0], 1 - p)
    classes = net.predict_classes(X)
    np.testing.assert_array_equal(classes, (p > 0.5).astype(int))
    assert classes.shape == (len(X),) and np.mean(classes == y) > 0.95


def test_predict_classes_of_several_sigmoids_is_multi_label():
    net = Network([2, 4, 3], seed=0)                      # sigmoid throughout
    X = np.array([[0.5, -1.0], [2.0, 0.0]])
    out = net.feedforward(X)
    np.testing.assert_array_equal(net.predict_classes(X), (out > 0.5).astype(int))
    np.testing.assert_array_equal(net.predict_proba(X), out)


@pytest.mark.parametrize("method", ["predict_proba", "predict_classes"])
def test_class_predictions_need_a_classification_output(method):
    net = Network([2, 4, 1], activation="relu")           # identity output
    with pytest.raises(ValueError) as info:
        getattr(net, method)([[0.0, 1.0]])
    assert method in str(info.value) and "'identity'" in str(info.value)
    assert "output='softmax'" in str(info.value)


@pytest.mark.parametrize("layers,words", [
    ([2], ["layers", "at least one layer"]), ("221", ["layers"]), ([2, 0, 1], ["layers[1]", ">= 1"]),
    ([2, 2.5, 1], ["layers[1]", "2.5"]), ([2, Layer(3, "gelu")], ["layers[1].activation", "gelu"]),
    ([Layer(2, "relu"), 1], ["input size"]), ([2, Layer(3, "softmax"), 1], ["softmax", "output"]),
])
def test_bad_architectures_are_refused(layers, words):
    with pytest.raises(ValueError) as info:
        Network(layers)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("kwargs,words", [
    ({"activation": "swish"}, ["activation", "swish"]), ({"dtype": np.int32}, ["dtype", "int32"]),
    ({"init": "orthogonal"}, ["init", "orthogonal"]), ({"backend": "gpu"}, ["backend", "gpu"]),
    ({"weights": [np.ones((3, 2)), np.ones((2, 1))]}, ["weights[0]", "(2, 2)", "(3, 2)"]),
    ({"biases": [np.zeros(2)]}, ["biases", "one array per layer"]),
    ({"weights": [np.full((2, 2), np.nan), np.ones((2, 1))]}, ["weights[0]", "NaN"]),
])
def test_bad_options_are_refused(kwargs, words):
    with pytest.raises(ValueError) as info:
        Network([2, 2, 1], **kwargs)
    for word in words:
        assert word in str(info.value)


def test_parameters_live_in_one_flat_buffer_with_per_layer_views():
    net = Network([3, 4, 2], seed=0)
    assert net.parameters.shape == (3 * 4 + 4 + 4 * 2 + 2,)
    assert not net.parameters.flags.writeable
    net.weights[0][0, 0] = 42.0
    assert net.parameters[0] == 42.0
    new = np.arange(net.parameters.size, dtype=float)
    net.parameters = new
    np.testing.assert_array_equal(net.weights[1].ravel(), new[16:24])
    np.testing.assert_array_equal(net.biases[1], new[24:26])
    with pytest.raises(ValueError, match=r"parameters must have shape \(26,\)"):
        net.parameters = np.zeros(25)
    np.testing.assert_array_equal(net.parameters, new)


@pytest.mark.parametrize("init", ["glorot", "he", "normal", "uniform", "zeros"])
def test_initialisation_is_seeded_per_network(init):
    a, b = Network([5, 7, 3], init=init, seed=1), Network([5, 7, 3], init=init, seed=1)
    np.testing.assert_array_equal(a.parameters, b.parameters)
    if init != "zeros":
        assert not np.array_equal(a.parameters, Network([5, 7, 3], init=init, seed=2).parameters)
    if init == "glorot":
        assert np.all(np.abs(a.weights[0]) <= np.sqrt(6 / 12)) and np.all(a.biases[0] == 0)


def test_feedforward_takes_one_sample_or_a_batch(backend):
    net = Network([3, 4, 2], seed=0, backend=backend)
    X = np.random.default_rng(0).standard_normal((5, 3))
    batch = net.feedforward(X)
    assert batch.shape == (5, 2)
    np.testing.assert_allclose(net.feedforward(X[2]), batch[2], rtol=1e-15)
    np.testing.assert_allclose(net.predict(X.tolist()), batch, rtol=1e-15)
    with pytest.raises(ValueError, match="X has 2 features, but this Network expects 3"):
        net.predict(X[:, :2])


def test_float32_end_to_end(backend):
    X, labels = blobs()
    net = Network([2, Layer(8, "tanh"), Layer(3, "softmax")], dtype=np.float32, seed=0,
                  backend=backend)
    history = net.fit(X, labels, epochs=30, learning_rate=0.1, batch_size=8, seed=0)
    assert net.parameters.dtype == np.float32 and net.predict(X).dtype == np.float32
    assert history.loss[-1] < history.loss[0]
    assert net.evaluate(X, labels)["accuracy"] > 0.9


def test_classification_with_integer_labels_and_cce(backend):
    X, labels = blobs()
    net = Network([2, Layer(8, "relu"), Layer(3, "softmax")], seed=0, backend=backend)
    history = net.fit(X, labels, epochs=100, learning_rate=0.1, batch_size=10, seed=0)
    result = net.evaluate(X, labels)
    assert history.loss[-1] < 0.1 and result["accuracy"] == 1.0
    assert result["loss"] == pytest.approx(net.evaluate(X, np.eye(3)[labels])["loss"])
    with pytest.raises(ValueError, match=r"class labels must be integers in \[0, 3\)"):
        net.fit(X, labels + 1, epochs=1)


def test_binary_cross_entropy_with_a_sigmoid_output(backend):
    X, labels = blobs()
    y = (labels == 0).astype(float)
    net = Network([2, 4, 1], seed=0, backend=backend)
    net.fit(X, y, epochs=50, learning_rate=0.5, batch_size=4, loss="bce", seed=0)
    assert net.evaluate(X, y, loss="bce")["accuracy"] == 1.0
    with pytest.raises(ValueError, match="'cce' needs a softmax output layer"):
        net.fit(X, y, loss="cce")


def test_shuffling_is_seeded_and_changes_the_path():
    X, labels = blobs()
    runs = []
    for seed in (1, 1, 2):
        net = Network([2, 5, 3], seed=0)
        runs.append(net.fit(X, np.eye(3)[labels], epochs=5, batch_size=4, seed=seed).loss)
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_history_and_target_loss(backend):
    X, labels = blobs()
    net = Network([2, 6, 3], seed=0, backend=backend)
    history = net.fit(X, np.eye(3)[labels], epochs=300, learning_rate=0.5, batch_size=None,
                      target_loss=0.05)
    assert history.stopped == "target_loss" and history.final_loss < 0.05
    assert all(loss >= 0.05 for loss in history.loss[:-1])
    assert net.history is history and len(history.loss) == history.epochs < 300


def test_verbose_prints_progress_lines(capsys):
    X, labels = blobs()
    Network([2, 3, 3], seed=0).fit(X, np.eye(3)[labels], epochs=20, verbose=5)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[1] for line in lines] == ["5/20", "10/20", "15/20", "20/20"]


@pytest.mark.parametrize("kwargs,words", [
    ({"learning_rate": 0}, ["learning_rate", "> 0"]), ({"learning_rate": float("nan")}, ["learning_rate"]),
    ({"epochs": 0}, ["epochs", ">= 1"]), ({"batch_size": 0}, ["batch_size", ">= 1"]),
    ({"batch_size": -2}, ["batch_size"]), ({"loss": "hinge"}, ["loss", "hinge"]),
    ({"verbose": -1}, ["verbose"]), ({"target_loss": -1}, ["target_loss"]),
])
def test_bad_fit_arguments_are_refused_and_change_nothing(backend, kwargs, words):
    X, labels = blobs()
    net = Network([2, 3, 3], seed=0, backend=backend)
    before = net.parameters.copy()
    with pytest.raises(ValueError) as info:
        net.fit(X, np.eye(3)[labels], **kwargs)
    for word in words:
        assert word in str(info.value)
    np.testing.assert_array_equal(net.parameters, before)
    assert net.history is None


@pytest.mark.parametrize("X,y,exc,words", [
    (None, [1], TypeError, ["X", "None"]),
    ([["a", "b"]], [1], TypeError, ["X", "real numbers"]),
    ([[1.0, np.nan]], [1], ValueError, ["X", "NaN"]),
    ([[1.0, 2.0]], [np.inf], ValueError, ["y", "NaN or infinity"]),
    (np.zeros((0, 2)), np.zeros(0), ValueError, ["at least one sample"]),
    (np.zeros((3, 2)), np.zeros(2), ValueError, ["X and y", "X has 3", "y has 2"]),
    (np.zeros((2, 2, 2)), np.zeros(2), ValueError, ["X", "3-d"]),
    (np.zeros(()), np.zeros(1), ValueError, ["X", "0-d"]),
    (np.zeros((3, 0)), np.zeros(3), ValueError, ["X has 0 features", "expects 2"]),
    ([1.0, 2.0, 3.0], [1, 0, 1], ValueError, ["X has 3 features", "reshape(-1, 2)"]),
    ([[1, 2]], [[1, 2]], ValueError, ["y", "(1, 1)", "(1, 2)"]),
    ([[1 + 2j, 0]], [1], TypeError, ["X", "complex128"]),
])
def test_bad_data_is_refused_and_changes_nothing(backend, X, y, exc, words):
    net = Network([2, 2, 1], seed=0, backend=backend)
    before = net.parameters.copy()
    with pytest.raises(exc) as info:
        net.fit(X, y, epochs=1)
    for word in words:
        assert word in str(info.value)
    np.testing.assert_array_equal(net.parameters, before)


def test_divergence_stops_training_and_keeps_the_last_finite_state(backend):
    X = np.array([[1e3, -1e3], [-1e3, 2e3]])
    y = np.array([[1e3], [-1e3]])
    net = Network([2, 8, 1], activation="identity", seed=0, backend=backend)
    with pytest.raises(TrainingDivergedError, match="reduce learning_rate") as info:
        net.fit(X, y, epochs=200, learning_rate=1.0, batch_size=1, shuffle=False)
    assert info.value.history.stopped == "diverged"
    assert not np.isfinite(info.value.history.loss[-1])
    assert np.all(np.isfinite(net.parameters))


@pytest.mark.parametrize("target_loss", [None, 10.0])
def test_parameters_that_overflow_in_the_last_update_count_as_divergence(backend, target_loss):
    # the epoch's loss (measured before its update) is finite; the update is not
    net = Network([1, 1], activation="identity", weights=[[[1.0]]], biases=[[0.0]],
                  backend=backend)
    with pytest.raises(TrainingDivergedError,
                       match=r"parameters overflowed at epoch 0 \(history.loss\[0\]\)") as info:
        net.fit([[1.0]], [0.0], epochs=1, learning_rate=1e308, target_loss=target_loss)
    assert info.value.history.stopped == "diverged"
    assert info.value.history.loss == [1.0]
    np.testing.assert_array_equal(net.parameters, [1.0, 0.0])


def test_save_and_load_round_trip_exactly(tmp_path, backend):
    net = Network([3, Layer(4, "tanh"), Layer(2, "softmax")], dtype=np.float32, seed=0,
                  backend=backend)
    path = tmp_path / "model.npz"
    net.save(path)
    loaded = Network.load(path, backend=backend)
    assert repr(loaded) == repr(net)
    np.testing.assert_array_equal(loaded.parameters, net.parameters)
    assert loaded.parameters.dtype == np.float32
    X = np.random.default_rng(0).standard_normal((4, 3))
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


def test_saved_files_get_the_permissions_of_an_ordinary_file(tmp_path):
    import os
    import stat
    path = tmp_path / "model.npz"
    Network([2, 2, 1]).save(path)
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_save_replaces_the_file_atomically(tmp_path):
    path = tmp_path / "model.npz"
    Network([2, 2, 1], seed=0).save(path)
    Network([2, 3, 1], seed=1).save(path)
    assert Network.load(path).layer_sizes == [2, 3, 1]
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


@pytest.mark.parametrize("content", [
    b"", b"not a zip", b"PK\x03\x04garbage",
])
def test_loading_a_broken_file_raises_model_format_error(tmp_path, content):
    path = tmp_path / "broken.npz"
    path.write_bytes(content)
    with pytest.raises(ModelFormatError):
        Network.load(path)


def test_loading_refuses_pickles_and_wrong_contents(tmp_path):
    objects = tmp_path / "objects.npz"
    np.savez(objects, header=np.array([{"format": "fastnn"}], dtype=object), params=np.zeros(9))
    with pytest.raises(ModelFormatError, match="JSON string, got object"):
        Network.load(objects)         # refused from its .npy header: nothing is unpickled
    extra = tmp_path / "extra.npz"
    np.savez(extra, header=np.array("{}"), params=np.zeros(9), more=np.zeros(1))
    with pytest.raises(ModelFormatError, match=r"expected the arrays header, params and \(optionally\) optimizer_state"):
        Network.load(extra)
    wrong = tmp_path / "wrong.npz"
    net = Network([2, 2, 1])
    net.save(wrong)
    with np.load(wrong) as archive:
        header = archive["header"]
    np.savez(wrong, header=header, params=np.zeros(8))
    with pytest.raises(ModelFormatError, match=r"shape \(9,\)"):
        Network.load(wrong)


BAD_PARAMETERS = {
    "beyond float32": (lambda net: setattr(net, "parameters", [1e39, 0.0]), ValueError,
                       ["parameters", "too large for float32"]),
    "weight beyond float32": (lambda net: net.set_parameters(weights=[[[1e39]]]), ValueError,
                              ["weights[0]", "too large for float32"]),
    "nan bias": (lambda net: net.set_parameters(biases=[[np.nan]]), ValueError,
                 ["biases[0]", "NaN"]),
    "ragged": (lambda net: setattr(net, "parameters", [[1.0], [2.0, 3.0]]), ValueError,
               ["parameters", "rectangular"]),
    "strings": (lambda net: setattr(net, "parameters", ["a", "b"]), TypeError,
                ["parameters", "real numbers"]),
    "wrong shape": (lambda net: net.set_parameters(weights=[[[1.0, 2.0]]]), ValueError,
                    ["weights[0]", "(1, 1)", "(1, 2)"]),
}


@pytest.mark.parametrize("case", BAD_PARAMETERS)
def test_bad_parameters_are_refused_after_conversion_and_change_nothing(case):
    net = Network([1, 1], dtype=np.float32, seed=0)
    before = net.parameters.copy()
    change, exc, words = BAD_PARAMETERS[case]
    with pytest.raises(exc) as info:
        change(net)
    for word in words:
        assert word in str(info.value)
    np.testing.assert_array_equal(net.parameters, before)


@pytest.mark.parametrize("make, exc, words", [
    (lambda: fastnn.Neuron(weights=[1, 2], bias=[1, 2]), ValueError, ["bias", "one number", "(2,)"]),
    (lambda: fastnn.Neuron(weights=["a", "b"]), TypeError, ["weights", "real numbers"]),
    (lambda: fastnn.Neuron(weights=[1, 2], bias=None), TypeError, ["bias", "None"]),
    (lambda: Network([2, 1], seed=-1), ValueError, ["seed", "-1"]),
    (lambda: Network([2, 1], seed=1.5), ValueError, ["seed", "1.5"]),
    (lambda: Network([2, 1]).fit([[0, 0]], [0], epochs=1, seed=-3), ValueError, ["seed", "-3"]),
])
def test_bad_construction_arguments_are_named(make, exc, words):
    with pytest.raises(exc) as info:
        make()
    for word in words:
        assert word in str(info.value)


def test_neuron_is_the_one_neuron_network():
    neuron = fastnn.Neuron(weights=[0, 1], bias=4)
    assert neuron.feedforward([2, 3]) == pytest.approx(0.9990889488055994, abs=1e-15)
    np.testing.assert_allclose(neuron.feedforward([[2, 3], [0, 0]]),
                               [0.9990889488055994, 1 / (1 + np.exp(-4))], rtol=1e-15)
    assert repr(neuron) == "Neuron(weights=[0.0, 1.0], bias=4.0, activation='sigmoid')"
    with pytest.raises(ValueError, match="weights"):
        fastnn.Neuron(weights=[[1, 2]], bias=0)


def test_demo_prints_the_tutorial_numbers(capsys):
    from fastnn import demo
    demo.run()
    out = capsys.readouterr().out
    for number in ["0.9990889488055994", "0.7216325609518421", "= 0.5",
                   "0.5236951740839997", "0.02146953526581", "Emily", "w = 2.2100"]:
        assert number in out


def _archive(path, members, compression=None):
    import zipfile
    with zipfile.ZipFile(path, "w", compression or zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name, data)


def _npy(array):
    import io as _io
    buffer = _io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _npy_header_only(shape, descr="<f8"):
    """A .npy header declaring `shape` and `descr`, with no data behind it."""
    import io as _io
    buffer = _io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


#: A version 2 header's optimizer fields: Adam with its state (18 values for 9 parameters).
_ADAM = {"version": 2, "optimizer": {"name": "adam"},
         "optimizer_state": {"step": 3, "epoch": 3, "samples": 12}, "plateau": None}


def _header(**changes):
    import json
    header = {"format": "fastnn", "version": 1, "layer_sizes": [2, 2, 1],
              "activations": ["sigmoid", "sigmoid"], "dtype": "float64", **changes}
    return _npy(np.array(json.dumps(header)))


HOSTILE = {
    "huge declared shape": {"header.npy": _header(), "params.npy": _npy_header_only((10**12,))},
    "huge architecture": {"header.npy": _header(layer_sizes=[100000, 100000, 1]),
                          "params.npy": _npy(np.zeros(9))},
    "negative size": {"header.npy": _header(layer_sizes=[2, -2, 1]), "params.npy": _npy(np.zeros(9))},
    "float size": {"header.npy": _header(layer_sizes=[2, 2.0, 1]), "params.npy": _npy(np.zeros(9))},
    "unknown activation": {"header.npy": _header(activations=["sigmoid", "gelu"]),
                           "params.npy": _npy(np.zeros(9))},
    "wrong version": {"header.npy": _header(version=3), "params.npy": _npy(np.zeros(9))},
    "not json": {"header.npy": _npy(np.array("{not json")), "params.npy": _npy(np.zeros(9))},
    "json list": {"header.npy": _npy(np.array("[1, 2]")), "params.npy": _npy(np.zeros(9))},
    "wrong dtype": {"header.npy": _header(), "params.npy": _npy(np.zeros(9, np.float32))},
    "nan params": {"header.npy": _header(), "params.npy": _npy(np.full(9, np.nan))},
    "truncated params": {"header.npy": _header(), "params.npy": _npy(np.zeros(9))[:-8]},
    "object header": {"header.npy": _npy_header_only((1,), "|O"), "params.npy": _npy(np.zeros(9))},
    "huge header": {"header.npy": _npy(np.array("x" * 70000)), "params.npy": _npy(np.zeros(9))},
    "header declaring a huge shape": {"header.npy": _npy_header_only((2**27,)),
                                      "params.npy": _npy(np.zeros(9))},
    "header declaring a huge string": {"header.npy": _npy_header_only((), "<U100000000"),
                                       "params.npy": _npy(np.zeros(9))},
    # version 2: the optimizer's members
    "optimizer state of a huge declared shape": {
        "header.npy": _header(**_ADAM), "params.npy": _npy(np.zeros(9)),
        "optimizer_state.npy": _npy_header_only((10**12,))},
    "optimizer state of the wrong size": {
        "header.npy": _header(**_ADAM), "params.npy": _npy(np.zeros(9)),
        "optimizer_state.npy": _npy(np.zeros(17))},
    "optimizer state in float32": {
        "header.npy": _header(**_ADAM), "params.npy": _npy(np.zeros(9)),
        "optimizer_state.npy": _npy(np.zeros(18, np.float32))},
    "optimizer state with nan": {
        "header.npy": _header(**_ADAM), "params.npy": _npy(np.zeros(9)),
        "optimizer_state.npy": _npy(np.full(18, np.nan))},
    "optimizer state without its member": {
        "header.npy": _header(**_ADAM), "params.npy": _npy(np.zeros(9))},
    "optimizer state member without its counters": {
        "header.npy": _header(**{**_ADAM, "optimizer_state": None}),
        "params.npy": _npy(np.zeros(9)), "optimizer_state.npy": _npy(np.zeros(18))},
    "unknown optimizer": {
        "header.npy": _header(**{**_ADAM, "optimizer": {"name": "lbfgs"}}),
        "params.npy": _npy(np.zeros(9)), "optimizer_state.npy": _npy(np.zeros(18))},
    "bad optimizer option": {
        "header.npy": _header(**{**_ADAM, "optimizer": {"name": "adam", "betas": [0.9, 2]}}),
        "params.npy": _npy(np.zeros(9)), "optimizer_state.npy": _npy(np.zeros(18))},
    "optimizer with an unknown option": {
        "header.npy": _header(**{**_ADAM, "optimizer": {"name": "adam", "pickle": "x"}}),
        "params.npy": _npy(np.zeros(9)), "optimizer_state.npy": _npy(np.zeros(18))},
    "negative step": {
        "header.npy": _header(**{**_ADAM, "optimizer_state": {"step": -1, "epoch": 0,
                                                              "samples": 0}}),
        "params.npy": _npy(np.zeros(9)), "optimizer_state.npy": _npy(np.zeros(18))},
    "huge step": {
        "header.npy": _header(**{**_ADAM, "optimizer_state": {"step": 2**70, "epoch": 0,
                                                              "samples": 0}}),
        "params.npy": _npy(np.zeros(9)), "optimizer_state.npy": _npy(np.zeros(18))},
    "bad plateau": {
        "header.npy": _header(**{**_ADAM, "plateau": {"schedule": {"name": "step"}, "rate": 1,
                                                      "best": None, "bad_epochs": 0,
                                                      "cooldown": 0}}),
        "params.npy": _npy(np.zeros(9)), "optimizer_state.npy": _npy(np.zeros(18))},
    "version 1 with an optimizer": {
        "header.npy": _header(**{**_ADAM, "version": 1}), "params.npy": _npy(np.zeros(9)),
        "optimizer_state.npy": _npy(np.zeros(18))},
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_model_files_raise_model_format_error(tmp_path, case):
    import tracemalloc
    path = tmp_path / "hostile.npz"
    _archive(path, HOSTILE[case])
    tracemalloc.start()
    try:
        with pytest.raises(ModelFormatError):
            Network.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, f"loading allocated {peak} bytes before refusing the file"


def test_a_version_1_file_still_loads(tmp_path):
    path = tmp_path / "v1.npz"
    _archive(path, {"header.npy": _header(), "params.npy": _npy(np.arange(9.0))})
    net = Network.load(path)
    np.testing.assert_array_equal(net.parameters, np.arange(9.0))
    assert net.optimizer is None and net.layer_sizes == [2, 2, 1]


@pytest.mark.parametrize("optimizer,schedule", [
    ("adam", None), ({"name": "rmsprop", "centered": True, "momentum": 0.5}, "cosine"),
    ({"name": "sgd", "momentum": 0.9}, {"name": "plateau", "patience": 1, "threshold": 0.5}),
    ("sgd", None)])
def test_a_loaded_model_continues_training_exactly_where_it_stopped(tmp_path, optimizer,
                                                                    schedule, backend):
    X, labels = blobs()
    net = Network([2, 8, Layer(3, "softmax")], activation="tanh", seed=0, backend=backend)
    net.fit(X, labels, epochs=4, batch_size=8, optimizer=optimizer, schedule=schedule)
    net.save(tmp_path / "m.npz")
    loaded = Network.load(tmp_path / "m.npz", backend=backend)
    assert loaded.optimizer == net.optimizer
    for key in ("step", "epoch", "samples"):
        assert loaded.optimizer_state[key] == net.optimizer_state[key]
    for n in (net, loaded):
        n.fit(X, labels, epochs=3, batch_size=8, optimizer=optimizer, schedule=schedule,
              shuffle=False)
    np.testing.assert_array_equal(loaded.parameters, net.parameters)
    np.testing.assert_array_equal(loaded.optimizer_state["buffers"],
                                  net.optimizer_state["buffers"])
    assert loaded.history.learning_rate == net.history.learning_rate


def test_saving_without_the_optimizer_state_keeps_its_settings(tmp_path):
    X, labels = blobs()
    net = Network([2, 8, Layer(3, "softmax")], activation="tanh", seed=0)
    net.fit(X, labels, epochs=2, batch_size=8, optimizer={"name": "adam", "amsgrad": True})
    net.save(tmp_path / "m.npz", optimizer_state=False)
    loaded = Network.load(tmp_path / "m.npz")
    assert loaded.optimizer == net.optimizer
    assert loaded.optimizer_state["step"] == 0
    assert not loaded.optimizer_state["buffers"].any()


def test_save_refuses_an_optimizer_state_that_load_would_refuse(tmp_path):
    X, labels = blobs()
    net = Network([2, 8, Layer(3, "softmax")], activation="tanh", seed=0)
    net.fit(X, labels, epochs=2, batch_size=8, optimizer="adam")
    net._state.buffers[3] = np.inf
    path = tmp_path / "m.npz"
    with pytest.raises(ValueError, match="optimizer's state holds NaN or infinity"):
        net.save(path)
    assert not path.exists()
    net.save(path, optimizer_state=False)
    assert Network.load(path).optimizer_state["step"] == 0


def test_load_reports_an_unopenable_file_and_a_bad_backend_as_such(tmp_path):
    with pytest.raises(FileNotFoundError):
        Network.load(tmp_path / "missing.npz")
    path = tmp_path / "model.npz"
    Network([2, 1]).save(path)
    with pytest.raises(ValueError, match="backend") as info:
        Network.load(path, backend="gpu")
    assert not isinstance(info.value, ModelFormatError)


def test_compressed_members_are_refused_before_reading(tmp_path):
    import zipfile
    path = tmp_path / "bomb.npz"
    _archive(path, {"header.npy": _header(), "params.npy": _npy(np.zeros(9))},
             zipfile.ZIP_DEFLATED)
    with pytest.raises(ModelFormatError, match="compressed"):
        Network.load(path)


def test_load_accepts_a_binary_file_object(tmp_path):
    import io as _io
    net = Network([3, 4, 2], seed=0)
    path = tmp_path / "m.npz"
    net.save(path)
    loaded = Network.load(_io.BytesIO(path.read_bytes()))
    np.testing.assert_array_equal(loaded.parameters, net.parameters)


def test_a_huge_epoch_cap_with_a_target_loss_reserves_nothing_up_front():
    import tracemalloc
    X = np.array([[-2.0, -1.0], [25.0, 6.0], [17.0, 4.0], [-15.0, -6.0]])
    net = Network([2, 2, 1], seed=0)
    tracemalloc.start()
    try:
        history = net.fit(X, [1, 0, 0, 1], epochs=10**9, learning_rate=0.1, target_loss=1e-3,
                          shuffle=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert history.stopped == "target_loss" and history.epochs < 10**4
    assert peak < 16 * 2**20          # was 8 GB: a loss slot for each of 10**9 epochs


def test_epochs_split_over_many_compiled_calls_give_the_same_history(backend, monkeypatch):
    from fastnn import training
    X = np.random.default_rng(0).standard_normal((9, 2))
    y = (X[:, 0] > 0).astype(float)
    whole = Network([2, 3, 1], seed=0, backend=backend)
    h_whole = whole.fit(X, y, epochs=40, batch_size=4, seed=1)
    monkeypatch.setattr(training, "_MAX_CHUNK_EPOCHS", 7)
    split = Network([2, 3, 1], seed=0, backend=backend)
    h_split = split.fit(X, y, epochs=40, batch_size=4, seed=1)
    assert h_split.loss == h_whole.loss
    np.testing.assert_array_equal(split.parameters, whole.parameters)


def _separable(seed, n):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    return X, (X @ np.array([1.0, -2.0, 0.5, 0.0, 1.5]) + rng.standard_normal(n) > 0) * 1.0


def test_validation_loss_is_recorded_after_every_epoch(backend):
    X, y = _separable(0, 60)
    X_val, y_val = _separable(1, 30)
    net = Network([5, 6, 1], seed=0, backend=backend)
    history = net.fit(X, y, epochs=5, batch_size=4, shuffle=False,
                      validation_data=(X_val, y_val))
    assert history.stopped == "epochs" and history.best_epoch is None
    # the same epochs one fit at a time, the validation loss read after each
    replay = Network([5, 6, 1], seed=0, backend=backend)
    expected = []
    for _ in range(5):
        replay.fit(X, y, epochs=1, batch_size=4, shuffle=False)
        expected.append(replay.loss(X_val, y_val))
    assert history.val_loss == expected
    np.testing.assert_array_equal(net.parameters, replay.parameters)   # nothing restored


def test_patience_stops_at_the_best_validation_epoch_and_restores_it(backend):
    X, y = _separable(0, 200)
    X_val, y_val = _separable(1, 100)
    net = Network([5, 64, 1], seed=0, backend=backend)
    history = net.fit(X, y, epochs=500, learning_rate=0.5, batch_size=8, seed=1, patience=10,
                      validation_data=(X_val, y_val))
    assert history.stopped == "patience"
    # epochs count from 0: best_epoch indexes the history's lists
    assert history.best_epoch == int(np.argmin(history.val_loss))
    assert history.epochs == len(history.val_loss) == history.best_epoch + 11
    assert net.loss(X_val, y_val) == min(history.val_loss)      # the best epoch's parameters
    assert history.restored
    assert history.final_loss == history.loss[history.best_epoch] != history.loss[-1]
    # a sigmoid output is a classifier: the validation accuracy is recorded with the loss
    assert len(history.val_accuracy) == history.epochs
    assert history.val_accuracy[history.best_epoch] == net.evaluate(X_val, y_val)["accuracy"]


def test_patience_without_validation_data_watches_the_training_loss(backend):
    X, y = _separable(0, 200)
    net = Network([5, 8, 1], seed=0, backend=backend)
    history = net.fit(X, y, epochs=300, learning_rate=0.5, batch_size=8, seed=1, patience=5,
                      min_delta=1e-3)
    assert history.stopped == "patience" and history.val_loss == []
    best = history.best_epoch
    assert history.epochs == best + 6
    # no later epoch improved on the best by more than min_delta
    assert min(history.loss[best + 1:]) >= history.loss[best] - 1e-3
    assert history.loss[best] < min(history.loss[:best], default=np.inf) - 1e-3
    assert history.final_loss == history.loss[best]


@pytest.mark.parametrize("changes, exc, words", [
    ({"patience": 0}, ValueError, ["patience", ">= 1"]),
    ({"patience": 2.5}, ValueError, ["patience"]),
    ({"min_delta": -1.0}, ValueError, ["min_delta", ">= 0"]),
    ({"validation_data": np.zeros((3, 5))}, TypeError, ["validation_data", "pair"]),
    ({"validation_data": (np.zeros((3, 4)), np.zeros(3))}, ValueError, ["X_val", "4 features"]),
    ({"validation_data": (np.zeros((3, 5)), np.zeros(2))}, ValueError, ["X_val", "y_val", "3", "2"]),
    ({"validation_data": (np.full((3, 5), np.nan), np.zeros(3))}, ValueError, ["X_val", "NaN"]),
])
def test_bad_early_stopping_arguments_are_refused_and_change_nothing(backend, changes, exc, words):
    X, y = _separable(0, 20)
    net = Network([5, 3, 1], seed=0, backend=backend)
    before = net.parameters.copy()
    with pytest.raises(exc) as info:
        net.fit(X, y, epochs=3, **changes)
    for word in words:
        assert word in str(info.value)
    np.testing.assert_array_equal(net.parameters, before)
    assert net.history is None


def test_the_history_keeps_8_bytes_per_epoch():
    import tracemalloc
    net = Network([2, 2, 1], seed=0)
    X, y = [[-2, -1], [25, 6], [17, 4], [-15, -6]], [1, 0, 0, 1]
    tracemalloc.start()
    try:
        history = net.fit(X, y, epochs=200_000, batch_size=1, shuffle=False)
        size = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert history.epochs == 200_000
    assert size < 200_000 * 8 + 2**19, f"{size} bytes held after the fit"
    assert history.learning_rate[-1] == 0.01 and len(history.loss) == 200_000


def test_a_layer_size_beyond_the_kernels_range_is_refused_before_allocating():
    with pytest.raises(ValueError, match=r"layers\[1\] must be an integer <= 2147483647"):
        Network([2, 2**31])


@pytest.mark.parametrize("dataset", ["digits", "breast_cancer", "wine", "diabetes"])
@pytest.mark.parametrize("activation", ["sigmoid", "relu", "tanh"])
def test_the_default_fit_settings_do_not_diverge_on_scikit_learns_datasets(dataset, activation):
    """fit(X, y) with nothing else given, as tools/network_defaults.py measured it."""
    datasets = pytest.importorskip("sklearn.datasets")
    from threadpoolctl import threadpool_limits
    X, y = getattr(datasets, f"load_{dataset}")(return_X_y=True)
    rng = np.random.default_rng(0)
    test = rng.permutation(len(X))[:len(X) // 4]
    train = np.setdiff1d(np.arange(len(X)), test)
    mean, std = X[train].mean(0), X[train].std(0)
    X = (X - mean) / np.where(std > 0, std, 1)
    output = {"digits": "softmax", "wine": "softmax", "breast_cancer": "sigmoid"}.get(
        dataset, "identity")
    if output == "identity":
        y = (y - y[train].mean()) / y[train].std()
    n_out = len(np.unique(y)) if output == "softmax" else 1
    net = Network([X.shape[1], 32, n_out], activation=activation, output=output, seed=0)
    with threadpool_limits(1):
        history = net.fit(X[train], y[train])
    assert history.epochs == 200 and history.stopped == "epochs"
    assert net.optimizer.learning_rate == 0.01 and net.optimizer_state["step"] == \
        200 * -(-len(train) // 32)                      # batches of 32
    if output == "identity":
        p = net.predict(X[test])
        r2 = 1 - np.sum((y[test] - p) ** 2) / np.sum((y[test] - y[test].mean()) ** 2)
        assert r2 > 0.25
    else:
        assert np.mean(net.predict_classes(X[test]) == y[test]) > 0.93


# -- messages that name the cause and the fix ---------------------------------------

@pytest.mark.parametrize("y, loss, exc, words", [
    (np.array(["cat", "dog", "cat", "bird"]), "cce", TypeError,
     ["y holds strings", "<U4", "integers 0 to n_classes - 1", "fastnn.sklearn.MLPClassifier",
      "np.unique(y, return_inverse=True)"]),
    (["cat", "dog", "cat", "bird"], None, TypeError, ["y holds strings", "MLPClassifier"]),
    (np.array(["a", "b", "a", "b"], dtype=object), "cce", TypeError, ["strings", "object"]),
    (np.array([True, False, True, True]), "cce", ValueError,
     ["y holds booleans", "MLPClassifier", "y.astype(int)"]),
    ([0, 2.5, 1, 0], "cce", ValueError, ["2.5", "not an integer"]),
    ([0, 1, 3, 0], "cce", ValueError, ["integers in [0, 3)", "from 0 to 3"]),
    ([0, 1, 2, 0], "mse", ValueError,
     ["shape (4, 3)", "got shape (4,)", "looks like class labels", "loss='cce'",
      "output='softmax'"]),
])
def test_labels_a_network_cannot_take_get_a_message_with_the_fix(y, loss, exc, words):
    net = Network([2, 4, 3], activation="relu", output="softmax" if loss == "cce" else None,
                  seed=0)
    X = np.zeros((4, 2))
    before = net.parameters.copy()
    with pytest.raises(exc) as info:
        net.fit(X, y, epochs=1, loss=loss)
    for word in words:
        assert word in str(info.value)
    np.testing.assert_array_equal(net.parameters, before)
    assert net.history is None


def test_booleans_stay_valid_targets_of_one_output():
    net = Network([2, 4, 1], seed=0)
    history = net.fit(np.eye(2)[[0, 1, 1, 0]], np.array([True, False, False, True]), epochs=2)
    assert history.epochs == 2


@pytest.mark.parametrize("scale_X, scale_y, says, not_says", [
    (1000.0, 1.0, "the inputs are not scaled", "targets are not scaled"),
    (1.0, 1e4, "the targets are not scaled", "inputs are not scaled"),
])
def test_divergence_tells_unscaled_inputs_from_unscaled_targets(scale_X, scale_y, says,
                                                                 not_says):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3))
    y = X @ np.array([1.0, -1.0, 2.0]) + 0.1
    net = Network([3, 16, 1], activation="relu", seed=0)
    with pytest.raises(fastnn.TrainingDivergedError) as info:
        net.fit(X * scale_X, y * scale_y, epochs=200, learning_rate=0.1)
    message = str(info.value)
    assert says in message and not_says not in message and "learning_rate" in message


def test_parameters_start_on_a_cache_line_after_copies_pickles_and_loads(tmp_path):
    """The one-sample kernels' vector loads and stores never split a cache line."""
    import copy
    import pickle
    net = Network([64, 32, 10], seed=0)
    net.fit(np.eye(64)[:10], np.eye(10), epochs=1)
    path = tmp_path / "net.npz"
    net.save(path)
    for other in (net, copy.copy(net), copy.deepcopy(net), pickle.loads(pickle.dumps(net)),
                  Network.load(path), Network([5, 3], dtype=np.float32)):
        assert other._params.ctypes.data % 64 == 0
        W, b = other.weights[0], other.biases[0]
        assert np.shares_memory(W, other._params) and np.shares_memory(b, other._params)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(net)).weights[1], net.weights[1])
