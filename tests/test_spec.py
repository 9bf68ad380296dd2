"""Every reference behaviour of SPEC.md, on both backends (compiled and NumPy)."""
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import Network, Neuron

GENDER_X = [[-2, -1], [25, 6], [17, 4], [-15, -6]]
GENDER_Y = [1, 0, 0, 1]
BOX_X, BOX_Y = [[1], [1.1], [1.2], [2]], [2.21, 2.431, 2.652, 4.42]


@pytest.fixture(params=["compiled", "numpy"])
def backend(request):
    return request.param


def test_1_a_single_neuron(backend):
    value = Neuron(weights=[0, 1], bias=4, activation="sigmoid", backend=backend).feedforward([2, 3])
    assert abs(value - 0.9990889488055994) <= 1e-15


def test_2_a_2_2_1_network(backend):
    net = Network([2, 2, 1], activation="sigmoid", weights=[[[0, 0], [1, 1]], [[0], [1]]],
                  biases=[[0, 0], [0]], backend=backend)
    assert abs(net.feedforward([2, 3])[0] - 0.7216325609518421) <= 1e-15


def test_3_mean_squared_error():
    assert fastnn.losses.mse([1, 0, 0, 1], [0, 0, 0, 0]) == 0.5


def alice_network(backend):
    return Network([2, 2, 1], activation="sigmoid", weights=[np.ones((2, 2)), np.ones((2, 1))],
                   biases=[np.zeros(2), np.zeros(1)], backend=backend)


def test_4_backpropagation_worked_example(backend):
    net = alice_network(backend)
    hidden = Network([2, 2], weights=[np.ones((2, 2))], biases=[np.zeros(2)])
    np.testing.assert_allclose(hidden.feedforward([-2, -1]), [0.04742587317756678] * 2, rtol=1e-15)
    assert abs(net.feedforward([-2, -1])[0] - 0.5236951740839997) <= 1e-15
    grad = net.gradients([[-2, -1]], [1])
    # the flat layout is W1 (rows: x1, x2; columns: h1, h2), b1, W2, b2; SPEC order is
    # w1 (x1->h1), w2 (x2->h1), w3 (x1->h2), w4 (x2->h2), w5, w6, b1, b2, b3
    spec_order = grad[[0, 2, 1, 3, 6, 7, 4, 5, 8]]
    assert abs(spec_order[0] - 0.021469535265811107) <= 1e-15
    np.testing.assert_allclose(
        spec_order, [0.0214695, 0.0107348, 0.0214695, 0.0107348, -0.0112692, -0.0112692,
                     -0.0107348, -0.0107348, -0.2376176], atol=1e-7)
    numeric = fastnn.numerical_gradient(net, [[-2, -1]], [1], h=1e-5)
    assert np.max(np.abs(numeric - grad)) < 1e-9


@pytest.mark.parametrize("seed", range(10))
def test_5_training_on_the_gender_data_reaches_the_target(backend, seed):
    net = Network([2, 2, 1], activation="sigmoid", seed=seed, backend=backend)
    history = net.fit(GENDER_X, GENDER_Y, epochs=5000, learning_rate=0.1, batch_size=1,
                      loss="mse", shuffle=False, target_loss=0.001)
    assert history.stopped == "target_loss" and history.final_loss < 0.001
    assert history.epochs < 5000
    assert history.final_loss < history.loss[0] / 50
    assert net.predict([-7, -3])[0] > 0.9      # Emily: female
    assert net.predict([20, 2])[0] < 0.1       # Frank: male


@pytest.mark.parametrize("shuffle", [False, True])
def test_5_both_backends_give_the_same_history(shuffle):
    histories, params = [], []
    for backend in ("compiled", "numpy"):
        net = Network([2, 2, 1], seed=3, backend=backend)
        histories.append(net.fit(GENDER_X, GENDER_Y, epochs=800, learning_rate=0.1,
                                 batch_size=1, shuffle=shuffle, seed=11).loss)
        params.append(net.parameters.copy())
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(params[0], params[1], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("batch_size", [1, 2, None])
def test_6_the_black_box(backend, batch_size):
    neuron = Network([1, 1], activation="identity", seed=0, backend=backend)
    history = neuron.fit(BOX_X, BOX_Y, epochs=1000, learning_rate=0.1, batch_size=batch_size,
                         shuffle=False, target_loss=0.001)
    assert history.stopped == "target_loss" and history.epochs < 500
    neuron.fit(BOX_X, BOX_Y, epochs=20000, learning_rate=0.1, batch_size=batch_size,
               shuffle=False)
    assert abs(neuron.weights[0][0, 0] - 2.21) < 0.01 and abs(neuron.biases[0][0]) < 0.01
    assert abs(neuron.predict([3])[0] - 6.63) < 0.01


def test_7_activations_and_their_derivatives(backend):
    k = fastnn.BACKENDS[backend]
    z = np.array([[0.0, -np.inf, np.inf, -1000.0, 1000.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = k.activate(z, "sigmoid")
    assert s[0, 0] == 0.5 and np.all((s >= 0) & (s <= 1))
    np.testing.assert_array_equal(k.activate(np.array([[-1.0, 0.0, 2.0]]), "relu"), [[0, 0, 2]])
    np.testing.assert_array_equal(
        k.activation_backward(np.array([[0.0, 0.0, 2.0]]), np.ones((1, 3)), "relu"), [[0, 0, 1]])
    a = k.activate(np.array([[0.3]]), "sigmoid")
    np.testing.assert_allclose(k.activation_backward(a, np.ones((1, 1)), "sigmoid"),
                               a * (1 - a), rtol=1e-15)


def test_7_step_is_a_perceptron_and_cannot_be_trained(backend):
    perceptron = Network([2, 1], activation="step", weights=[[[1], [1]]], biases=[[-1.5]],
                         backend=backend)
    np.testing.assert_array_equal(perceptron.predict([[0, 0], [1, 0], [0, 1], [1, 1]]).ravel(),
                                  [0, 0, 0, 1])       # AND
    before = perceptron.parameters.copy()
    with pytest.raises(ValueError, match="step"):
        perceptron.fit([[0, 0], [1, 1]], [0, 1], epochs=1)
    np.testing.assert_array_equal(perceptron.parameters, before)


@pytest.mark.parametrize("batch_size", [1, 3, None])
def test_8_gradient_descent_variants_all_decrease_the_loss(backend, batch_size):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = (X.sum(axis=1) > 0).astype(float)
    net = Network([3, 4, 1], seed=1, backend=backend)
    before = net.loss(X, y)
    history = net.fit(X, y, epochs=50, learning_rate=0.5, batch_size=batch_size, seed=2)
    assert history.loss[-1] < history.loss[0] and net.loss(X, y) < before


def test_8_a_mini_batch_update_is_the_average_of_per_sample_gradients(backend):
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    net = Network([3, 4, 2], activation="tanh", seed=0, backend=backend)
    start = net.parameters.copy()
    per_sample = np.mean([net.gradients(X[i:i + 1], y[i:i + 1]) for i in range(5)], axis=0)
    # mse averages over outputs too: the batch gradient is the mean of per-sample ones
    np.testing.assert_allclose(net.gradients(X, y), per_sample, rtol=1e-12, atol=1e-15)
    net.fit(X, y, epochs=1, learning_rate=0.1, batch_size=5, shuffle=False)
    np.testing.assert_allclose(net.parameters, start - 0.1 * per_sample, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("loss,output", [("mse", "sigmoid"), ("mse", "tanh"), ("mse", "identity"),
                                         ("mse", "leaky_relu"), ("bce", "sigmoid"),
                                         ("cce", "softmax"), ("mse", "softmax")])
@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "relu", "leaky_relu", "identity"])
def test_9_numerical_gradient_agrees_with_backpropagation(backend, loss, output, hidden):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((6, 3))
    n_out = 1 if output == "sigmoid" and loss == "bce" else 3
    y = rng.uniform(0, 1, (6, n_out))
    if loss == "cce":
        y = np.eye(3)[rng.integers(0, 3, 6)]
    net = Network([3, fastnn.Layer(5, hidden), fastnn.Layer(n_out, output)], seed=7,
                  backend=backend)
    if hidden in ("relu", "leaky_relu"):
        # keep pre-activations away from the kink, where the derivative jumps
        Z = X @ net.weights[0] + net.biases[0]
        assert np.min(np.abs(Z)) > 1e-3
    assert fastnn.check_gradients(net, X, y, loss=loss, h=1e-5) < 1e-7


@pytest.mark.parametrize("loss,output", [("mse", "sigmoid"), ("bce", "sigmoid"), ("cce", "softmax")])
def test_9_gradient_check_of_a_float32_network(backend, loss, output):
    # central differences are taken in float64; the analytic side is float32
    rng = np.random.default_rng(5)
    X = rng.standard_normal((6, 3))
    y = np.eye(2)[rng.integers(0, 2, 6)] if loss == "cce" else rng.uniform(0, 1, (6, 2))
    net = Network([3, fastnn.Layer(5, "tanh"), fastnn.Layer(2, output)], seed=7,
                  dtype=np.float32, backend=backend)
    before = net.parameters.copy()
    numeric = fastnn.numerical_gradient(net, X, y, loss=loss)
    assert numeric.dtype == np.float64
    np.testing.assert_allclose(net.gradients(X, y, loss=loss), numeric, rtol=1e-3, atol=1e-6)
    assert fastnn.check_gradients(net, X, y, loss=loss) < 1e-3     # 0.985 before the fix
    np.testing.assert_array_equal(net.parameters, before)
