"""JAX equivalents of the training workloads, for ``--compare jax`` and bench/jax_vs_fastnn.py.

The same networks, initial parameters, data, batch order, losses, plain SGD and
dtype as fastnn, written the way a JAX user writes a fast training loop:
``jax.grad`` of the loss, and ``jax.jit`` over a ``jax.lax.scan`` of whole
epochs (one compiled call per fit). float64 needs ``jax_enable_x64``, which
importing this module turns on. Every setup compiles its function and checks
its final parameters against fastnn's compiled fit of the same run before it
returns (outside any timing). Only imported when asked for; JAX is not a
dependency.
"""
import numpy as np

from . import workloads
from .network import Network

#: final parameters of JAX and fastnn agree to this (relative to the largest)
TOLERANCE = {np.float64: 1e-12, np.float32: 2e-4}
#: float32 mini-batch runs are compared over this many rows (see mnist's check)
#: (2000 = 62 x 32 + 16 = 7 x 256 + 208: both batch sizes end on a tail). With XLA's
#: threads (bench/jax_vs_fastnn.py --no-pin) 6000 rows at batch 32 drifted to 3.3e-4.
CHECK_ROWS = 2000


def load():
    """The jax module with float64 enabled, or None when JAX is not installed."""
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    return jax


def available(say):
    """A function (workload, dtype, quick, threads) -> {"jax": fn} or {}, or None without JAX."""
    jax = load()
    if jax is None:
        say("--compare jax: JAX is not installed (pip install jax): column skipped")
        return None
    say("--compare jax: XLA sizes its own thread pool at import; set XLA_FLAGS (see "
        "bench/jax_vs_fastnn.py) to hold it to one thread")

    def impls(name, dtype, quick, threads):
        setup = SETUPS.get(name)
        if setup is None:
            return {}
        case = setup(dtype, quick)
        case.check()
        return {"jax": case.run}
    return impls


class JaxCase:
    """``run()`` does the timed work and waits for it; ``check()`` holds its result to
    fastnn's (``compare(run)`` calls run and compares)."""

    def __init__(self, run, compare):
        self.run, self._compare = run, compare

    def check(self):
        self._compare(self.run)


# -- the model ---------------------------------------------------------------------------

def _activation_table(jax):
    """name -> f(z), as fastnn's activations (softmax per row)."""
    jnp = jax.numpy

    def softmax(z):
        e = jnp.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return {"sigmoid": jax.nn.sigmoid, "relu": lambda z: jnp.maximum(z, 0),
            "softmax": softmax, "identity": lambda z: z}


def _forward(jax, params, x, activations, logits_out):
    """The network's outputs (the output layer's logits when logits_out)."""
    table = _activation_table(jax)
    for i, ((W, b), activation) in enumerate(zip(params, activations)):
        x = x @ W + b
        if not (logits_out and i == len(params) - 1):
            x = table[activation](x)
    return x


def _loss_fn(jax, activations, loss):
    """fastnn's losses: mse, the mean over all entries; cce, the mean over rows of
    -sum_j y_j log softmax(z)_j, from the logits."""
    jnp = jax.numpy
    if loss == "mse":
        def mse(params, x, y):
            return jnp.mean((_forward(jax, params, x, activations, False) - y) ** 2)
        return mse

    def cce(params, x, y):
        z = _forward(jax, params, x, activations, True)
        zmax = z.max(axis=1, keepdims=True)
        log_p = z - zmax - jnp.log(jnp.exp(z - zmax).sum(axis=1, keepdims=True))
        return -jnp.mean((y * log_p).sum(axis=1))
    return cce


def _sgd_step(jax, loss_fn, lr):
    def step(params, xb, yb):
        grads = jax.grad(loss_fn)(params, xb, yb)
        return [(W - lr * dW, b - lr * db) for (W, b), (dW, db) in zip(params, grads)]
    return step


def per_sample_trainer(activations, loss, lr):
    """jit(params, X, Y, order) -> params: per-sample SGD, epoch e visiting the rows
    order[e] (a scan over epochs of a scan over samples)."""
    jax = load()
    step = _sgd_step(jax, _loss_fn(jax, activations, loss), lr)

    @jax.jit
    def train(params, X, Y, order):
        def sample(params, i):
            return step(params, X[i][None, :], Y[i][None, :]), None

        def epoch(params, rows):
            return jax.lax.scan(sample, params, rows)[0], None
        return jax.lax.scan(epoch, params, order)[0]
    return train


def mini_batch_trainer(activations, loss, lr, batch_size):
    """jit(params, X, Y) -> params: one epoch of mini-batch SGD in row order, the last
    batch smaller when batch_size does not divide the rows (as fastnn's)."""
    jax = load()
    step = _sgd_step(jax, _loss_fn(jax, activations, loss), lr)

    @jax.jit
    def train(params, X, Y):
        n, full = X.shape[0], X.shape[0] // batch_size
        head = full * batch_size
        Xb = X[:head].reshape(full, batch_size, X.shape[1])
        Yb = Y[:head].reshape(full, batch_size, Y.shape[1])
        params = jax.lax.scan(lambda p, xy: (step(p, *xy), None), params, (Xb, Yb))[0]
        if head < n:
            params = step(params, X[head:], Y[head:])
        return params
    return train


# -- the workloads -------------------------------------------------------------------------

def _params(jax, net):
    """fastnn's current parameters as JAX arrays [(W, b), ...] (copies)."""
    return [(jax.device_put(np.array(W)), jax.device_put(np.array(b)))
            for W, b in zip(net.weights, net.biases)]


def _assert_close(jax_params, net, dtype):
    tol = TOLERANCE[np.dtype(dtype).type]
    for (W, b), W_ref, b_ref in zip(jax_params, net.weights, net.biases):
        for got, ref in ((W, W_ref), (b, b_ref)):
            got = np.asarray(got)
            assert got.dtype == ref.dtype, (got.dtype, ref.dtype)
            np.testing.assert_allclose(got, ref, rtol=0, atol=tol * np.abs(ref).max(),
                                       err_msg="JAX's parameters differ from fastnn's")


def _blocked(fn, *args):
    jax = load()
    return lambda: jax.block_until_ready(fn(*args))


def seed_network(dtype, quick=False, epochs=1000):
    """W1: 2-2-1 sigmoid, mse, per-sample SGD in row order, 4 samples, lr 0.1."""
    jax = load()
    X = workloads.GENDER_X.astype(dtype)
    Y = workloads.GENDER_Y.reshape(-1, 1).astype(dtype)
    net = Network([2, 2, 1], seed=0, dtype=dtype)
    train = per_sample_trainer(("sigmoid", "sigmoid"), "mse", 0.1)
    params, order = _params(jax, net), np.broadcast_to(np.arange(4), (epochs, 4)).copy()
    run = _blocked(train, params, X, Y, order)

    def check(run):
        net.fit(X, Y, epochs=epochs, learning_rate=0.1, batch_size=1, shuffle=False)
        _assert_close(run(), net, dtype)
    return JaxCase(run, check)


def digits(dtype, quick=False):
    """W2: 64-32-10 sigmoid, mse, per-sample SGD shuffled by seed 1, lr 0.1, 5 epochs."""
    jax = load()
    X, Y = workloads.digits_like()
    X, Y = X.astype(dtype), Y.astype(dtype)
    epochs = 1 if quick else 5
    net = Network([64, 32, 10], activation="sigmoid", seed=0, dtype=dtype)
    # the order fastnn.fit(seed=1) draws: one permutation per epoch, drawn together
    order = np.random.default_rng(1).permuted(np.broadcast_to(np.arange(len(X)),
                                                              (epochs, len(X))), axis=1)
    train = per_sample_trainer(("sigmoid", "sigmoid"), "mse", 0.1)
    run = _blocked(train, _params(jax, net), X, Y, order)

    def check(run):
        net.fit(X, Y, epochs=epochs, learning_rate=0.1, batch_size=1, seed=1)
        _assert_close(run(), net, dtype)
    return JaxCase(run, check)


def mnist(batch_size):
    """W3: 784-256-128-10 ReLU/softmax, cce, one epoch of mini-batch SGD, lr 0.01."""
    def setup(dtype, quick=False):
        jax = load()
        X, labels = workloads.mnist_like(6000 if quick else 60000, dtype)
        Y = np.eye(10, dtype=dtype)[labels]
        net = workloads.mnist_network(dtype)
        train = mini_batch_trainer(("relu", "relu", "softmax"), "cce", 0.01, batch_size)
        run = _blocked(train, _params(jax, net), X, Y)

        def check(run):
            if dtype == np.float64:
                net.fit(X, labels, epochs=1, learning_rate=0.01, batch_size=batch_size,
                        shuffle=False)
                _assert_close(run(), net, dtype)
                return
            # float32 over a whole epoch is chaotic: a ReLU that one rounding kills and
            # the other keeps sends the runs apart (fastnn's own float32 and float64 fits
            # differ by 2 % after 60000 rows, by 3e-6 after 20000), so float32 is held to
            # fastnn on the first CHECK_ROWS rows, with a tail batch at both batch sizes
            rows = min(len(X), CHECK_ROWS)
            params = train(_params(jax, net), X[:rows], Y[:rows])
            net.fit(X[:rows], labels[:rows], epochs=1, learning_rate=0.01,
                    batch_size=batch_size, shuffle=False)
            _assert_close(params, net, dtype)
        return JaxCase(run, check)
    return setup


def predict(dtype, quick=False):
    """W5: one row through a jitted forward of the 64-32-10 sigmoid network."""
    jax = load()
    x = workloads.digits_like()[0][0].astype(dtype)
    net = Network([64, 32, 10], seed=0, dtype=dtype)
    forward = jax.jit(lambda params, x: _forward(jax, params, x, ("sigmoid",) * 2, False))
    params = _params(jax, net)
    run = lambda: np.asarray(forward(params, x))        # noqa: E731  (a NumPy result, as fastnn's)

    def check(run):
        np.testing.assert_allclose(run(), net.predict(x),
                                   rtol=TOLERANCE[np.dtype(dtype).type])
    return JaxCase(run, check)


SETUPS = {"seed-network": seed_network, "digits": digits, "mnist-b32": mnist(32),
          "mnist-b256": mnist(256), "predict": predict}
