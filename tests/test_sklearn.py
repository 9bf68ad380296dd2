"""fastnn.sklearn: scikit-learn's estimator checks, the updates and stopping decisions of
scikit-learn's MLP reproduced (bit for bit where the rules are the same), labels and
outputs, the toolbox (Pipeline, cross_val_score, GridSearchCV in threads and processes,
clone, pickling), and bad input leaving a fitted estimator unchanged."""
import copy
import io
import pickle
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn import neural_network  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_classification, make_multilabel_classification  # noqa: E402
from sklearn.datasets import make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import fastnn  # noqa: E402
from fastnn import sklearn as fastnn_sklearn  # noqa: E402
from fastnn.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

# scikit-learn's own MLP warns when max_iter runs out, as these estimators do; the checks
# and the short fits here run out on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True)
def one_blas_thread():
    """Tiny problems: one BLAS thread is faster, and immune to a busy second core."""
    with threadpool_limits(1):
        yield


#: Checks expected to fail, with the reason (none: every check passes).
EXPECTED_FAILED_CHECKS = {}


def _checks_kwargs():
    import inspect
    if "expected_failed_checks" in inspect.signature(parametrize_with_checks).parameters:
        return {"expected_failed_checks": lambda estimator: EXPECTED_FAILED_CHECKS}
    return {}                                   # pragma: no cover  (scikit-learn < 1.6)


@parametrize_with_checks([MLPClassifier(), MLPRegressor()], **_checks_kwargs())
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


# -- the same updates as scikit-learn's MLP ----------------------------------------------

def _problems():
    X, y3 = make_classification(200, 8, n_informative=5, n_classes=3, random_state=0)
    _, labels = make_multilabel_classification(200, 8, n_classes=4, random_state=0)
    Xr, yr = make_regression(200, 8, random_state=0)
    _, yr3 = make_regression(200, 8, n_targets=3, random_state=0)
    return {"multiclass": ("MLPClassifier", X, y3), "binary": ("MLPClassifier", X, y3 == 1),
            "multilabel": ("MLPClassifier", X, labels),
            "regression": ("MLPRegressor", Xr / Xr.std(0), yr / yr.std()),
            "regression-3": ("MLPRegressor", Xr / Xr.std(0), yr3 / yr3.std(0))}


PROBLEMS = _problems()


def _both(kind, **params):
    """scikit-learn's estimator and fastnn's (float64), with the same parameters."""
    return (getattr(neural_network, kind)(**params),
            getattr(fastnn_sklearn, kind)(dtype="float64", **params))


def _max_difference(a, b):
    return max(np.max(np.abs(p - q)) for p, q in zip(a.coefs_ + a.intercepts_,
                                                     b.coefs_ + b.intercepts_))


SAME_RULES = {
    "sgd": dict(solver="sgd", momentum=0.0, learning_rate_init=0.05),
    "sgd-nesterov": dict(solver="sgd", momentum=0.9, learning_rate_init=0.01),
    "sgd-momentum": dict(solver="sgd", momentum=0.9, nesterovs_momentum=False,
                         learning_rate_init=0.01, alpha=0.01),
    "sgd-invscaling": dict(solver="sgd", momentum=0.0, learning_rate="invscaling",
                           learning_rate_init=0.2, power_t=0.25),
    # scikit-learn adds epsilon after the bias correction, torch's rule before: with a
    # negligible epsilon the two are the same
    "adam": dict(solver="adam", learning_rate_init=0.01, epsilon=1e-14, alpha=0.1),
}


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("rule", SAME_RULES)
def test_the_updates_are_scikit_learns(problem, rule):
    """Same initial parameters, same batches (no shuffling), the same updates: the
    parameters agree to rounding after 20 epochs, and so do the losses (alpha=0)."""
    kind, X, y = PROBLEMS[problem]
    params = dict(hidden_layer_sizes=(7, 5), activation="tanh", shuffle=False,
                  random_state=1, max_iter=20, tol=0.0, batch_size=50, **SAME_RULES[rule])
    ours_sk, ours = _both(kind, **params)
    ours_sk.fit(X, y), ours.fit(X, y)
    assert _max_difference(ours_sk, ours) < (1e-12 if rule != "adam" else 1e-8)
    if params.get("alpha", 1e-4) == 1e-4:
        # scikit-learn's loss includes alpha/2 ||W||^2 / batch per batch, fastnn's not
        penalty = 0.5 * 1e-4 * sum(np.sum(W ** 2) for W in ours.coefs_) * 4 / 200
        assert np.allclose(ours_sk.loss_curve_, ours.loss_curve_, rtol=0, atol=2 * penalty)
    assert ours.n_iter_ == ours_sk.n_iter_ == 20
    assert ours.t_ == ours_sk.t_ == 20 * 200


@pytest.mark.parametrize("problem", ["multiclass", "regression"])
def test_the_loss_curve_is_scikit_learns_without_the_penalty(problem):
    kind, X, y = PROBLEMS[problem]
    theirs, ours = _both(kind, solver="sgd", momentum=0.5, alpha=0.0, shuffle=False,
                         random_state=3, max_iter=15, batch_size=40, tol=0.0)
    theirs.fit(X, y), ours.fit(X, y)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-12)
    assert ours.loss_ == ours.loss_curve_[-1] and ours.best_loss_ == min(ours.loss_curve_)


STOPPING = {
    "tol": dict(tol=1e-3, max_iter=300),
    "adaptive": dict(learning_rate="adaptive", tol=1e-2, n_iter_no_change=3, max_iter=120),
    "early-stopping": dict(early_stopping=True, validation_fraction=0.2, tol=1e-3,
                           n_iter_no_change=4, max_iter=200),
    "early-stopping-adaptive": dict(early_stopping=True, learning_rate="adaptive", tol=1e-2,
                                    n_iter_no_change=2, max_iter=100),
}


@pytest.mark.parametrize("problem", ["multiclass", "binary", "regression"])
@pytest.mark.parametrize("stopping", STOPPING)
def test_the_stopping_decisions_are_scikit_learns(problem, stopping):
    """With the same updates (plain SGD, alpha=0) the training losses and validation
    scores are the same, so the rule stops (or lowers the rate) in the same epochs."""
    kind, X, y = PROBLEMS[problem]
    params = dict(hidden_layer_sizes=(10,), solver="sgd", momentum=0.0, alpha=0.0,
                  learning_rate_init=0.05, batch_size=40, shuffle=False, random_state=0,
                  **STOPPING[stopping])
    theirs, ours = _both(kind, **params)
    with warnings.catch_warnings(record=True) as their_warnings:
        warnings.simplefilter("always")
        theirs.fit(X, y)
    with warnings.catch_warnings(record=True) as our_warnings:
        warnings.simplefilter("always")
        ours.fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ < params["max_iter"] or stopping == "adaptive"
    assert [w.category for w in our_warnings] == [w.category for w in their_warnings]
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-10)
    assert _max_difference(theirs, ours) < 1e-10       # early stopping: the best epoch's
    if params.get("early_stopping"):
        np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_,
                                   rtol=1e-10)
        assert ours.best_loss_ is None and ours.best_validation_score_ == \
            pytest.approx(theirs.best_validation_score_)
    else:
        assert ours.validation_scores_ is None
    if params.get("learning_rate") == "adaptive":
        assert ours._learning_rate == theirs._optimizer.learning_rate < 0.05


@pytest.mark.parametrize("problem", ["multiclass", "regression"])
def test_partial_fit_and_warm_start_continue_as_scikit_learns(problem):
    kind, X, y = PROBLEMS[problem]
    params = dict(hidden_layer_sizes=(6,), solver="sgd", momentum=0.9, learning_rate_init=0.01,
                  shuffle=False, random_state=0, batch_size=25, max_iter=5, tol=0.0)
    theirs, ours = _both(kind, **params)
    extra = {"classes": np.unique(y)} if kind == "MLPClassifier" else {}
    for start in range(0, 200, 50):
        theirs.partial_fit(X[start:start + 50], y[start:start + 50], **extra)
        ours.partial_fit(X[start:start + 50], y[start:start + 50], **extra)
        assert ours.n_iter_ == theirs.n_iter_ == 1
    assert _max_difference(theirs, ours) < 1e-12
    theirs.set_params(warm_start=True).fit(X, y)         # a new optimizer for each fit
    ours.set_params(warm_start=True).fit(X, y)
    assert _max_difference(theirs, ours) < 1e-12
    assert len(ours.loss_curve_) == len(theirs.loss_curve_) == 4 + 5
    assert ours.t_ == theirs.t_


def test_the_initial_parameters_are_drawn_as_scikit_learn_draws_them():
    kind, X, y = PROBLEMS["multiclass"]
    for activation in ("relu", "logistic"):
        theirs, ours = _both(kind, hidden_layer_sizes=(5, 4), activation=activation,
                             solver="sgd", learning_rate_init=1e-300, momentum=0.0,
                             random_state=7, max_iter=1)
        theirs.fit(X, y), ours.fit(X, y)
        assert _max_difference(theirs, ours) < 1e-15


def test_results_do_not_depend_on_how_the_epochs_are_split_into_compiled_calls(monkeypatch):
    """Speculative chunks rolled back where the rule acts inside them, or chunks that end
    where it can first act: the same epochs, the same shuffles, the same parameters."""
    kind, X, y = PROBLEMS["multiclass"]
    params = dict(hidden_layer_sizes=(12,), solver="sgd", learning_rate="adaptive",
                  learning_rate_init=0.1, tol=1e-2, n_iter_no_change=3, max_iter=150,
                  random_state=0)
    results = []
    for seconds in (0.0, 1e9):
        monkeypatch.setattr(fastnn_sklearn, "_CHUNK_SECONDS", seconds)
        est = MLPClassifier(**params).fit(X, y)
        results.append((est.n_iter_, est.loss_curve_, np.concatenate(
            [W.ravel() for W in est.coefs_ + est.intercepts_])))
    assert results[0][0] == results[1][0] < 150
    assert results[0][1] == results[1][1]
    assert np.array_equal(results[0][2], results[1][2])


def test_ctrl_c_keeps_the_completed_epochs_as_scikit_learn_does(monkeypatch):
    """The engine leaves the network at the last completed epoch and re-raises; the
    estimator, like scikit-learn's, warns and keeps what was trained."""
    real_fit = fastnn.Network.fit

    def interrupted_fit(self, X, y, epochs, **options):
        real_fit(self, X, y, epochs=min(epochs, 3), **options)
        raise KeyboardInterrupt

    monkeypatch.setattr(fastnn.Network, "fit", interrupted_fit)
    kind, X, y = PROBLEMS["multiclass"]
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        clf = MLPClassifier(max_iter=50, random_state=0).fit(X, y)
    assert clf.n_iter_ == len(clf.loss_curve_) == 3 and clf.predict(X).shape == (200,)
    assert clf.network_.optimizer_state["epoch"] == 3


def test_verbose_prints_scikit_learns_lines():
    kind, X, y = PROBLEMS["binary"]
    out = io.StringIO()
    with redirect_stdout(out):
        MLPClassifier(hidden_layer_sizes=(4,), solver="sgd", tol=0.5, n_iter_no_change=2,
                      learning_rate="adaptive", random_state=0, verbose=True).fit(X, y)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Iteration 1, loss = ")
    assert any("Setting learning rate to 0.000200" in line for line in lines)
    assert lines[-1].endswith("Learning rate too small. Stopping.") or "Stopping." in lines[-1]


# -- labels, outputs and the defaults ----------------------------------------------------

@pytest.mark.parametrize("labels", [["cat", "dog", "emu"], [3, -1, 7], [False, True],
                                    ["no", "yes"]])
def test_labels_of_any_type(labels):
    X, y = make_classification(150, 6, n_informative=4, n_redundant=0,
                               n_classes=len(labels), random_state=0)
    y = np.asarray(labels, dtype=object if isinstance(labels[0], str) else None)[y]
    clf = MLPClassifier(random_state=0, max_iter=300).fit(X, y)
    assert list(clf.classes_) == sorted(labels)
    predicted = clf.predict(X)
    assert predicted.dtype == clf.classes_.dtype and set(predicted) <= set(labels)
    assert clf.score(X, y) > 0.85
    proba = clf.predict_proba(X)
    assert proba.shape == (150, len(labels)) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-6)
    assert np.array_equal(clf.classes_[proba.argmax(1)], predicted)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))
    expected = "softmax" if len(labels) > 2 else "logistic"
    assert clf.out_activation_ == expected and clf.network_.activations[-1] == \
        {"softmax": "softmax", "logistic": "sigmoid"}[expected]
    assert clf.network_.activations[0] == "relu" and clf.n_outputs_ == (len(labels) if
                                                                       len(labels) > 2 else 1)


def test_multilabel_classification():
    X, Y = make_multilabel_classification(200, 10, n_classes=5, random_state=0)
    X = X / X.std(0)
    clf = MLPClassifier(random_state=0, max_iter=400).fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 5
    assert np.array_equal(clf.classes_, np.arange(5))
    predicted = clf.predict(X)
    assert predicted.shape == (200, 5) and predicted.dtype.kind == "i"
    assert np.array_equal(clf.predict_proba(X) > 0.5, predicted)
    theirs = neural_network.MLPClassifier(random_state=0, max_iter=400).fit(X, Y)
    assert clf.score(X, Y) >= theirs.score(X, Y) - 0.05         # subset accuracy


@pytest.mark.parametrize("n_targets", [1, 3])
def test_regression_single_and_multi_output(n_targets):
    X, y = make_regression(300, 6, n_targets=n_targets, noise=1.0, random_state=0)
    y = y / y.std(0)
    reg = MLPRegressor(random_state=0, max_iter=300).fit(X, y)
    assert reg.out_activation_ == "identity" and reg.n_outputs_ == n_targets
    assert reg.predict(X).shape == y.shape and reg.score(X, y) > 0.95
    assert len(reg.coefs_) == reg.n_layers_ - 1 == 2 and reg.coefs_[0].shape == (6, 100)


def test_the_precision_of_training_and_of_predictions():
    X, y = make_classification(100, 4, random_state=0)
    default = MLPClassifier(random_state=0, max_iter=20).fit(X, y)
    assert default.network_.dtype == np.float32 and default.coefs_[0].dtype == np.float32
    assert default.predict_proba(X).dtype == np.float64            # X's precision
    assert default.predict_proba(X.astype(np.float32)).dtype == np.float32
    assert MLPClassifier(dtype=None, max_iter=2).fit(X, y).network_.dtype == np.float64
    assert MLPClassifier(dtype=None, max_iter=2).fit(X.astype(np.float32), y) \
        .network_.dtype == np.float32
    assert MLPRegressor(dtype="float64", max_iter=2).fit(X, y).network_.dtype == np.float64


@pytest.mark.parametrize("solver", ["adamw", "rmsprop", "adagrad", "rprop"])
def test_fastnns_other_solvers(solver):
    X, y = make_classification(300, 6, n_informative=4, random_state=0)
    params = {"alpha": 0.0} if solver == "rprop" else {}
    clf = MLPClassifier(solver=solver, learning_rate_init=0.01, random_state=0, max_iter=100,
                        **params).fit(X, y)
    assert clf.score(X, y) > 0.9
    assert type(clf.network_.optimizer).__name__.lower() == solver


def test_coefs_and_intercepts_are_the_networks_parameters():
    X, y = make_regression(50, 3, random_state=0)
    reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, y)
    assert np.shares_memory(reg.coefs_[0], reg.network_.parameters)
    reg.coefs_ = [np.zeros((3, 4)), np.zeros((4, 1))]
    reg.intercepts_ = [np.zeros(4), np.full(1, 2.5)]
    np.testing.assert_array_equal(reg.predict(X), 2.5)
    assert not hasattr(MLPRegressor(), "coefs_") and not hasattr(MLPRegressor(), "network_")


def test_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = make_classification(60, 3, n_informative=2, n_redundant=0, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    clf = MLPClassifier(max_iter=5).fit(frame, y)
    assert list(clf.feature_names_in_) == ["a", "b", "c"] and clf.n_features_in_ == 3
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame[["c", "b", "a"]])


# -- scikit-learn's toolbox --------------------------------------------------------------

def test_pipeline_cross_validation_and_grid_search():
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X, y = make_classification(200, 6, n_informative=4, random_state=0)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=100, random_state=0))
    assert cross_val_score(pipe, X, y, cv=3).mean() > 0.8
    search = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(8,), (32,)],
                                 "mlpclassifier__alpha": [1e-4, 1e-2]}, cv=3)
    search.fit(X, y)
    assert search.best_score_ > 0.8 and search.predict(X).shape == (200,)


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_grid_search_in_parallel(backend):
    import joblib
    from sklearn.model_selection import GridSearchCV
    X, y = make_regression(120, 4, noise=0.5, random_state=0)
    grid = {"hidden_layer_sizes": [(8,), (16,)], "learning_rate_init": [1e-3, 1e-2]}
    est = MLPRegressor(max_iter=60, random_state=0)
    serial = GridSearchCV(est, grid, cv=2).fit(X, y / y.std())
    with joblib.parallel_backend(backend):
        parallel = GridSearchCV(est, grid, cv=2, n_jobs=2).fit(X, y / y.std())
    np.testing.assert_allclose(parallel.cv_results_["mean_test_score"],
                               serial.cv_results_["mean_test_score"], rtol=1e-6)


def test_grid_search_on_a_dask_cluster():
    """The same search through joblib's dask backend, on a LocalCluster of two worker
    processes started here (dask[distributed]: the test extra)."""
    distributed = pytest.importorskip("distributed")
    import joblib
    from sklearn.model_selection import GridSearchCV
    X, y = make_regression(120, 4, noise=0.5, random_state=0)
    grid = {"hidden_layer_sizes": [(8,), (16,)], "learning_rate_init": [1e-3, 1e-2]}
    est = MLPRegressor(max_iter=60, random_state=0)
    serial = GridSearchCV(est, grid, cv=2).fit(X, y / y.std())
    with warnings.catch_warnings():     # dask's own start-up and shut-down notices
        warnings.simplefilter("ignore")
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            with joblib.parallel_backend("dask"):
                parallel = GridSearchCV(est, grid, cv=2, n_jobs=2).fit(X, y / y.std())
            workers = client.run(lambda: __import__("os").getpid())
            ran = [name for name in cluster.scheduler.task_prefixes if "fit_and_score" in name]
    assert len(set(workers.values())) == 2 and ran      # the fits ran on the two processes
    np.testing.assert_allclose(parallel.cv_results_["mean_test_score"],
                               serial.cv_results_["mean_test_score"], rtol=1e-6)
    assert parallel.best_params_ == serial.best_params_


def test_clone_pickle_and_copy():
    X, y = make_classification(80, 4, random_state=0)
    clf = MLPClassifier(hidden_layer_sizes=(9,), random_state=0, max_iter=30).fit(X, y)
    fresh = clone(clf)
    assert fresh.get_params() == clf.get_params() and not hasattr(fresh, "classes_")
    for other in (pickle.loads(pickle.dumps(clf)), copy.deepcopy(clf)):
        np.testing.assert_array_equal(other.predict_proba(X), clf.predict_proba(X))
        other.partial_fit(X, y)                      # continues its own optimizer state
        assert other.network_ is not clf.network_
    clf.partial_fit(X, y)
    np.testing.assert_array_equal(other.predict_proba(X), clf.predict_proba(X))


# -- bad input and errors ------------------------------------------------------------------

def _snapshot(est):
    """The estimator's attributes (the objects) and copies of what they hold."""
    contents = {k: copy.deepcopy(v) for k, v in est.__dict__.items()
                if isinstance(v, (list, np.ndarray))}
    return (dict(est.__dict__), contents, est.network_.parameters.copy(),
            est.network_.optimizer_state)


def _assert_same(est, snapshot):
    attributes, contents, parameters, optimizer_state = snapshot
    assert est.__dict__.keys() == attributes.keys()
    for key, value in attributes.items():
        assert est.__dict__[key] is value, key
    for key, value in contents.items():
        np.testing.assert_equal(est.__dict__[key], value)
    np.testing.assert_array_equal(est.network_.parameters, parameters)
    now = est.network_.optimizer_state
    assert now["step"] == optimizer_state["step"] and now["samples"] == optimizer_state["samples"]
    np.testing.assert_array_equal(now["buffers"], optimizer_state["buffers"])


@pytest.mark.parametrize("call", ["fit", "partial_fit", "warm_start"])
def test_bad_input_leaves_a_fitted_estimator_unchanged(call):
    X, y = make_classification(60, 4, random_state=0)
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=10, random_state=0).fit(X, y)
    clf.set_params(warm_start=call == "warm_start")
    method = clf.partial_fit if call == "partial_fit" else clf.fit
    snapshot = _snapshot(clf)
    bad_X = X.copy()
    bad_X[3, 1] = np.nan
    bad = [(bad_X, y), (X, y[:-1]), (X, y + 0.5), (np.zeros((0, 4)), []), (X, None),
           (X.astype(complex), y), (X[:, :, None], y)]
    if call != "fit":                   # a new fit may change the features and classes
        bad += [(X[:, :3], y), (X, np.where(y == 1, 5, y))]
    for args in bad:
        with pytest.raises(ValueError):
            method(*args)
        _assert_same(clf, snapshot)
    clf.set_params(alpha=-1.0)
    snapshot = _snapshot(clf)
    with pytest.raises(ValueError, match="'alpha' parameter of MLPClassifier"):
        method(X, y)
    _assert_same(clf, snapshot)


def test_divergence_raises_a_value_error_and_changes_nothing():
    X, y = make_regression(100, 4, random_state=0)
    reg = MLPRegressor(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, y / 100)
    reg.set_params(solver="sgd", learning_rate_init=10.0, warm_start=True)
    snapshot = _snapshot(reg)
    with pytest.raises(ValueError, match="training diverged in epoch .*the targets") as info:
        reg.fit(X, y * 1e10)
    assert "the targets are not scaled" in str(info.value)       # the cause named ...
    assert "inputs are not scaled" not in str(info.value)        # ... and only it
    _assert_same(reg, snapshot)
    with pytest.raises(ValueError, match="diverged in epoch 1: the parameters overflowed") \
            as info:
        reg.partial_fit(X * 1e20, y / 100)
    assert "the inputs are not scaled" in str(info.value)
    assert "targets are not scaled" not in str(info.value)
    _assert_same(reg, snapshot)


@pytest.mark.parametrize("params, message", [
    ({"solver": "lbfgs"}, "fastnn has no L-BFGS"),
    ({"solver": "rprop"}, "rprop.* has no weight decay: set alpha=0"),
    ({"hidden_layer_sizes": (10, 0)}, "hidden_layer_sizes"),
    ({"activation": "softmax"}, "activation"),
    ({"learning_rate": "cosine"}, "learning_rate"),
    ({"batch_size": 0}, "batch_size"),
    ({"momentum": 1.5}, "momentum"),
    ({"beta_2": 1.0}, "beta_2"),
    ({"n_iter_no_change": 0}, "n_iter_no_change"),
    ({"max_iter": 2.5}, "max_iter"),
    ({"dtype": "float16"}, "dtype"),
    ({"shuffle": "yes"}, "shuffle"),
])
def test_bad_parameters_are_named(params, message):
    X, y = make_classification(30, 3, n_informative=2, n_redundant=0, random_state=0)
    with pytest.raises(ValueError, match=message):
        MLPClassifier(**params).fit(X, y)
    with pytest.raises(ValueError, match="'loss' parameter of MLPRegressor"):
        MLPRegressor(loss="poisson").fit(X, y)


def test_rules_scikit_learn_enforces():
    X, y = make_classification(30, 3, n_informative=2, n_redundant=0, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        MLPClassifier().partial_fit(X, y)
    clf = MLPClassifier(max_iter=2).partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="is not the same as on last call"):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="not in `self.classes_`"):
        clf.partial_fit(X, y + 1)
    with pytest.raises(ValueError, match="early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="warm_start can only be used"):
        MLPClassifier(warm_start=True, max_iter=2).fit(X, y).fit(X, y + 1)
    with pytest.raises(ValueError, match="validation set is too small"):
        MLPRegressor(early_stopping=True).fit(X[:10], y[:10])
    with pytest.warns(UserWarning, match="batch_size"):
        MLPClassifier(batch_size=500, max_iter=1).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\)"):
        MLPClassifier(max_iter=3).fit(X, y)
    with pytest.raises(NotFittedError):
        MLPClassifier().predict_proba(X)
    with pytest.raises(TypeError, match="[Ss]parse"):
        from scipy import sparse
        MLPClassifier().fit(sparse.csr_matrix(X), y)


def test_the_docstring_examples_run():
    import doctest
    result = doctest.testmod(fastnn_sklearn)
    assert result.failed == 0 and result.attempted >= 10


# -- threads ---------------------------------------------------------------------------

@pytest.mark.parametrize("threads, big, expected", [
    ("auto", False, 1), ("auto", True, None), (2, False, 2), (None, False, None)])
def test_the_estimators_run_blas_on_the_threads_asked_for(monkeypatch, threads, big, expected):
    asked = []
    limit = fastnn.threads.limit

    def recording(count):
        asked.append(count)
        return limit(count)

    monkeypatch.setattr(fastnn_sklearn.blas_threads, "limit", recording)
    X, y = make_classification(n_samples=300 if big else 60, n_features=100 if big else 8,
                               random_state=0)
    hidden = (256,) if big else (8,)              # big: 200 x 100 x 256 >= 2**22 per batch
    clf = MLPClassifier(hidden_layer_sizes=hidden, max_iter=2, threads=threads,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    clf.predict(X[:5])
    # the estimator's fit, then (inside it) Network.fit leaving BLAS alone, then predict
    assert asked[0] == expected and set(asked[1:-1]) == {None}
    assert asked[-1] == (1 if threads == "auto" else expected)


@pytest.mark.parametrize("bad", ["all", 0, 2.5])
def test_a_bad_thread_count_is_refused_by_fit(bad):
    with pytest.raises(ValueError, match="'threads' parameter of MLPRegressor"):
        MLPRegressor(threads=bad).fit([[0.0], [1.0]], [0.0, 1.0])
