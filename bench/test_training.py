"""Training benchmarks: Network.fit on the compiled backend beside backend="numpy"
(and, for MNIST-sized training, beside the best hand-written NumPy loop and the
floor of the eight matrix products alone). Groups and impl names as in
test_kernels.py; `python bench/report.py RESULTS.json` prints the ratios.
"""
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import fastnn
from fastnn import Layer, Network
from numpy_mlp import PreallocatedMLP, eight_products

GENDER_X = np.array([[-2.0, -1], [25, 6], [17, 4], [-15, -6]])
GENDER_Y = np.array([1.0, 0, 0, 1])


def info(benchmark, group, impl, flops=0.0, **extra):
    benchmark.group = group
    benchmark.extra_info.update(impl=impl, flops=flops,
                                kernels=fastnn.kernels.INSTRUCTION_SET, **extra)


@pytest.mark.parametrize("impl", ["compiled", "reference"])
def test_seed_network(benchmark, impl):
    """SPEC.md section 5: 2-2-1 sigmoid, 4 samples, per-sample SGD, 1000 epochs."""
    backend = "compiled" if impl == "compiled" else "numpy"
    net = Network([2, 2, 1], seed=0, backend=backend)
    info(benchmark, "fit-seed_network-float64", impl)
    rounds = 20 if impl == "compiled" else 5
    benchmark.pedantic(lambda: net.fit(GENDER_X, GENDER_Y, epochs=1000, learning_rate=0.1,
                                       batch_size=1, shuffle=False),
                       rounds=rounds, warmup_rounds=1)


def digits_like(seed=0):
    """1797 samples x 64 features in [0, 16] scaled to [0, 1], 10 classes (as sklearn's digits)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, 1797)
    X = np.clip(rng.normal(labels[:, None] % 4 * 4, 4, (1797, 64)), 0, 16) / 16
    return X, np.eye(10)[labels]


@pytest.mark.parametrize("impl", ["compiled", "reference"])
def test_digits_per_sample(benchmark, impl):
    """64-32-10 sigmoid, 1797 samples, mse, batch_size=1, 5 epochs (shuffled, seeded)."""
    X, Y = digits_like()
    backend = "compiled" if impl == "compiled" else "numpy"
    net = Network([64, 32, 10], activation="sigmoid", seed=0, backend=backend)
    check = Network([64, 32, 10], activation="sigmoid", seed=0,
                    backend="numpy" if impl == "compiled" else "compiled")
    h1 = net.fit(X, Y, epochs=1, batch_size=1, seed=1).loss
    h2 = check.fit(X, Y, epochs=1, batch_size=1, seed=1).loss
    np.testing.assert_allclose(h1, h2, rtol=1e-10)          # same algorithm, same numbers
    info(benchmark, "fit-digits_per_sample-float64", impl)
    benchmark.pedantic(lambda: net.fit(X, Y, epochs=5, learning_rate=0.1, batch_size=1, seed=1),
                       rounds=5 if impl == "compiled" else 3, warmup_rounds=1)


MNIST_SIZES = [784, 256, 128, 10]


def mnist_like(dtype=np.float32, n=60000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (n, 784)).astype(dtype)
    labels = rng.integers(0, 10, n)
    return X, labels


def mnist_flops(batch_size, n=60000):
    sizes = MNIST_SIZES
    per_sample = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    first = sizes[0] * sizes[1]   # no input gradient for the first layer
    return 2.0 * n * (3 * per_sample - first)


@pytest.mark.parametrize("impl", ["compiled", "reference", "blas_gemm"])
@pytest.mark.parametrize("batch_size", [256, 32])
def test_mnist_minibatch(benchmark, impl, batch_size):
    """784-256-128-10 ReLU/softmax, cce, 60000 x 784 float32, one epoch, one thread.

    reference: the preallocated in-place NumPy loop (bench/numpy_mlp.py);
    blas_gemm: the eight matrix products alone (the floor)."""
    X, labels = mnist_like()
    Y = np.eye(10, dtype=np.float32)[labels]
    net = Network([784, Layer(256, "relu"), Layer(128, "relu"), Layer(10, "softmax")],
                  dtype=np.float32, seed=0)
    group = f"fit-mnist_b{batch_size}-float32"
    info(benchmark, group, impl, flops=mnist_flops(batch_size), threads=1)
    lr = 0.01
    with threadpool_limits(1):
        if impl == "compiled":
            start = net.parameters.copy()
            net.fit(X[:2048], labels[:2048], epochs=1, learning_rate=lr, batch_size=batch_size,
                    shuffle=False)
            ref = PreallocatedMLP([w.copy() for w in Network(
                [784, Layer(256, "relu"), Layer(128, "relu"), Layer(10, "softmax")],
                dtype=np.float32, seed=0).weights], [np.zeros(s, np.float32) for s in MNIST_SIZES[1:]],
                batch_size)
            ref.train_epoch(X[:2048], Y[:2048], lr)
            for w, w_ref in zip(net.weights, ref.W):
                np.testing.assert_allclose(w, w_ref, rtol=1e-3, atol=1e-5)
            net.parameters = start
            benchmark.pedantic(lambda: net.fit(X, labels, epochs=1, learning_rate=lr,
                                               batch_size=batch_size, shuffle=False),
                               rounds=3, warmup_rounds=1)
        elif impl == "reference":
            ref = PreallocatedMLP(net.weights, net.biases, batch_size)
            benchmark.pedantic(lambda: ref.train_epoch(X, Y, lr), rounds=3, warmup_rounds=1)
        else:
            weights = [w.copy() for w in net.weights]
            buffers = eight_products(fastnn.kernels, X[:batch_size], weights, batch_size)
            benchmark.pedantic(lambda: eight_products(fastnn.kernels, X, weights, batch_size,
                                                      buffers), rounds=3, warmup_rounds=1)


@pytest.mark.parametrize("impl", ["compiled", "reference"])
def test_predict_single_sample(benchmark, impl):
    """Network.predict of one sample on the 64-32-10 sigmoid network."""
    net = Network([64, 32, 10], seed=0, backend="compiled" if impl == "compiled" else "numpy")
    x = digits_like()[0][0]
    info(benchmark, "predict-digits_1_sample-float64", impl)
    benchmark(net.predict, x)
