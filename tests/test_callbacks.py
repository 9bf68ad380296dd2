"""fit(callbacks=...), fastnn.callbacks, the History's epochs and metrics, progress output."""
import io
import sys

import numpy as np
import pytest

import fastnn
from fastnn import Network
from fastnn.callbacks import Callback, EarlyStopping, ModelCheckpoint, ProgressBar


def _data(seed=0, n=120):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    return X, (X @ np.array([1.0, -2.0, 0.5, 1.0]) + 0.3 * rng.standard_normal(n) > 0) * 1.0


class Recorder(Callback):
    def __init__(self, every=1, stop_at=None):
        self.every, self.stop_at, self.calls = every, stop_at, []

    def on_fit_begin(self, network, epochs):
        self.calls.append(("begin", epochs, network.history is not None))

    def on_epoch_end(self, epoch, logs):
        self.calls.append(("epoch", epoch, dict(logs)))
        return epoch == self.stop_at

    def on_fit_end(self, history):
        self.calls.append(("end", history.epochs))


@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_callbacks_see_every_epoch_in_order_with_the_historys_numbers(backend):
    X, y = _data()
    recorder = Recorder()
    net = Network([4, 6, 1], seed=0, backend=backend)
    history = net.fit(X, y, epochs=7, batch_size=16, callbacks=[recorder],
                      validation_data=(X[:30], y[:30]))
    assert recorder.calls[0] == ("begin", 7, True) and recorder.calls[-1] == ("end", 7)
    epochs = [c for c in recorder.calls if c[0] == "epoch"]
    assert [c[1] for c in epochs] == list(range(7))                 # from 0, like the lists
    for _, epoch, logs in epochs:
        assert logs["loss"] == history.loss[epoch]
        assert logs["val_loss"] == history.val_loss[epoch]
        assert logs["val_accuracy"] == history.val_accuracy[epoch]
        assert logs["learning_rate"] == history.learning_rate[epoch]
    # the same training as without the callback
    twin = Network([4, 6, 1], seed=0, backend=backend)
    assert twin.fit(X, y, epochs=7, batch_size=16).loss == history.loss
    np.testing.assert_array_equal(twin.parameters, net.parameters)


def test_a_callback_returning_true_stops_training_after_that_epoch():
    X, y = _data()
    recorder = Recorder(stop_at=3)
    history = Network([4, 6, 1], seed=0).fit(X, y, epochs=50, callbacks=[recorder])
    assert history.epochs == 4 and history.stopped == "callback"
    assert recorder.calls[-1] == ("end", 4)


def test_callbacks_with_every_k_run_the_epochs_between_in_one_compiled_call(monkeypatch):
    X, y = _data()
    calls = []
    train_epochs = fastnn.kernels.train_epochs

    def counting(*args, **kwargs):
        calls.append(args[7])                        # the number of epochs of this call
        return train_epochs(*args, **kwargs)

    monkeypatch.setattr(fastnn.network.BACKENDS["compiled"], "train_epochs", counting)
    recorder = Recorder(every=10)
    history = Network([4, 6, 1], seed=0).fit(X, y, epochs=25, callbacks=[recorder])
    assert calls == [10, 10, 5]
    assert [c[1] for c in recorder.calls if c[0] == "epoch"] == [9, 19, 24]
    assert history.epochs == 25
    calls.clear()
    Network([4, 6, 1], seed=0).fit(X, y, epochs=25)           # no callback: one call
    assert calls == [25]
    calls.clear()
    Network([4, 6, 1], seed=0).fit(X, y, epochs=4, callbacks=[Recorder()])
    assert calls == [1, 1, 1, 1]


@pytest.mark.parametrize("bad, exc, words", [
    (Recorder, TypeError, ["callbacks must be a list"]),
    ([object()], TypeError, ["callbacks[0]", "on_epoch_end"]),
    ([Recorder(every=0)], ValueError, ["every", ">= 1"]),
])
def test_bad_callbacks_are_refused_before_anything_changes(bad, exc, words):
    X, y = _data()
    net = Network([4, 6, 1], seed=0)
    before = net.parameters.copy()
    with pytest.raises(exc) as info:
        net.fit(X, y, epochs=3, callbacks=bad)
    for word in words:
        assert word in str(info.value)
    np.testing.assert_array_equal(net.parameters, before)
    assert net.history is None


def test_on_fit_end_runs_when_training_diverges():
    recorder = Recorder()
    net = Network([1, 1], activation="identity", weights=[[[1.0]]], biases=[[0.0]])
    with pytest.raises(fastnn.TrainingDivergedError):
        net.fit([[1.0]], [0.0], epochs=3, learning_rate=1e308, callbacks=[recorder])
    assert recorder.calls[-1] == ("end", 1)
    assert [c[0] for c in recorder.calls] == ["begin", "end"]     # no epoch completed


# -- EarlyStopping -------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_patience_is_the_early_stopping_callback(backend):
    X, y = _data(0, 200)
    X_val, y_val = _data(1, 100)
    options = dict(epochs=300, learning_rate=0.5, batch_size=8, seed=1,
                   validation_data=(X_val, y_val))
    a = Network([4, 64, 1], seed=0, backend=backend)
    by_patience = a.fit(X, y, patience=10, **options)
    b = Network([4, 64, 1], seed=0, backend=backend)
    by_callback = b.fit(X, y, callbacks=[EarlyStopping(10)], **options)
    assert by_patience.stopped == by_callback.stopped == "patience"
    assert by_patience.loss == by_callback.loss
    assert by_patience.best_epoch == by_callback.best_epoch
    np.testing.assert_array_equal(a.parameters, b.parameters)


def test_early_stopping_on_validation_accuracy_counts_upwards():
    X, y = _data(0, 200)
    X_val, y_val = _data(1, 100)
    net = Network([4, 16, 1], seed=0)
    history = net.fit(X, y, epochs=300, learning_rate=0.5, batch_size=8,
                      validation_data=(X_val, y_val),
                      callbacks=[EarlyStopping(5, monitor="val_accuracy")])
    best = history.best_epoch
    assert history.stopped == "patience" and history.epochs == best + 6
    assert history.val_accuracy[best] == max(history.val_accuracy)
    assert history.val_accuracy.index(max(history.val_accuracy)) == best   # the first best
    assert net.evaluate(X_val, y_val)["accuracy"] == history.val_accuracy[best]


def test_early_stopping_names_a_monitor_that_is_not_recorded():
    X, y = _data()
    net = Network([4, 6, 1], seed=0)
    with pytest.raises(ValueError, match="monitor='val_loss' is not recorded"):
        net.fit(X, y, epochs=3, callbacks=[EarlyStopping(2, monitor="val_loss")])
    with pytest.raises(ValueError, match="monitor must be"):
        EarlyStopping(2, monitor="f1")


# -- ModelCheckpoint -----------------------------------------------------------------

def test_model_checkpoint_saves_the_best_epoch_atomically(tmp_path, monkeypatch):
    X, y = _data(0, 200)
    X_val, y_val = _data(1, 100)
    path = tmp_path / "best.npz"
    saved = []
    save = Network.save

    def recording_save(self, target, optimizer_state=True):
        save(self, target, optimizer_state)
        saved.append((self.parameters.copy(), self.loss(X_val, y_val)))

    monkeypatch.setattr(Network, "save", recording_save)
    checkpoint = ModelCheckpoint(path)
    net = Network([4, 32, 1], seed=0)
    history = net.fit(X, y, epochs=60, learning_rate=0.5, batch_size=8,
                      validation_data=(X_val, y_val), callbacks=[checkpoint])
    best = int(np.argmin(history.val_loss))
    assert checkpoint.best_epoch == best
    # saved exactly when the validation loss reached a new minimum
    minima = [e for e, v in enumerate(history.val_loss) if v < min(history.val_loss[:e],
                                                                    default=np.inf)]
    assert len(saved) == len(minima)
    loaded = Network.load(path)
    np.testing.assert_array_equal(loaded.parameters, saved[-1][0])
    assert loaded.loss(X_val, y_val) == history.val_loss[best]
    assert loaded.optimizer_state is not None                  # continues training
    assert [p.name for p in tmp_path.iterdir()] == ["best.npz"]  # no temporary file left


def test_model_checkpoint_every_epoch_without_save_best_only(tmp_path):
    X, y = _data()
    checkpoint = ModelCheckpoint(tmp_path / "last.npz", save_best_only=False,
                                 optimizer_state=False)
    net = Network([4, 6, 1], seed=0)
    net.fit(X, y, epochs=3, callbacks=[checkpoint])
    assert checkpoint.best_epoch == 2
    loaded = Network.load(tmp_path / "last.npz")
    np.testing.assert_array_equal(loaded.parameters, net.parameters)
    assert loaded.optimizer_state["epoch"] == 0 and net.optimizer_state["epoch"] == 3


# -- the History ---------------------------------------------------------------------

def test_metrics_accuracy_records_the_training_accuracy_after_every_epoch():
    X, y = _data()
    net = Network([4, 6, 1], seed=0)
    history = net.fit(X, y, epochs=5, metrics=["accuracy"])
    assert len(history.accuracy) == 5 and history.val_accuracy == []
    assert history.accuracy[-1] == net.evaluate(X, y)["accuracy"]
    with pytest.raises(ValueError, match="metrics must be None or"):
        net.fit(X, y, epochs=1, metrics="accuracy")
    regression = Network([4, 6, 1], activation="relu")
    with pytest.raises(ValueError, match="needs a classification output"):
        regression.fit(X, y, epochs=1, metrics=["accuracy"])


def test_a_softmax_network_records_accuracies_from_class_labels():
    X, y = _data()
    net = Network([4, 6, 2], activation="relu", output="softmax", seed=0)
    history = net.fit(X, y.astype(int), epochs=4, metrics=["accuracy"],
                      validation_data=(X[:40], y[:40].astype(int)))
    assert len(history.accuracy) == len(history.val_accuracy) == 4
    assert history.accuracy[-1] == np.mean(net.predict_classes(X) == y)
    assert history.val_accuracy[-1] == np.mean(net.predict_classes(X[:40]) == y[:40])


def test_a_regression_network_records_no_validation_accuracy():
    X, y = _data()
    history = Network([4, 6, 1], activation="relu", seed=0).fit(
        X, y, epochs=3, validation_data=(X[:20], y[:20]))
    assert len(history.val_loss) == 3 and history.val_accuracy == []


def test_a_second_fit_replaces_the_history_and_continues_the_optimizer():
    X, y = _data()
    net = Network([4, 6, 1], seed=0)
    first = net.fit(X, y, epochs=3)
    second = net.fit(X, y, epochs=2)
    assert net.history is second and second.epochs == 2 and first.epochs == 3
    assert net.optimizer_state["epoch"] == 5


def test_history_plot_draws_the_losses_and_accuracies():
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    X, y = _data()
    history = Network([4, 6, 1], seed=0).fit(X, y, epochs=4, validation_data=(X, y),
                                            patience=50)
    axes = history.plot()
    assert len(axes) == 2
    assert [line.get_label() for line in axes[0].get_lines()][:2] == ["loss", "val_loss"]
    np.testing.assert_array_equal(axes[0].get_lines()[0].get_ydata(), history.loss)


def test_history_plot_without_matplotlib_says_how_to_install_it(monkeypatch):
    X, y = _data()
    history = Network([4, 6, 1], seed=0).fit(X, y, epochs=2)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        history.plot()


# -- progress ------------------------------------------------------------------------

class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_verbose_on_a_terminal_rewrites_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)           # the fallback line
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    X, y = _data()
    Network([4, 6, 1], seed=0).fit(X, y, epochs=300, verbose=True,
                                  validation_data=(X[:20], y[:20]))
    monkeypatch.undo()
    text = terminal.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")       # one line, ended at the end
    updates = text.split("\r")[1:]
    assert len(updates) == 100                                 # every 3 epochs of 300
    assert updates[-1].startswith("epoch 300/300  loss ")
    for word in ("val_loss", "val_accuracy", "epochs/s", "ETA"):
        assert word in updates[-1]


def test_verbose_elsewhere_prints_ten_plain_lines(capsys):
    X, y = _data()
    Network([4, 6, 1], seed=0).fit(X, y, epochs=50, verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == [f"{e}/50" for e in range(5, 51, 5)]
    assert "\r" not in "".join(lines)


def test_progress_bar_uses_tqdm_on_a_terminal_when_installed(monkeypatch):
    tqdm = pytest.importorskip("tqdm")
    terminal = _Terminal()
    X, y = _data()
    Network([4, 6, 1], seed=0).fit(X, y, epochs=20,
                                   callbacks=[ProgressBar(stream=terminal)])
    assert "20/20" in terminal.getvalue() and tqdm is not None
