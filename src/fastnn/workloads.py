"""The benchmark workloads: one definition shared by ``python -m fastnn bench`` and bench/.

A workload's ``setup(dtype, quick)`` returns a ``Case``: the callables to time
by implementation name ("compiled", "reference", and "blas_gemm" for the bare
BLAS products of the same shapes, the ceiling of GEMM-bound work), the units
of work per call, the flops per call, and a ``check`` that holds the compiled
result to the reference's (run outside any timing).
"""
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Dict

import numpy as np

from threadpoolctl import threadpool_limits

from . import _reference
from ._dispatch import kernels
from .network import Layer, Network

#: name: (n_samples, n_in, n_out, activation)
LAYER_SHAPES = {
    "small": (32, 64, 32, "sigmoid"),
    "medium": (256, 784, 256, "relu"),
    "large": (1024, 4096, 4096, "relu"),
}
LEARNING_RATE = 1e-3


@dataclass
class Case:
    impls: Dict[str, Callable[[], object]]
    units: float = 1.0
    flops: float = 0.0
    check: Callable[[], None] = None


@dataclass
class Workload:
    name: str
    description: str
    unit: str
    setup: Callable
    dtypes: tuple = ("float32", "float64")
    threaded: bool = True            # BLAS threads matter
    quick: bool = False              # part of --quick
    extra: dict = field(default_factory=dict)


# -- one layer ---------------------------------------------------------------------------

class LayerData:
    """Inputs, parameters and preallocated outputs of one layer."""

    def __init__(self, shape, dtype, seed=0):
        n, n_in, n_out, self.activation = LAYER_SHAPES[shape]
        rng = np.random.default_rng(seed)
        self.X = rng.standard_normal((n, n_in)).astype(dtype)
        self.W = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(dtype)
        self.b = (rng.standard_normal(n_out) * 0.1).astype(dtype)
        self.dA = rng.standard_normal((n, n_out)).astype(dtype)
        self.A = np.empty((n, n_out), dtype)
        self.dZ = np.empty((n, n_out), dtype)
        self.dW = np.empty((n_in, n_out), dtype)
        self.db = np.empty(n_out, dtype)
        self.dX = np.empty((n, n_in), dtype)
        self.flops_forward = 2.0 * n * n_in * n_out

    def forward(self, k):
        return k.dense_forward(self.X, self.W, self.b, self.activation, out=self.A)

    def backward(self, k):
        """The activation derivative, then dW, db, dX."""
        k.activation_backward(self.A, self.dA, self.activation, out=self.dZ)
        return k.dense_backward(self.X, self.W, self.dZ, dW=self.dW, db=self.db, dX=self.dX)

    def step(self, k):
        """Forward, activation derivative, backward fused with the SGD update."""
        k.dense_forward(self.X, self.W, self.b, self.activation, out=self.A)
        k.activation_backward(self.A, self.dA, self.activation, out=self.dZ)
        return k.dense_backward_sgd(self.X, self.W, self.b, self.dZ, LEARNING_RATE, dX=self.dX)

    def gemm(self, k=kernels):
        """X @ W alone, through the kernels' BLAS: the forward's ceiling."""
        return k.matmul(self.X, self.W, out=self.A)

    def backward_gemms(self, k=kernels):
        """X.T @ dZ and dZ @ W.T alone: the backward's ceiling."""
        k.matmul(self.X, self.dA, out=self.dW, transpose_a=True)
        return k.matmul(self.dA, self.W, out=self.dX, transpose_b=True)


def _tolerance(dtype):
    return 1e-4 if np.dtype(dtype) == np.float32 else 1e-9


def _check_same(method, shape, dtype):
    def check():
        layer = LayerData(shape, dtype)
        layer.forward(kernels)
        outputs = []
        for k in (kernels, _reference):
            out = getattr(layer, method)(k)
            outputs.append([np.array(a, copy=True) for a in (out if isinstance(out, tuple) else (out,))])
        for a, b in zip(*outputs):
            tol = _tolerance(dtype)
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol * np.abs(b).max())
    return check


def _check_step(shape, dtype):
    """A compiled step equals the reference's; the reference backward starts from the
    compiled forward output, so both share the activation's mask (float32 rounding at
    a ReLU kink would otherwise flip an entry)."""
    def check():
        tol = _tolerance(dtype)
        compiled, reference = LayerData(shape, dtype), LayerData(shape, dtype)
        dX = np.array(compiled.step(kernels), copy=True)
        np.testing.assert_allclose(compiled.A, reference.forward(_reference), rtol=tol, atol=tol)
        dZ = _reference.activation_backward(compiled.A, reference.dA, reference.activation)
        dX_ref = _reference.dense_backward_sgd(reference.X, reference.W, reference.b, dZ,
                                               LEARNING_RATE)
        for got, ref in ((dX, dX_ref), (compiled.W, reference.W), (compiled.b, reference.b)):
            np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * np.abs(ref).max())
    return check


def _layer_workload(kind, shape):
    def setup(dtype, quick=False):
        layer = LayerData(shape, dtype)
        layer.forward(kernels)
        run = getattr(layer, kind)
        impls = {"compiled": lambda: run(kernels), "reference": lambda: run(_reference)}
        if kind == "forward":
            impls["blas_gemm"] = layer.gemm
            return Case(impls, flops=layer.flops_forward, check=_check_same("forward", shape, dtype))
        if kind == "backward":
            impls["blas_gemm"] = layer.backward_gemms
            return Case(impls, flops=2 * layer.flops_forward,
                        check=_check_same("backward", shape, dtype))
        impls["blas_gemm"] = lambda: (layer.gemm(), layer.gemm(), layer.gemm())
        return Case(impls, flops=3 * layer.flops_forward, check=_check_step(shape, dtype))
    n, n_in, n_out, act = LAYER_SHAPES[shape]
    what = {"forward": "dense_forward (X @ W + b, activation)",
            "backward": "activation derivative, then dW, db, dX",
            "step": "forward, backward and SGD update (6 n n_in n_out flops)"}[kind]
    return Workload(f"{kind}-{shape}", f"{what}: batch {n}, {n_in}->{n_out}, {act}",
                    unit="call" if kind != "step" else "step", setup=setup,
                    quick=shape == "small" or (shape == "medium" and kind == "forward"))


# -- training ----------------------------------------------------------------------------

GENDER_X = np.array([[-2.0, -1], [25, 6], [17, 4], [-15, -6]])
GENDER_Y = np.array([1.0, 0, 0, 1])


def _seed_network(dtype, quick=False):
    nets = {impl: Network([2, 2, 1], seed=0, dtype=dtype, backend=backend)
            for impl, backend in (("compiled", "compiled"), ("reference", "numpy"))}
    epochs = 1000

    def fit(impl):
        return lambda: nets[impl].fit(GENDER_X, GENDER_Y, epochs=epochs, learning_rate=0.1,
                                      batch_size=1, shuffle=False)

    def check():
        a, b = (Network([2, 2, 1], seed=0, dtype=dtype, backend=k) for k in ("compiled", "numpy"))
        h = [n.fit(GENDER_X, GENDER_Y, epochs=50, batch_size=1, shuffle=False).loss for n in (a, b)]
        np.testing.assert_allclose(h[0], h[1], rtol=_tolerance(dtype))
    return Case({impl: fit(impl) for impl in nets}, units=epochs * 4, check=check)


def digits_like(seed=0):
    """1797 samples x 64 features in [0, 1], 10 classes (shaped like sklearn's digits)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, 1797)
    X = np.clip(rng.normal(labels[:, None] % 4 * 4, 4, (1797, 64)), 0, 16) / 16
    return X, np.eye(10)[labels]


def _digits(dtype, quick=False):
    X, Y = digits_like()
    X, Y = X.astype(dtype), Y.astype(dtype)
    epochs = 1 if quick else 5
    nets = {impl: Network([64, 32, 10], activation="sigmoid", seed=0, dtype=dtype,
                          backend=backend)
            for impl, backend in (("compiled", "compiled"), ("reference", "numpy"))}

    def fit(impl):
        return lambda: nets[impl].fit(X, Y, epochs=epochs, learning_rate=0.1, batch_size=1,
                                      seed=1)

    def check():
        a, b = (Network([64, 32, 10], seed=0, dtype=dtype, backend=k) for k in ("compiled", "numpy"))
        h = [n.fit(X[:200], Y[:200], epochs=1, batch_size=1, seed=1).loss for n in (a, b)]
        np.testing.assert_allclose(h[0], h[1], rtol=_tolerance(dtype))
    return Case({impl: fit(impl) for impl in nets}, units=epochs * X.shape[0], check=check)


MNIST_SIZES = [784, 256, 128, 10]


def mnist_like(n=60000, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, 784)).astype(dtype), rng.integers(0, 10, n)


def mnist_network(dtype, backend="compiled"):
    return Network([784, Layer(256, "relu"), Layer(128, "relu"), Layer(10, "softmax")],
                   dtype=dtype, seed=0, backend=backend)


def mnist_flops(n_samples, sizes=MNIST_SIZES):
    """3 forward, 3 weight-gradient and 2 input-gradient products per sample."""
    per_sample = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return 2.0 * n_samples * (3 * per_sample - sizes[0] * sizes[1])


class PreallocatedMLP:
    """The best plain NumPy can do for mini-batch training: every buffer allocated once,
    every update in place. ReLU hidden layers, softmax output with categorical
    cross-entropy, plain SGD: the algorithm of Network.fit(loss="cce", shuffle=False)."""

    def __init__(self, weights, biases, batch_size):
        self.W = [w.copy() for w in weights]
        self.b = [b.copy() for b in biases]
        dtype = self.W[0].dtype
        sizes = [self.W[0].shape[0]] + [w.shape[1] for w in self.W]
        self.batch_size = batch_size
        self.A = [np.empty((batch_size, s), dtype) for s in sizes[1:]]
        self.G = [np.empty((batch_size, s), dtype) for s in sizes[1:]]
        self.dW = [np.empty_like(w) for w in self.W]
        self.db = [np.empty_like(b) for b in self.b]
        self.mask = [np.empty((batch_size, s), bool) for s in sizes[1:]]

    def train_epoch(self, X, Y, learning_rate):
        n_layers = len(self.W)
        for start in range(0, X.shape[0], self.batch_size):
            xb, yb = X[start:start + self.batch_size], Y[start:start + self.batch_size]
            rows = xb.shape[0]
            A = [a[:rows] for a in self.A]
            G = [g[:rows] for g in self.G]
            layer_in = xb
            for i in range(n_layers):                       # forward
                np.matmul(layer_in, self.W[i], out=A[i])
                A[i] += self.b[i]
                if i < n_layers - 1:
                    np.maximum(A[i], 0, out=A[i])
                layer_in = A[i]
            out = G[-1]                                     # (softmax - y) / rows
            np.subtract(A[-1], A[-1].max(axis=1, keepdims=True), out=out)
            np.exp(out, out=out)
            out /= out.sum(axis=1, keepdims=True)
            out -= yb
            out *= 1.0 / rows
            for i in range(n_layers - 1, -1, -1):           # backward, update in place
                prev = xb if i == 0 else A[i - 1]
                if i > 0:
                    np.matmul(G[i], self.W[i].T, out=G[i - 1])
                    mask = self.mask[i - 1][:rows]
                    np.greater(prev, 0, out=mask)
                    G[i - 1] *= mask
                np.matmul(prev.T, G[i], out=self.dW[i])
                self.dW[i] *= learning_rate
                self.W[i] -= self.dW[i]
                np.sum(G[i], axis=0, out=self.db[i])
                self.db[i] *= learning_rate
                self.b[i] -= self.db[i]


def eight_products(X, weights, batch_size, buffers=None, k=kernels):
    """Only the matrix products of one epoch (3 forward, 3 weight gradients, 2 input
    gradients) through the kernels' BLAS, issued as plain NumPy would (beta = 0)."""
    sizes = [weights[0].shape[0]] + [w.shape[1] for w in weights]
    dtype = weights[0].dtype
    if buffers is None:
        buffers = ([np.empty((batch_size, s), dtype) for s in sizes[1:]],
                   [np.empty_like(w) for w in weights])
    A, dW = buffers
    for start in range(0, X.shape[0], batch_size):
        xb = X[start:start + batch_size]
        acts = [a[:xb.shape[0]] for a in A]
        layer_in = xb
        for i, w in enumerate(weights):
            k.matmul(layer_in, w, out=acts[i])
            layer_in = acts[i]
        for i in range(len(weights) - 1, -1, -1):
            prev = xb if i == 0 else acts[i - 1]
            if i > 0:
                k.matmul(acts[i], weights[i], out=acts[i - 1], transpose_b=True)
            k.matmul(prev, acts[i], out=dW[i], transpose_a=True)
    return buffers


def _mnist(batch_size):
    def setup(dtype, quick=False):
        n = 6000 if quick else 60000
        X, labels = mnist_like(n, dtype)
        Y = np.eye(10, dtype=dtype)[labels]
        net = mnist_network(dtype)
        ref = PreallocatedMLP(net.weights, net.biases, batch_size)
        weights = [w.copy() for w in net.weights]
        buffers = eight_products(X[:batch_size], weights, batch_size)
        lr = 0.01

        def compiled():
            return net.fit(X, labels, epochs=1, learning_rate=lr, batch_size=batch_size,
                           shuffle=False)

        def check():
            a = mnist_network(dtype)
            a.fit(X[:2048], labels[:2048], epochs=1, learning_rate=lr, batch_size=batch_size,
                  shuffle=False)
            b = PreallocatedMLP(mnist_network(dtype).weights, mnist_network(dtype).biases,
                                batch_size)
            b.train_epoch(X[:2048], Y[:2048], lr)
            for w, w_ref in zip(a.weights, b.W):
                np.testing.assert_allclose(w, w_ref, rtol=1e-3, atol=1e-5)

        return Case({"compiled": compiled,
                     "reference": lambda: ref.train_epoch(X, Y, lr),
                     "blas_gemm": lambda: eight_products(X, weights, batch_size, buffers)},
                    units=n, flops=mnist_flops(n), check=check)
    return setup


#: The optimizers of the optimizer rows, with rates that train these networks.
BENCH_OPTIMIZERS = {"momentum": {"name": "sgd", "momentum": 0.9},
                    "adam": {"name": "adam", "learning_rate": 1e-3}}


def _with_optimizer(kind, optimizer):
    """digits or mnist-b256 trained by another optimizer: compiled, the reference (the
    numpy backend, the same algorithm), and plain SGD compiled ("sgd": what the
    optimizer costs on top of the fused SGD step)."""
    spec = BENCH_OPTIMIZERS[optimizer]
    batch_size = 1 if kind == "digits" else 256

    def setup(dtype, quick=False):
        if kind == "digits":
            X, Y = digits_like()
            X, Y, epochs = X.astype(dtype), Y.astype(dtype), 1 if quick else 3
            make = lambda backend: Network([64, 32, 10], activation="sigmoid", seed=0,  # noqa: E731
                                           dtype=dtype, backend=backend)
            options = dict(epochs=epochs, batch_size=1, seed=1)
        else:
            X, labels = mnist_like(6000 if quick else 60000, dtype)
            Y, epochs = np.eye(10, dtype=dtype)[labels], 1
            make = lambda backend: mnist_network(dtype, backend)     # noqa: E731
            options = dict(epochs=1, batch_size=batch_size, shuffle=False)
        nets = {"compiled": make("compiled"), "reference": make("numpy"),
                "sgd": make("compiled")}
        rate = 0.1 if kind == "digits" else 0.01

        def fit(impl):
            if impl == "sgd":
                return lambda: nets[impl].fit(X, Y, learning_rate=rate, **options)
            return lambda: nets[impl].fit(X, Y, optimizer=spec, **options)

        def check():
            a, b = make("compiled"), make("numpy")
            for net in (a, b):
                net.fit(X[:512], Y[:512], optimizer=spec, **{**options, "epochs": 1})
            np.testing.assert_allclose(a.parameters, b.parameters, rtol=_tolerance(dtype),
                                       atol=_tolerance(dtype))
        return Case({impl: fit(impl) for impl in nets}, units=epochs * X.shape[0],
                    flops=0 if kind == "digits" else mnist_flops(X.shape[0]), check=check)

    base = "digits, 64-32-10 per-sample" if kind == "digits" else "mnist-b256, batch 256"
    return Workload(f"{kind if kind == 'digits' else 'mnist-b256'}-{optimizer}",
                    f"{base}, trained by {spec}; 'vs SGD': its time over plain SGD's",
                    unit="sample", setup=setup,
                    dtypes=("float64",) if kind == "digits" else ("float32", "float64"),
                    threaded=kind != "digits", quick=True)


def _predict(dtype, quick=False):
    x = digits_like()[0][0].astype(dtype)
    nets = {impl: Network([64, 32, 10], seed=0, dtype=dtype, backend=backend)
            for impl, backend in (("compiled", "compiled"), ("reference", "numpy"))}

    def check():
        np.testing.assert_allclose(nets["compiled"].predict(x), nets["reference"].predict(x),
                                   rtol=_tolerance(dtype))
    return Case({impl: (lambda net=net: net.predict(x)) for impl, net in nets.items()},
                check=check)


CONCURRENT = "concurrent-fits"
CONCURRENT_MODELS = 16


def _concurrent_fits(dtype, quick=False):
    """16 MLPClassifier-sized fits (64-100-10 ReLU/softmax, adam, batch 200) of separate
    networks on digits-like data, from a ThreadPoolExecutor: "compiled" on 2 threads,
    "reference" the same on 1; BLAS on one thread inside each fit. The compiled loops
    release the GIL, so the ratio is the speed-up the second thread brings."""
    X, Y = digits_like()
    X, Y = X.astype(dtype), Y.astype(dtype)
    epochs = 2 if quick else 10

    def make():
        return [Network([64, Layer(100, "relu"), Layer(10, "softmax")], dtype=dtype, seed=i)
                for i in range(CONCURRENT_MODELS)]

    def fits(nets, workers):
        def fit(net):
            net.fit(X, Y, epochs=epochs, optimizer="adam", batch_size=200, seed=1)
        with threadpool_limits(1), ThreadPoolExecutor(workers) as pool:
            list(pool.map(fit, nets))       # list: re-raises a fit's exception
        return nets

    nets = {1: make(), 2: make()}

    def check():
        one, two = fits(make(), 1), fits(make(), 2)
        for a, b in zip(one, two):
            np.testing.assert_array_equal(a.parameters, b.parameters)
    return Case({"compiled": lambda: fits(nets[2], 2), "reference": lambda: fits(nets[1], 1)},
                units=CONCURRENT_MODELS, check=check)


WORKLOADS = [
    *(_layer_workload(kind, shape) for shape in LAYER_SHAPES for kind in ("forward", "backward")),
    _layer_workload("step", "small"), _layer_workload("step", "medium"),
    _layer_workload("step", "large"),
    Workload("seed-network", "the seed network: 2-2-1 sigmoid, 4 samples, mse, per-sample SGD, 1000 epochs",
             unit="update", setup=_seed_network, dtypes=("float64",), threaded=False, quick=True),
    Workload("digits", "64-32-10 sigmoid, 1797 samples, mse, per-sample SGD, 5 epochs",
             unit="sample", setup=_digits, dtypes=("float64",), threaded=False, quick=True),
    Workload("mnist-b256", "784-256-128-10 ReLU/softmax, cce, 60000 samples, batch 256, "
             "1 epoch; reference: preallocated in-place NumPy", unit="sample",
             setup=_mnist(256), quick=True),
    Workload("mnist-b32", "as mnist-b256 with batch 32", unit="sample", setup=_mnist(32),
             quick=True),
    *(_with_optimizer(kind, optimizer) for kind in ("digits", "mnist")
      for optimizer in BENCH_OPTIMIZERS),
    Workload("predict", "Network.predict of one sample, 64-32-10 sigmoid", unit="call",
             setup=_predict, dtypes=("float64",), threaded=False, quick=True),
    Workload(CONCURRENT, f"{CONCURRENT_MODELS} fits of 64-100-10 ReLU/softmax networks "
             "(adam, batch 200, 10 epochs) on digits-like data, trained concurrently: "
             "2 threads (compiled) against 1 (reference)", unit="fit", setup=_concurrent_fits,
             dtypes=("float32",), threaded=False, quick=True),
]

BY_NAME = {w.name: w for w in WORKLOADS}
