"""Network: a feedforward multi-layer perceptron, trained by gradient descent.

All parameters live in one flat buffer (per layer: W (n_in, n_out) row-major,
then b); ``weights`` and ``biases`` are views into it. Arithmetic goes to a
backend, the compiled kernels (default) or the NumPy reference
(``backend="numpy"``), which run the same algorithm and give the same numbers.
"""
import os
import threading
import weakref
from collections import namedtuple

import numpy as np

from . import _reference, optimizers, schedules, threads as blas_threads, training, validation
from ._dispatch import kernels
from .callbacks import EarlyStopping
from .initializers import INITIALIZERS

#: The arithmetic backends by name: same functions, same signatures, same results.
BACKENDS = {"compiled": kernels, "numpy": _reference}

#: A layer given with its own activation: ``Network([2, Layer(16, "relu"), Layer(1, "sigmoid")])``.
Layer = namedtuple("Layer", ["size", "activation"])

#: The output layer's activation when neither ``output=`` nor a ``Layer`` gives it, by the
#: ``activation`` of the hidden layers: an activation that makes sense on an output keeps
#: it (the classic all-sigmoid, identity and step networks), the hidden-layer-only
#: activations get an identity (regression) output. A network without hidden layers applies
#: ``activation`` to its one layer.
DEFAULT_OUTPUT = {"identity": "identity", "sigmoid": "sigmoid", "step": "step",
                  "softmax": "softmax", "tanh": "identity", "relu": "identity",
                  "leaky_relu": "identity"}


class Network:
    """A feedforward network of dense layers.

    Parameters
    ----------
    layers : list
        The input size, then one entry per layer: an int (the layer's size,
        with ``activation``) or a ``Layer(size, activation)``.
    activation : str
        Activation of the hidden layers given as plain sizes: identity,
        sigmoid, tanh, relu, leaky_relu or step (forward only).
    output : str, optional
        Activation of the output layer: identity (regression), sigmoid (one
        probability per output: binary or multi-label classification),
        softmax (classes), or any other activation. When it is not given (and
        the last entry of ``layers`` is a plain size), it follows from
        ``activation`` (``DEFAULT_OUTPUT``): sigmoid, identity and step keep
        themselves (the classic textbook networks are sigmoid throughout), relu,
        leaky_relu and tanh give an identity output. A network without hidden
        layers applies ``activation`` to its one layer.
    dtype : float32 or float64
    init : str
        glorot (default), he, normal, uniform or zeros.
    weights, biases : list of arrays, optional
        Given parameters per layer (W of shape (n_in, n_out), b of (n_out,)),
        instead of ``init``.
    seed : int, optional
        Seeds the initialisation and the shuffling during ``fit``.
    backend : "compiled" or "numpy"

    Examples
    --------
    >>> net = Network([2, 2, 1], activation="sigmoid", seed=0)
    >>> net
    Network([2, 2, 1], activation='sigmoid', dtype=float64)
    >>> net.feedforward([2.0, 3.0]).shape
    (1,)
    >>> Network([13, 32, 1], activation="relu").activations
    ['relu', 'identity']
    >>> Network([64, 32, 10], activation="relu", output="softmax")
    Network([64, 32, 10], activation='relu', output='softmax', dtype=float64)
    """

    def __init__(self, layers, activation="sigmoid", output=None, dtype=np.float64,
                 init="glorot", weights=None, biases=None, seed=None, backend="compiled"):
        sizes, activations = _parse_layers(layers, activation, output)
        self._sizes, self._activations = sizes, activations
        self.dtype = validation.as_dtype(dtype)
        self.backend = validation.choice(backend, tuple(BACKENDS), "backend")
        self._backend = BACKENDS[backend]
        validation.choice(init, tuple(INITIALIZERS), "init")
        self._rng = np.random.default_rng(validation.seed(seed))
        # Serialises everything that writes the parameters (fit, the setters, the
        # numerical gradient) or must see them whole (save): two threads training
        # one network take turns instead of losing each other's updates.
        self._lock = threading.RLock()
        _LIVE.add(self)
        self._params = _reference._aligned_parameters(
            np.zeros(_reference.parameter_offsets(sizes)[-1], self.dtype))
        self._layers = _reference._layer_views(self._params, sizes)
        self.history = None
        self._state = None          # the optimizer's TrainingState, from the first fit on
        for W, b in self._layers:
            W[...], b[...] = INITIALIZERS[init](self._rng, W.shape[0], W.shape[1])
        if weights is not None or biases is not None:
            self.set_parameters(weights, biases)
        self._plan = self._forward_plan()

    # -- architecture and parameters -------------------------------------------------

    @property
    def layer_sizes(self):
        """[n_inputs, size of layer 1, ..., n_outputs]."""
        return list(self._sizes)

    @property
    def activations(self):
        """The activation of each layer."""
        return list(self._activations)

    @property
    def weights(self):
        """The weight matrices, one per layer: views into the parameter buffer."""
        return [W for W, _ in self._layers]

    @property
    def biases(self):
        """The bias vectors, one per layer: views into the parameter buffer."""
        return [b for _, b in self._layers]

    @property
    def parameters(self):
        """All parameters as one flat array (a read-only view); assign to replace them."""
        view = self._params.view()
        view.flags.writeable = False
        return view

    @parameters.setter
    def parameters(self, values):
        values = validation.as_array(values, self._params.shape, self.dtype, "parameters")
        with self._lock:
            self._params[...] = values

    def set_parameters(self, weights=None, biases=None):
        """Replace the weights and/or biases of every layer (shapes checked first)."""
        new = []
        for name, given, current in (("weights", weights, self.weights),
                                     ("biases", biases, self.biases)):
            if given is None:
                continue
            if len(given) != len(current):
                raise ValueError(f"{name} must hold one array per layer ({len(current)}), "
                                 f"got {len(given)}")
            for i, (value, target) in enumerate(zip(given, current)):
                new.append((target, validation.as_array(value, target.shape, self.dtype,
                                                        f"{name}[{i}]")))
        with self._lock:
            for target, value in new:   # all checked: now change the model
                target[...] = value

    def __repr__(self):
        hidden, out = self._activations[:-1], self._activations[-1]
        if len(set(hidden)) == 1 or not hidden:
            first = (hidden or [out])[0]
            layers, act = self._sizes, f", activation={first!r}"
            if hidden and DEFAULT_OUTPUT[first] != out:
                act += f", output={out!r}"
        else:
            layers = [self._sizes[0]] + [Layer(s, a) for s, a in
                                         zip(self._sizes[1:], self._activations)]
            act = ""
        backend = "" if self.backend == "compiled" else f", backend={self.backend!r}"
        return f"Network({list(layers)}{act}, dtype={np.dtype(self.dtype).name}{backend})"

    # -- forward pass ------------------------------------------------------------------

    def feedforward(self, X):
        """The output layer's values: (n_samples, n_outputs) for a batch X (2-d), (n_outputs,)
        for one sample (1-d)."""
        return self._forward(X)

    def _forward(self, X):
        """The outputs: (n_samples, n_outputs) for a 2-d X, (n_outputs,) for one sample.

        An array that needs no conversion (this network's dtype, C-contiguous,
        finite) goes straight through the compiled plan, which checks it in C;
        anything else is validated and converted first (the errors users see).
        """
        out = self._plan.outputs(X) if self._plan is not None else None
        return self._checked_forward(X) if out is None else out

    def _checked_forward(self, X):
        """_forward for what the plan does not take: validated and converted first."""
        X, single = validation.as_samples(X, self._sizes[0], self.dtype)
        out = self._backend.network_forward(X, self._params, self._sizes, self._activations)
        return out[0] if single else out

    def predict(self, X):
        """The network's outputs: (n_samples,) for a batch X (2-d) when the network has one
        output, else (n_samples, n_outputs); for one sample (1-d X), (n_outputs,).

        The output axis of a batch is dropped when it has one entry, as
        scikit-learn's estimators shape one target's predictions, so that
        ``np.mean((net.predict(X) > 0.5) == y)`` compares sample by sample; one
        sample gives the 1-d row of its outputs (``net.predict(x)[0]``).
        ``feedforward`` keeps the output axis. For classification outputs see
        also ``predict_proba`` and ``predict_classes``.
        """
        # the plan inline, not through _forward: a Python call is ~10 % of a one-row predict
        out = self._plan.outputs(X) if self._plan is not None else None
        if out is None:
            out = self._checked_forward(X)
        # ravel: a view of the C-contiguous forward output, 50 ns (reshape takes 150 ns)
        return out.ravel() if out.ndim == 2 and out.shape[1] == 1 else out

    def predict_proba(self, X):
        """Class probabilities, as scikit-learn's ``predict_proba``: (n_samples, n_classes).

        softmax output: its values; one sigmoid output (binary): the columns
        ``[1 - p, p]`` for classes 0 and 1; several sigmoid outputs
        (multi-label): the probability of each label. One sample (1-d X): the
        row. Other outputs raise ValueError.
        """
        self._classifier("predict_proba")
        out = self._forward(X)
        single = out.ndim == 1
        out = out.reshape(1, -1) if single else out
        if out.shape[1] == 1 and self._activations[-1] == "sigmoid":
            out = np.hstack([1 - out, out])
        return out[0] if single else out

    def predict_classes(self, X):
        """Class labels (integers), as scikit-learn's classifiers predict them.

        softmax output: the index of the largest output, (n_samples,); one
        sigmoid output: 1 where p > 0.5, else 0, (n_samples,); several
        sigmoid outputs (multi-label): a 0/1 matrix (n_samples, n_labels).
        One sample (1-d X): a scalar (or the row). Other outputs raise
        ValueError.
        """
        self._classifier("predict_classes")
        out = self._forward(X)
        single = out.ndim == 1
        labels = _classes(out.reshape(1, -1) if single else out, self._activations[-1])
        return labels[0] if single else labels

    def _classifier(self, method):
        if self._activations[-1] not in ("sigmoid", "softmax"):
            raise ValueError(f"{method} needs a classification output (sigmoid or softmax), "
                             f"this Network's output is {self._activations[-1]!r}: build it "
                             f"with output='softmax' (classes) or output='sigmoid' (binary, "
                             f"multi-label)")

    def _forward_plan(self):
        """The compiled forward pass of this architecture and dtype (None for numpy)."""
        if self._backend is not kernels:
            return None
        return kernels.ForwardPlan(self._params, self._sizes, self._activations)

    def _outputs(self, X, logits=False):
        """The network's outputs for a checked X; the last layer's pre-activation if logits."""
        activations = self._activations[:-1] + ["identity"] if logits else self._activations
        return self._backend.network_forward(X, self._params, self._sizes, activations)

    def default_loss(self):
        """cce for a softmax output, mse otherwise."""
        return "cce" if self._activations[-1] == "softmax" else "mse"

    def evaluate(self, X, y, loss=None, threads="auto"):
        """{"loss": ..., and "accuracy" for classification outputs}.

        threads: BLAS threads, as in ``fit`` ("auto": one unless n_samples x
        n_in x n_out of the largest layer reaches ``fastnn.threads.CROSSOVER``).
        """
        loss = self._loss(loss)
        threads = blas_threads.check(threads)
        X, _ = validation.as_samples(X, self._sizes[0], self.dtype)
        Y = validation.as_targets(y, X.shape[0], self._sizes[-1], loss, self.dtype)
        logits = loss != "mse"
        with blas_threads.limit(blas_threads.choose(
                threads, blas_threads.largest_product(self._sizes, X.shape[0]))):
            out = self._outputs(X, logits=logits)
        result = {"loss": _loss_value(self._backend, loss)(Y, out)}
        if self._activations[-1] in ("sigmoid", "softmax"):
            if logits:
                out = self._backend.activate(out, self._activations[-1])
            result["accuracy"] = _accuracy(out, Y, 0.5)
        return result

    # -- backpropagation ---------------------------------------------------------------

    def gradients(self, X, y, loss=None):
        """The gradient of the loss over (X, y) with respect to every parameter.

        A flat array in the layout of ``parameters`` (backpropagation; the
        model is not changed).
        """
        loss = self._loss(loss)
        self._trainable()
        X, _ = validation.as_samples(X, self._sizes[0], self.dtype)
        Y = validation.as_targets(y, X.shape[0], self._sizes[-1], loss, self.dtype)
        return self._backend.network_gradient(X, Y, self._params, self._sizes,
                                              self._activations, loss)[1]

    def loss(self, X, y, loss=None):
        """The loss over (X, y) at the current parameters."""
        return self.evaluate(X, y, loss)["loss"]

    # -- training ----------------------------------------------------------------------

    def fit(self, X, y, epochs=200, learning_rate=None, batch_size=32, loss=None, shuffle=True,
            seed=None, target_loss=None, verbose=False, patience=None, min_delta=0.0,
            validation_data=None, optimizer="sgd", schedule=None, clip_norm=None,
            callbacks=None, metrics=None, threads="auto"):
        """Train by gradient descent; returns the ``History`` (also ``net.history``).

        batch_size=1 is per-sample (stochastic) gradient descent, batch_size=k
        mini-batch (the last batch may be smaller; default 32), batch_size=None
        full batch.
        Stops after ``epochs`` epochs, or earlier when the epoch loss falls below
        ``target_loss``. The epochs run inside compiled code (one call per fit,
        or per progress update when ``verbose``). Fits of one network from
        several threads take turns. loss: "mse" (default for non-softmax
        outputs), "bce" (sigmoid output) or "cce" (softmax output; y may be
        class labels). verbose: False, True (a live progress line on a
        terminal, ten plain lines elsewhere) or the number of epochs between
        plain progress lines.

        optimizer: "sgd" (default), "adam", "adamw", "rmsprop", "adagrad",
        "rprop" (full batches only), a dict {"name": ..., **options} or an
        instance from ``fastnn.optimizers``; learning_rate, when given, replaces
        its learning rate (defaults: 0.01 for SGD, PyTorch's for the others).

        The defaults (200 epochs of plain SGD at 0.01 in shuffled batches of
        32) were measured not to diverge on scikit-learn's digits, breast
        cancer, wine and diabetes data, standardised (inputs, and the diabetes
        target), for networks with 32 or 100 hidden units or two layers of 64,
        sigmoid, relu or tanh, 5 seeds each, with a margin of 3x in the
        learning rate; they reach 0.96-0.98 accuracy and an R^2 of about 0.4,
        as scikit-learn's MLP defaults do. Per
        sample at 0.1 (the defaults before) diverged
        on digits and diabetes with relu.
        The optimizer's state (moments, step count) stays on the network: a
        second fit with the same optimizer settings (the learning rate aside)
        continues it, other settings start a new state, and
        ``reset_optimizer()`` starts afresh. schedule: None (constant),
        "step", "exponential", "cosine", "invscaling", "plateau", a dict or an
        instance from ``fastnn.schedules``; it counts the state's epochs.
        clip_norm: clip the gradient of every batch to this global L2 norm.

        Raises TrainingDivergedError, with the model (and the optimizer's
        state) left at its last finite state, if the loss becomes NaN or
        infinite. Ctrl-C stops training within a fraction of a second: the
        model is left at the end of the last completed epoch, ``history``
        holds those epochs (stopped="interrupted") and KeyboardInterrupt
        propagates.

        Early stopping: ``validation_data=(X_val, y_val)`` records the loss on
        held-out data after every epoch (``history.val_loss``, and
        ``val_accuracy`` for a sigmoid or softmax output); with
        ``patience=k``, training stops when the validation loss (or, without
        validation data, the training loss) has not fallen by more than
        ``min_delta`` for k epochs, and the parameters of the best epoch
        (``history.best_epoch``, counted from 0) are restored
        (stopped="patience"; the optimizer's state is not rolled back, as in
        Keras): ``fastnn.callbacks.EarlyStopping(patience, min_delta)``.
        ``metrics=["accuracy"]`` records the training accuracy after every
        epoch (``history.accuracy``; one forward pass over X per epoch).
        These run one compiled call per epoch.

        callbacks: objects with ``on_fit_begin(network, epochs)``,
        ``on_epoch_end(epoch, logs)`` (return True to stop) and
        ``on_fit_end(history)`` (see ``fastnn.callbacks``), run between the
        compiled calls.

        threads: BLAS threads for the fit (and its validation passes): "auto"
        (default) one thread unless a batch's largest product, batch_size x
        n_in x n_out, reaches ``fastnn.threads.CROSSOVER`` (2**22), an integer,
        or None to leave BLAS as it is. Results do not depend on it beyond
        rounding.
        """
        loss = self._loss(loss)
        self._trainable()
        X, _ = validation.as_samples(X, self._sizes[0], self.dtype)
        Y = validation.as_targets(y, X.shape[0], self._sizes[-1], loss, self.dtype)
        chosen = optimizers.get(optimizer, None if learning_rate is None else
                                validation.positive_number(learning_rate, "learning_rate"))
        batch_size = X.shape[0] if batch_size is None \
            else validation.positive_int(batch_size, "batch_size")
        if chosen.name == "rprop" and batch_size < X.shape[0]:
            raise ValueError(f"optimizer 'rprop' needs full batches: batch_size=None (or >= "
                             f"the {X.shape[0]} samples), got batch_size={batch_size}")
        largest = blas_threads.largest_product(self._sizes, batch_size)
        threads = blas_threads.choose(blas_threads.check(threads), largest)
        callbacks = _callbacks(callbacks)
        if patience is not None:
            callbacks.insert(0, EarlyStopping(patience, min_delta))
        else:
            validation.non_negative_number(min_delta, "min_delta")
        progress = training.progress_callback(verbose)
        if progress is not None:
            callbacks.append(progress)
        plan = training.Plan(
            epochs=validation.positive_int(epochs, "epochs"),
            batch_size=batch_size, loss=loss, shuffle=bool(shuffle),
            rng=self._rng if seed is None else np.random.default_rng(validation.seed(seed)),
            optimizer=chosen, schedule=schedules.get(schedule),
            clip_norm=0.0 if clip_norm is None
            else validation.positive_number(clip_norm, "clip_norm"),
            target_loss=None if target_loss is None
            else validation.positive_number(target_loss, "target_loss"),
            validation=None if validation_data is None
            else self._validation_loss(validation_data, loss),
            accuracy=self._training_accuracy(X, Y, metrics),
            callbacks=callbacks)
        if largest < kernels.blas_threshold() and plan.validation is None \
                and plan.accuracy is None and not plan.callbacks:
            threads = None      # nothing in this fit calls BLAS: its threads are left alone
        with self._lock:
            state = self._state
            if state is None or state.optimizer.settings() != chosen.settings():
                state = training.TrainingState(chosen, self._params.shape[0], self.dtype)
            else:
                state.optimizer = chosen                     # the same settings, a new rate
            self._state = state
            self.history = training.History()
            with blas_threads.limit(threads):
                return training.run(self._backend, X, Y, self._params, self._sizes,
                                    self._activations, state, plan, self.history, self)

    # -- the optimizer's state ---------------------------------------------------------

    @property
    def optimizer(self):
        """The optimizer of the last fit (None before the first)."""
        return None if self._state is None else self._state.optimizer

    @property
    def optimizer_state(self):
        """A snapshot of the optimizer's state: its settings, step, epoch and sample
        counts, and a copy of its buffers (None before the first fit)."""
        return None if self._state is None else self._state.describe()

    def reset_optimizer(self):
        """Forget the optimizer's state: the next fit starts its moments, step count and
        schedule afresh."""
        with self._lock:
            self._state = None

    def _validation_loss(self, validation_data, loss):
        """A function giving (loss, accuracy) on (X_val, y_val) at the current parameters;
        the accuracy is None unless the output is sigmoid or softmax."""
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError(f"validation_data must be a pair (X_val, y_val), got "
                            f"{type(validation_data).__name__}")
        X_val, _ = validation.as_samples(validation_data[0], self._sizes[0], self.dtype,
                                         "X_val")
        Y_val = validation.as_targets(validation_data[1], X_val.shape[0], self._sizes[-1],
                                      loss, self.dtype, "y_val", "X_val")
        loss_value = _loss_value(self._backend, loss)
        logits = loss != "mse"
        output = self._activations[-1]
        classifier = output in ("sigmoid", "softmax")

        def measure():
            out = self._outputs(X_val, logits=logits)
            accuracy = _accuracy(out, Y_val, 0.0 if logits else 0.5) if classifier else None
            return loss_value(Y_val, out), accuracy
        return measure

    def _training_accuracy(self, X, Y, metrics):
        """None, or (metrics=["accuracy"]) a function giving the accuracy on (X, Y) now."""
        if metrics is None:
            return None
        if isinstance(metrics, str) or not all(m == "accuracy" for m in metrics) \
                or not len(metrics):
            raise ValueError(f"metrics must be None or ['accuracy'], got {metrics!r}")
        if self._activations[-1] not in ("sigmoid", "softmax"):
            raise ValueError(f"metrics=['accuracy'] needs a classification output (sigmoid or "
                             f"softmax), this Network's output is {self._activations[-1]!r}")
        return lambda: _accuracy(self._outputs(X, logits=True), Y, 0.0)

    # -- saving ------------------------------------------------------------------------

    def save(self, path, optimizer_state=True):
        """Write the network to ``path`` (see fastnn.io for the format): its parameters,
        its optimizer's settings and, unless ``optimizer_state=False``, the optimizer's
        state, so that a loaded model continues training exactly where this one stopped."""
        from . import io
        with self._lock:
            io.save(self, path, optimizer_state)

    @classmethod
    def load(cls, path, backend="compiled"):
        """Read a network written by ``save``; never unpickles, never runs code."""
        from . import io
        return io.load(path, backend=backend)

    # -- copying and pickling ----------------------------------------------------------

    def __getstate__(self):
        state = self.__dict__.copy()
        for unpicklable in ("_lock", "_backend", "_layers", "_plan"):   # rebuilt by __setstate__
            del state[unpicklable]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._params = _reference._aligned_parameters(self._params)   # aligned again
        self._backend = BACKENDS[self.backend]
        self._layers = _reference._layer_views(self._params, self._sizes)
        self._plan = self._forward_plan()
        self._lock = threading.RLock()
        _LIVE.add(self)

    def __copy__(self):
        """A full copy (the parameters and the optimizer's state are never shared)."""
        import copy
        return copy.deepcopy(self)

    # -- helpers -----------------------------------------------------------------------

    def _loss(self, loss):
        loss = self.default_loss() if loss is None else validation.choice(
            loss, validation.LOSSES, "loss")
        needed = _reference.LOSSES[loss][2]
        if needed and self._activations[-1] != needed:
            raise ValueError(f"loss {loss!r} needs a {needed} output layer, "
                             f"this Network's is {self._activations[-1]!r}: build it with "
                             f"output={needed!r}, e.g. Network({self._sizes}, activation="
                             f"{(self._activations[:-1] or ['sigmoid'])[0]!r}, "
                             f"output={needed!r})")
        return loss

    def _trainable(self):
        if "step" in self._activations:
            raise ValueError("a layer with the step activation cannot be trained by gradient "
                             "descent (its derivative is 0 almost everywhere); use sigmoid")


#: Every Network alive, so that a forked child can replace their locks (a lock held by a
#: thread of the parent, which does not exist in the child, would never be released).
_LIVE = weakref.WeakSet()


def _new_locks_after_fork():
    for network in list(_LIVE):
        network._lock = threading.RLock()
        network._rng = _unlocked_copy(network._rng)


def _unlocked_copy(rng):
    """The generator's state behind a new lock: its own lock may be held by a parent's
    thread that was shuffling at the fork (numpy's lock cannot be replaced)."""
    bit_generator = type(rng.bit_generator)()
    bit_generator.state = rng.bit_generator.state       # read without the lock
    return np.random.Generator(bit_generator)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_locks_after_fork)


def _parse_layers(layers, activation, output=None):
    if isinstance(layers, (str, bytes)) or not hasattr(layers, "__len__") or len(layers) < 2:
        raise ValueError("layers must list the input size and at least one layer, "
                         f"e.g. [2, 2, 1]; got {layers!r}")
    validation.choice(activation, validation.ACTIVATIONS, "activation")
    if output is not None:
        validation.choice(output, validation.ACTIVATIONS, "output")
    sizes, activations = [], []
    for i, layer in enumerate(layers):
        if isinstance(layer, Layer) or (isinstance(layer, tuple) and i > 0):
            if i == 0:
                raise ValueError("layers[0] is the input size: an int, not a Layer")
            size, act = layer
            activations.append(validation.choice(act, validation.ACTIVATIONS,
                                                 f"layers[{i}].activation"))
        else:
            size = layer
            if i == len(layers) - 1:
                activations.append(output if output is not None else
                                   activation if i == 1 else DEFAULT_OUTPUT[activation])
            elif i > 0:
                activations.append(activation)
        sizes.append(validation.positive_int(size, f"layers[{i}]", maximum=2**31 - 1))
    if output is not None and activations[-1] != output:
        raise ValueError(f"output={output!r} contradicts the last layer, "
                         f"{Layer(sizes[-1], activations[-1])}: give the output's "
                         f"activation once")
    if "softmax" in activations[:-1]:
        raise ValueError("softmax can only be the output layer's activation")
    return sizes, activations


def _callbacks(callbacks):
    """fit's callbacks as a new list; TypeError for what is not a callback."""
    if callbacks is None:
        return []
    if isinstance(callbacks, (str, bytes)) or not hasattr(callbacks, "__iter__"):
        raise TypeError(f"callbacks must be a list of callbacks, got "
                        f"{type(callbacks).__name__}")
    callbacks = list(callbacks)
    for i, callback in enumerate(callbacks):
        if not any(hasattr(callback, m) for m in ("on_fit_begin", "on_epoch_end",
                                                 "on_fit_end")):
            raise TypeError(f"callbacks[{i}] has none of on_fit_begin, on_epoch_end, "
                            f"on_fit_end: got {callback!r}")
        training._every(callback)
    return callbacks


def _loss_value(backend, loss):
    """The function computing `loss` on a backend (bce and cce from the output's logits)."""
    return getattr(backend, _reference.LOSSES[loss][0])


def _classes(out, activation):
    """Class labels from outputs: argmax of a softmax, p > 0.5 for sigmoids (a matrix for
    several: multi-label)."""
    if activation == "softmax":
        return np.argmax(out, axis=1)
    labels = (out > 0.5).astype(np.intp)
    return labels.reshape(out.shape[0]) if out.shape[1] == 1 else labels


def _accuracy(out, Y, threshold):
    """Share of samples classified right: argmax for several outputs, > threshold for one
    (0.5 for probabilities, 0 for logits)."""
    if Y.shape[1] > 1:
        return float(np.mean(np.argmax(out, 1) == np.argmax(Y, 1)))
    return float(np.mean((out > threshold) == (Y > 0.5)))
