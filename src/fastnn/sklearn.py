"""scikit-learn estimators over fastnn's Network: ``MLPClassifier`` and ``MLPRegressor``.

Drop-in replacements for ``sklearn.neural_network.MLPClassifier`` and
``MLPRegressor``: the same constructor parameters where the meaning is the
same, the same fitted attributes, ``fit``, ``partial_fit``, ``predict``,
``predict_proba``, ``predict_log_proba`` and ``score``; they pass
``sklearn.utils.estimator_checks.check_estimator`` and work in ``Pipeline``,
``cross_val_score``, ``GridSearchCV`` (threads or processes), ``clone`` and
pickling. scikit-learn is an optional dependency (``pip install
fastnn[sklearn]``) and is imported only by this module.

>>> from sklearn.datasets import load_iris
>>> from fastnn.sklearn import MLPClassifier
>>> X, y = load_iris(return_X_y=True)
>>> clf = MLPClassifier(random_state=0, max_iter=500).fit((X - X.mean(0)) / X.std(0), y)
>>> clf.classes_, clf.out_activation_
(array([0, 1, 2]), 'softmax')

How scikit-learn's parameters map onto fastnn
---------------------------------------------
The network: ``Network([n_features, Layer(h, activation) for h in
hidden_layer_sizes, Layer(n_outputs, output activation)])``. ``activation``
sets the hidden layers only ('identity', 'logistic' = fastnn's sigmoid,
'tanh', 'relu', and fastnn's 'leaky_relu'). The output layer and the loss
follow the target, as in scikit-learn:

============================  ==================  ===========  ================
target                        output activation   fastnn loss  ``n_outputs_``
============================  ==================  ===========  ================
two classes                   sigmoid (logistic)  bce          1
more classes                  softmax             cce          n_classes
multi-label (indicator)       sigmoid (logistic)  bce          n_labels
regression (1 or k columns)   identity            mse          1 or k
============================  ==================  ===========  ================

The initial weights and biases are drawn as scikit-learn draws them (uniform
in +-sqrt(6 / (fan_in + fan_out)), factor 2 instead of 6 for 'logistic',
from ``check_random_state(random_state)``, layer by layer).

Losses and their scale. scikit-learn's losses are half the mean squared error
(averaged over outputs), the binary log-loss summed over labels, and the
categorical log-loss; fastnn's mse and bce average over all outputs and mse
has no 1/2. With k outputs, fastnn's gradient is ``c`` times scikit-learn's:
c = 2/k for mse, 1/k for bce, 1 for cce. The estimator compensates, so that
the updates are scikit-learn's: SGD's learning rate is divided by c, the
epsilon of Adam-like rules multiplied by c, weight decay multiplied by c.
``loss_curve_`` reports the epoch losses on scikit-learn's scale (mse / 2,
bce * k). Like scikit-learn's, each is the mean of the batch losses, each
taken before its update; unlike scikit-learn's it does not include the L2
penalty ``alpha / 2 * ||W||^2 / batch_size`` per batch (2e-5 to 5e-5 on digits
with the defaults, changing by less than 1e-6 from one epoch to the next, far
below ``tol``: it hardly ever changes a stopping decision).

==========================  =================================================
scikit-learn                fastnn
==========================  =================================================
solver='sgd'                ``optimizers.SGD(learning_rate=learning_rate_init
                            / c, momentum=momentum, nesterov=
                            nesterovs_momentum and momentum > 0)``. The same
                            updates as scikit-learn's velocity form while the
                            rate is constant (its velocity is -lr times
                            torch's momentum buffer); when the rate changes
                            (invscaling, adaptive) scikit-learn's velocity
                            keeps the old rates, torch's rule applies the new
                            rate to the whole buffer.
solver='adam'               ``optimizers.Adam(learning_rate_init, betas=
                            (beta_1, beta_2), eps=c * epsilon)``. scikit-learn
                            adds epsilon after the bias correction of the
                            second moment, torch before: scikit-learn's
                            epsilon is torch's eps * sqrt(1 - beta_2^t), a
                            difference only while sqrt(v) is ~epsilon.
solver='adamw', 'rmsprop',  fastnn's other rules at ``learning_rate_init``,
'adagrad', 'rprop'          with ``eps=c * epsilon`` (not rprop); their other
                            options keep fastnn's (PyTorch's) defaults. rprop
                            trains on full batches (``batch_size='auto'``
                            means all samples) and has no weight decay (it
                            needs ``alpha=0``). 'lbfgs' is not available.
alpha                       L2 penalty on the weights, not the biases: weight
                            decay ``c * alpha / batch_size`` with
                            ``decay_biases=False`` (scikit-learn adds
                            ``alpha * W / n`` to the gradient of a batch of n
                            samples, so a smaller last batch gets a little
                            more; fastnn uses the full batch size for all).
                            For 'adamw', alpha is the decoupled decay rate
                            (AdamW's weight_decay: ``p *= 1 - lr * alpha``).
batch_size='auto'           ``min(200, n_samples)``; a larger batch_size is
                            clipped with a warning, as scikit-learn does.
learning_rate='constant'    no schedule.
learning_rate='invscaling'  ``schedules.InverseScaling(power_t)``: the rate
                            of an epoch is learning_rate_init / (samples seen
                            + 1)^power_t, as scikit-learn's (sgd only).
learning_rate='adaptive'    decided by the estimator between epochs, as
                            scikit-learn does: when the loss (or the
                            validation score) has not improved by ``tol`` for
                            more than ``n_iter_no_change`` epochs, the rate
                            is divided by 5 and the count starts again;
                            training stops when the rate is <= 1e-6 (sgd
                            only; other solvers stop).
tol, n_iter_no_change       scikit-learn's rule: an epoch improves when its
                            training loss is below the best so far minus
                            ``tol`` (with ``early_stopping``: its validation
                            score is above the best plus ``tol``); training
                            stops after more than ``n_iter_no_change``
                            epochs in a row without improvement
                            (``np.inf``: never).
early_stopping              ``validation_fraction`` of the data is held out
                            (``train_test_split`` from the same random state;
                            stratified for binary targets, as scikit-learn);
                            the score (accuracy, R^2) is measured after every
                            epoch (``validation_scores_``) and the best
                            epoch's parameters are restored at the end.
max_iter                    epochs; a ``ConvergenceWarning`` when they run
                            out before the stopping rule ends training.
shuffle, random_state       the samples are shuffled every epoch by the
                            Network's own generator, seeded once from
                            ``random_state``: results do not depend on how the
                            epochs are split into compiled calls.
warm_start                  a second ``fit`` continues from the fitted
                            parameters with a new optimizer state (as
                            scikit-learn); ``partial_fit`` continues the
                            optimizer's state.
partial_fit                 one epoch over the given data, continuing the
                            optimizer's state (moments, step count, schedule).
dtype (fastnn)              the precision of training: 'float32' (the
                            default, see below), 'float64', or None for
                            scikit-learn's rule (float32 data in float32,
                            anything else in float64). Predictions come back
                            in the precision of X, as scikit-learn's.
threads (fastnn)            BLAS threads for fit and predict: 'auto' (the
                            default: one thread unless a batch's largest
                            product reaches ``fastnn.threads.CROSSOVER``),
                            an int, or None (BLAS as it is). See
                            ``fastnn.threads``.
verbose                     scikit-learn's lines ("Iteration 12, loss =
                            ..."), printed after each compiled call.
==========================  =================================================

Defaults: scikit-learn's, but for one: ``dtype='float32'``. Measured side by
side (``bench/sklearn_defaults.py``, the README's section "scikit-learn"),
float32 training reaches the same test scores as float64 on digits, breast
cancer, wine and diabetes, in the same epochs, and fits 1.3-1.5x faster;
float64 falls short of five times scikit-learn's speed on breast cancer.
``dtype=None`` trains in X's precision, as scikit-learn does.

How the epochs run. Without ``early_stopping`` the estimator runs
``Network.fit`` in chunks of many epochs (the optimizer's state persists
between fits, so the chunks continue exactly) and applies the stopping rule
to the chunk's epoch losses afterwards. A chunk is either short enough that
the rule can act only after its last epoch, or longer (a few milliseconds of
work) with a copy of the network kept: when the rule would have acted inside
it, the copy is trained again for exactly the epochs up to that point (the
same shuffles, the same results). With ``early_stopping`` every epoch is its
own call, followed by the validation score. A Ctrl-C ends training with a
warning and keeps the completed epochs, as in scikit-learn.

Differences from scikit-learn: no 'lbfgs' solver (nor ``max_fun``), no
``sample_weight``, no sparse input (a ``TypeError`` asks for ``.toarray()``),
and ``MLPRegressor`` offers ``loss='squared_error'`` only. If training
diverges (a NaN or infinite loss) ``fit`` raises ``ValueError`` naming the
epoch and the fix, and leaves the estimator as it was.
"""
import copy
import math
import numbers
import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d

from . import optimizers, schedules
from . import threads as blas_threads
from .errors import TrainingDivergedError
from .training import unscaled_data
from .network import Layer, Network

try:                                        # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:                         # pragma: no cover  (scikit-learn 1.4, 1.5)
    def _validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)

__all__ = ["MLPClassifier", "MLPRegressor"]

#: Hidden activations: scikit-learn's name -> fastnn's.
ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu",
               "leaky_relu": "leaky_relu"}
#: Solvers: scikit-learn's 'sgd' and 'adam', and fastnn's other optimizers.
SOLVERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "rprop")
LEARNING_RATES = ("constant", "invscaling", "adaptive")
#: Output layer per fastnn loss: (fastnn activation, scikit-learn's name for out_activation_).
OUTPUTS = {"mse": ("identity", "identity"), "bce": ("sigmoid", "logistic"),
           "cce": ("softmax", "softmax")}
#: scikit-learn's adaptive schedule: the rate is divided by this on a plateau ...
_ADAPTIVE_FACTOR = 5.0
#: ... and training stops once it is at most this.
_ADAPTIVE_MIN_RATE = 1e-6
#: A speculative chunk of epochs (see the module's docstring) takes about this long.
_CHUNK_SECONDS = 0.005


def _loss_scales(loss, n_outputs):
    """(c, r): fastnn's gradient is c times scikit-learn's; scikit-learn's reported loss is
    r times fastnn's."""
    return {"mse": (2.0 / n_outputs, 0.5), "bce": (1.0 / n_outputs, float(n_outputs)),
            "cce": (1.0, 1.0)}[loss]


# -- hyper-parameter checks (at fit, as scikit-learn does: __init__ only stores) ------------

def _is_real(value):
    return (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
            and math.isfinite(value))


def _is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_boolean(value):
    return isinstance(value, (bool, np.bool_))


def _float_dtype(value):
    """np.float32 or np.float64 from anything naming one of them, else None."""
    try:
        name = np.dtype(value).name
    except TypeError:
        return None
    return {"float32": np.float32, "float64": np.float64}.get(name)


def _interval(low, high, closed="left"):
    """(check, description) of a real number in an interval; closed: 'left', 'right',
    'both' or 'neither'."""
    def check(value):
        return (_is_real(value) and (low <= value if closed in ("left", "both") else low < value)
                and (value <= high if closed in ("right", "both") else value < high))
    left, right = "[" if closed in ("left", "both") else "(", "]" if closed in ("right", "both") \
        else ")"
    return check, f"a float in the range {left}{low}, {'inf' if high == math.inf else high}{right}"


def _one_of(*options):
    return (lambda value: isinstance(value, str) and value in options,
            f"one of {', '.join(map(repr, options))}")


def _hidden_layer_sizes(value):
    sizes = value if hasattr(value, "__iter__") else [value]
    return not isinstance(sizes, str) and all(_is_integer(s) and s >= 1 for s in sizes)


#: parameter -> (check, what it must be): the rules of scikit-learn's MLP, and fastnn's
#: solvers and dtype.
PARAMETERS = {
    "hidden_layer_sizes": (_hidden_layer_sizes, "an int >= 1 or a sequence of ints >= 1"),
    "activation": _one_of(*ACTIVATIONS),
    "solver": (_one_of(*SOLVERS)[0], _one_of(*SOLVERS)[1] + " (fastnn has no L-BFGS)"),
    "alpha": _interval(0, math.inf),
    "batch_size": (lambda v: v == "auto" if isinstance(v, str) else _is_integer(v) and v >= 1,
                   "'auto' or an int in the range [1, inf)"),
    "learning_rate": _one_of(*LEARNING_RATES),
    "learning_rate_init": _interval(0, math.inf, "neither"),
    "power_t": _interval(0, math.inf),
    "max_iter": (lambda v: _is_integer(v) and v >= 1, "an int in the range [1, inf)"),
    "shuffle": (_is_boolean, "an instance of 'bool'"),
    "random_state": (lambda v: True, "None, an int or a RandomState"),  # check_random_state's
    "tol": _interval(0, math.inf),
    "verbose": (lambda v: _is_boolean(v) or _is_integer(v), "a bool or an int"),
    "warm_start": (_is_boolean, "an instance of 'bool'"),
    "momentum": _interval(0, 1, "both"),
    "nesterovs_momentum": (_is_boolean, "an instance of 'bool'"),
    "early_stopping": (_is_boolean, "an instance of 'bool'"),
    "validation_fraction": _interval(0, 1),
    "beta_1": _interval(0, 1),
    "beta_2": _interval(0, 1),
    "epsilon": _interval(0, math.inf, "neither"),
    "n_iter_no_change": (lambda v: (_is_integer(v) and v >= 1) or
                         (isinstance(v, numbers.Real) and v == math.inf),
                         "an int in the range [1, inf) or np.inf"),
    "threads": (lambda v: v is None or (isinstance(v, str) and v == "auto")
                or (_is_integer(v) and v >= 1), "'auto', None or an int in the range [1, inf)"),
    "dtype": (lambda v: v is None or _float_dtype(v) is not None,
              "'float32', 'float64' or None"),
    "loss": (_one_of("squared_error")[0], "'squared_error' (fastnn has no Poisson loss)"),
}


class _BaseMLP(BaseEstimator):
    """The training shared by MLPClassifier and MLPRegressor (see the module's docstring)."""

    _task = None                # "classification" or "regression"

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 dtype="float32", threads="auto"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.dtype = dtype
        self.threads = threads

    # -- parameters --------------------------------------------------------------------

    def _check_parameters(self):
        """The hidden layer sizes as a list; a ValueError naming any bad parameter."""
        for name, value in self.get_params(deep=False).items():
            check, what = PARAMETERS.get(name, (None, None))
            if check is not None and not check(value):
                raise ValueError(f"The {name!r} parameter of {type(self).__name__} must be "
                                 f"{what}. Got {value!r} instead.")
        if self.solver == "rprop" and self.alpha != 0:
            raise ValueError(f"solver='rprop' has no weight decay: set alpha=0 (got "
                             f"alpha={self.alpha!r})")
        sizes = self.hidden_layer_sizes
        return [int(size) for size in (sizes if hasattr(sizes, "__iter__") else [sizes])]

    # -- fitting -----------------------------------------------------------------------

    def fit(self, X, y):
        """Fit the model to X and y (class labels, or real targets for regression).

        Returns self. Trains for at most ``max_iter`` epochs (see the module's
        docstring for the stopping rule); with ``warm_start`` continues from
        the fitted parameters.
        """
        return self._transaction(self._fit, X, y, incremental=False)

    def _transaction(self, method, *args, **kwargs):
        """Run `method`; if it raises, the estimator is left as it was."""
        saved = self.__dict__.copy()
        try:
            return method(*args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _fit(self, X, y, incremental):
        hidden = self._check_parameters()
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        first = not hasattr(self, "_network") or not (self.warm_start or incremental)
        X, Y, loss = self._validate_training_data(X, y, incremental, reset=first)
        # converted once, not by every compiled call
        dtype = (X.dtype if self.dtype is None else _float_dtype(self.dtype)) if first \
            else self._network.dtype
        X, Y = np.asarray(X, dtype, order="C"), np.asarray(Y, dtype, order="C")
        # the random state is drawn from in scikit-learn's order: the initial parameters,
        # the validation split, the shuffling
        rng = check_random_state(self.random_state)
        if first:
            parameters = self._initial_parameters([X.shape[1], *hidden, Y.shape[1]], rng)
            self.n_outputs_ = Y.shape[1]
            self.n_layers_ = len(hidden) + 2
            self.out_activation_ = OUTPUTS[loss][1]
            self.loss_curve_ = []
            self.t_ = 0
            self._no_improvement_count = 0
            self.best_loss_ = None if self.early_stopping else np.inf
            self.validation_scores_ = [] if self.early_stopping else None
            self.best_validation_score_ = -np.inf if self.early_stopping else None
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} output(s), but this {type(self).__name__} "
                             f"was fitted with {self.n_outputs_}")
        else:
            # trained on copies (the network and the lists): a failing fit leaves the
            # estimator as it was
            self.loss_curve_ = list(self.loss_curve_)
            if self.early_stopping:             # (perhaps switched on since the last fit)
                self.validation_scores_ = list(self.validation_scores_ or [])
                if self.best_validation_score_ is None:
                    self.best_validation_score_ = -np.inf
            elif self.best_loss_ is None:
                self.best_loss_ = np.inf
        if not incremental or not hasattr(self, "_learning_rate"):
            self._learning_rate = float(self.learning_rate_init)

        validation = None
        if self.early_stopping:
            # binary targets stratified, as scikit-learn does (one output column)
            stratify = Y if self._task == "classification" and Y.shape[1] == 1 else None
            X, X_val, Y, Y_val = train_test_split(X, Y, random_state=rng,
                                                  test_size=self.validation_fraction,
                                                  stratify=stratify)
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
            validation = (X_val, self._targets_from(Y_val))

        if first:
            activation = ACTIVATIONS[self.activation]
            layers = [X.shape[1], *(Layer(h, activation) for h in hidden),
                      Layer(Y.shape[1], OUTPUTS[loss][0])]
            self._network = Network(layers, dtype=dtype, init="zeros", weights=parameters[0],
                                    biases=parameters[1],
                                    seed=int(rng.randint(np.iinfo(np.int32).max)))
            self._best_parameters = self._network.parameters.copy()
        else:
            self._network = copy.deepcopy(self._network)
            if not incremental:
                self._network.reset_optimizer()     # scikit-learn: a new optimizer per fit
        batch = len(X) if self.batch_size == "auto" and self.solver == "rprop" else \
            min(200 if self.batch_size == "auto" else self.batch_size, len(X))
        work = blas_threads.largest_product(self._network.layer_sizes, batch)
        with blas_threads.limit(blas_threads.choose(self.threads, work)):
            self._train(X, Y, loss, validation, incremental)
        return self

    def _initial_parameters(self, sizes, rng):
        """(weights, biases) drawn as scikit-learn initialises its MLP (Glorot uniform,
        biases too)."""
        factor = 2.0 if self.activation == "logistic" else 6.0
        weights, biases = [], []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = np.sqrt(factor / (fan_in + fan_out))
            weights.append(rng.uniform(-bound, bound, (fan_in, fan_out)))
            biases.append(rng.uniform(-bound, bound, fan_out))
        return weights, biases

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return n_samples if self.solver == "rprop" else min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                          "going to be clipped", UserWarning, stacklevel=6)
        batch_size = min(self.batch_size, n_samples)
        if self.solver == "rprop" and batch_size < n_samples:
            raise ValueError(f"solver='rprop' trains on full batches: batch_size='auto' (or "
                             f">= the {n_samples} samples), got batch_size={self.batch_size}")
        return batch_size

    def _optimizer(self, c, batch_size):
        """The fastnn optimizer that makes scikit-learn's updates (c: see _loss_scales)."""
        decay = {"weight_decay": c * self.alpha / batch_size, "decay_biases": False}
        eps = c * self.epsilon
        if self.solver == "sgd":
            return optimizers.SGD(learning_rate=self.learning_rate_init / c,
                                  momentum=float(self.momentum),
                                  nesterov=bool(self.nesterovs_momentum and self.momentum > 0),
                                  **decay)
        if self.solver == "adam":
            return optimizers.Adam(learning_rate=self.learning_rate_init,
                                   betas=(self.beta_1, self.beta_2), eps=eps, **decay)
        if self.solver == "adamw":
            return optimizers.AdamW(learning_rate=self.learning_rate_init,
                                    betas=(self.beta_1, self.beta_2), eps=eps,
                                    weight_decay=float(self.alpha), decay_biases=False)
        if self.solver == "rmsprop":
            return optimizers.RMSprop(learning_rate=self.learning_rate_init, eps=eps, **decay)
        if self.solver == "adagrad":
            return optimizers.Adagrad(learning_rate=self.learning_rate_init, eps=eps, **decay)
        return optimizers.Rprop(learning_rate=self.learning_rate_init)

    def _train(self, X, Y, loss, validation, incremental):
        """Run the epochs: compiled chunks, scikit-learn's stopping rule between them."""
        network = self._network
        n_samples = X.shape[0]
        c, r = _loss_scales(loss, Y.shape[1])
        batch_size = self._batch_size(n_samples)
        sgd = self.solver == "sgd"
        scheduled = sgd and self.learning_rate == "invscaling"
        fit_options = dict(batch_size=batch_size, loss=loss, shuffle=self.shuffle, threads=None,
                           optimizer=self._optimizer(c, batch_size),
                           schedule=schedules.InverseScaling(power_t=self.power_t)
                           if scheduled else None)

        def rate():
            if scheduled:
                return self.learning_rate_init / c
            return self._learning_rate / c if sgd else self._learning_rate

        epochs = 1 if incremental else self.max_iter
        patience = self.n_iter_no_change
        self.n_iter_ = done = 0
        per_epoch = None
        stopped = interrupted = False
        while done < epochs and not stopped and not interrupted:
            # the rule can act first after `safe` more epochs; a longer chunk is speculative
            safe = patience + 1 - self._no_improvement_count
            count = min(epochs - done, 1 if validation else
                        max(safe, 1 if per_epoch is None else
                            int(_CHUNK_SECONDS / max(per_epoch, 1e-9))))
            backup = copy.deepcopy(network) if count > safe else None
            started = time.perf_counter()
            try:
                history = network.fit(X, Y, epochs=count, learning_rate=rate(), **fit_options)
            except KeyboardInterrupt:
                history, interrupted = network.history, True
            except TrainingDivergedError as error:
                last = error.history.final_loss
                what = (f"the loss became {last}" if not np.isfinite(last)
                        else "the parameters overflowed")
                advice = unscaled_data(X, Y, loss) or [
                    f"scale the inputs (for example with StandardScaler)"
                    f"{' and the targets' if loss == 'mse' else ''}"]
                raise ValueError(
                    f"training diverged in epoch {self.n_iter_ + error.history.epochs}: {what}. "
                    f"{'; '.join(advice)}; or lower learning_rate_init (now "
                    f"{self.learning_rate_init})") from error
            losses = history.loss_array * r
            per_epoch = (time.perf_counter() - started) / max(1, len(losses))
            ran, event = 0, False
            for value in losses:
                ran += 1
                event = self._record_epoch(float(value), validation, n_samples)
                if event:
                    break
            if ran < len(losses):               # the rule acted inside a speculative chunk
                network = self._network = backup
                network.fit(X, Y, epochs=ran, learning_rate=rate(), **fit_options)
            done += ran
            if event:
                stopped = not self._plateau(sgd)
        if interrupted:
            warnings.warn("Training interrupted by user.", stacklevel=5)
        if validation is not None:
            network.parameters = self._best_parameters
        if not (stopped or interrupted or incremental) and self.n_iter_ == self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                          f"reached and the optimization hasn't converged yet.",
                          ConvergenceWarning, stacklevel=5)

    def _record_epoch(self, loss, validation, n_samples):
        """Record one epoch as scikit-learn does; True when the stopping rule acts."""
        self.n_iter_ += 1
        self.t_ += n_samples
        self.loss_ = loss
        self.loss_curve_.append(loss)
        if self.verbose:
            print(f"Iteration {self.n_iter_}, loss = {loss:.8f}")
        if validation is not None:
            score = self._score_on(*validation)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_parameters = self._network.parameters.copy()
        else:
            if loss > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            self.best_loss_ = min(self.best_loss_, loss)
        return self._no_improvement_count > self.n_iter_no_change

    def _plateau(self, sgd):
        """The stopping rule acted: True to go on with a smaller rate ('adaptive')."""
        if self.early_stopping:
            message = (f"Validation score did not improve more than tol={self.tol:f} for "
                       f"{self.n_iter_no_change} consecutive epochs.")
        else:
            message = (f"Training loss did not improve more than tol={self.tol:f} for "
                       f"{self.n_iter_no_change} consecutive epochs.")
        if not (sgd and self.learning_rate == "adaptive"):
            if self.verbose:
                print(message + " Stopping.")
            return False
        if self._learning_rate <= _ADAPTIVE_MIN_RATE:
            if self.verbose:
                print(message + " Learning rate too small. Stopping.")
            return False
        self._learning_rate /= _ADAPTIVE_FACTOR
        self._no_improvement_count = 0
        if self.verbose:
            print(message + f" Setting learning rate to {self._learning_rate:f}")
        return True

    # -- the fitted model --------------------------------------------------------------

    def __sklearn_is_fitted__(self):
        return hasattr(self, "_network")

    @property
    def coefs_(self):
        """The weight matrices, one per layer (n_in, n_out): views of the parameters."""
        return self._fitted_network().weights

    @coefs_.setter
    def coefs_(self, weights):
        self._fitted_network().set_parameters(weights=weights)

    @property
    def intercepts_(self):
        """The bias vectors, one per layer: views of the parameters."""
        return self._fitted_network().biases

    @intercepts_.setter
    def intercepts_(self, biases):
        self._fitted_network().set_parameters(biases=biases)

    @property
    def network_(self):
        """The fitted ``fastnn.Network``."""
        return self._fitted_network()

    def _fitted_network(self):
        if not hasattr(self, "_network"):
            raise AttributeError(f"This {type(self).__name__} instance is not fitted yet")
        return self._network

    def _forward(self, X):
        """The output layer's values for X (n_samples, n_outputs), in X's precision."""
        check_is_fitted(self)
        X = _validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        work = blas_threads.largest_product(self._network.layer_sizes, len(X))
        with blas_threads.limit(blas_threads.choose(self.threads, work)):
            return self._network.feedforward(X).astype(X.dtype, copy=False)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's MLPClassifier, trained by fastnn.

    Binary, multi-class and multi-label (an indicator matrix y) classification,
    with labels of any type (strings, integers, booleans). The parameters and
    fitted attributes are scikit-learn's (see ``sklearn.neural_network.
    MLPClassifier``); how they map onto fastnn is in the docstring of
    ``fastnn.sklearn``. ``dtype`` ('float32', the default, 'float64', or None
    to train in X's precision as scikit-learn does) is fastnn's addition.

    Fitted attributes: ``classes_``, ``loss_``, ``loss_curve_``, ``best_loss_``,
    ``validation_scores_``, ``best_validation_score_``, ``t_``, ``coefs_``,
    ``intercepts_``, ``n_features_in_``, ``feature_names_in_``, ``n_iter_``,
    ``n_layers_``, ``n_outputs_``, ``out_activation_``, ``network_`` (the
    fastnn Network).

    Examples
    --------
    >>> from fastnn.sklearn import MLPClassifier
    >>> X = [[0, 0], [0, 1], [1, 0], [1, 1]] * 25
    >>> y = ["no", "yes", "yes", "no"] * 25
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.05,
    ...                     random_state=0).fit(X, y)
    >>> clf.predict([[1, 0], [1, 1]]).tolist()
    ['yes', 'no']
    """

    _task = "classification"

    def _validate_training_data(self, X, y, incremental, reset):
        X, y = _validate_data(self, X, y, multi_output=True, dtype=(np.float64, np.float32),
                              reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if not hasattr(self, "classes_") or not (self.warm_start or incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start and not incremental:
                if set(classes) != set(self.classes_):
                    raise ValueError(f"warm_start can only be used where `y` has the same "
                                     f"classes as in the previous call to fit. Previously "
                                     f"got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` "
                                 f"has {self.classes_}. 'y' has {classes}.")
        Y = self._label_binarizer.transform(y)
        loss = "cce" if self._label_binarizer.y_type_ == "multiclass" else "bce"
        return X, Y, loss

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y), continuing the optimizer's state.

        ``classes`` (every class, e.g. ``np.unique(y_all)``) is required on the
        first call, unless y is a multi-label indicator matrix.
        """
        return self._transaction(self._partial_fit, X, y, classes)

    def _partial_fit(self, X, y, classes):
        if classes is not None and hasattr(self, "classes_") and hasattr(self, "_network"):
            if not np.array_equal(self.classes_, unique_labels(classes)):
                raise ValueError(f"`classes={classes!r}` is not the same as on last call to "
                                 f"partial_fit, was: {self.classes_!r}")
        elif not hasattr(self, "_network"):
            binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                binarizer.fit(y)                        # multi-label: the columns
            elif classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            else:
                binarizer.fit(classes)
            self._label_binarizer, self.classes_ = binarizer, binarizer.classes_
        return self._fit(X, y, incremental=True)

    def _targets_from(self, Y):
        return self._label_binarizer.inverse_transform(Y[:, 0] if Y.shape[1] == 1 else Y)

    def _score_on(self, X, y):
        return accuracy_score(y, self._labels(self._network.feedforward(X)))

    def _labels(self, outputs):
        return self._label_binarizer.inverse_transform(
            outputs[:, 0] if outputs.shape[1] == 1 else outputs)

    def predict(self, X):
        """The predicted class of each sample (n_samples,), or the label indicator matrix
        (n_samples, n_labels) of a multi-label classifier."""
        return self._labels(self._forward(X))

    def predict_proba(self, X):
        """Probability of each class (n_samples, n_classes), in the order of ``classes_``;
        for a multi-label classifier, of each label (independent sigmoids)."""
        outputs = self._forward(X)
        if outputs.shape[1] == 1:
            return np.hstack([1 - outputs, outputs])
        return outputs

    def predict_log_proba(self, X):
        """log(predict_proba(X))."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _more_tags(self):                       # scikit-learn < 1.6
        return {"multilabel": True}


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's MLPRegressor, trained by fastnn.

    Squared error with an identity output layer; one target (y of shape
    (n_samples,)) or several ((n_samples, n_targets)). The parameters and
    fitted attributes are scikit-learn's (see ``sklearn.neural_network.
    MLPRegressor``; ``loss`` takes 'squared_error' only); how they map onto
    fastnn is in the docstring of ``fastnn.sklearn``. Scale the targets too
    (e.g. ``TransformedTargetRegressor`` with a ``StandardScaler``): the
    defaults are tuned for targets of unit scale, as scikit-learn's are.

    Examples
    --------
    >>> import numpy as np
    >>> from fastnn.sklearn import MLPRegressor
    >>> X = np.linspace(-1, 1, 200).reshape(-1, 1)
    >>> reg = MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, tol=1e-6,
    ...                    max_iter=1000, random_state=0).fit(X, X[:, 0] ** 2)
    >>> reg.predict([[-0.5], [0.0], [0.5]]).round(2)
    array([0.25, 0.  , 0.25])
    """

    _task = "regression"

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, loss="squared_error",
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 dtype="float32", threads="auto"):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            dtype=dtype, threads=threads)
        self.loss = loss

    def _validate_training_data(self, X, y, incremental, reset):
        X, y = _validate_data(self, X, y, multi_output=True, y_numeric=True,
                              dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y.reshape(len(y), -1), "mse"

    def partial_fit(self, X, y):
        """One epoch over (X, y), continuing the optimizer's state."""
        return self._transaction(self._fit, X, y, incremental=True)

    def _targets_from(self, Y):
        return Y[:, 0] if Y.shape[1] == 1 else Y

    def _score_on(self, X, y):
        return r2_score(y, self._targets_from(self._network.feedforward(X)))

    def predict(self, X):
        """The predicted targets: (n_samples,) for one target, else (n_samples, n_targets)."""
        return self._targets_from(self._forward(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self):                       # scikit-learn < 1.6
        return {"multioutput": True}
