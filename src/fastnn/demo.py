"""``python -m fastnn demo``: worked examples of the basics of neural networks.

A neuron, a 2-2-1 network, mean squared error, backpropagation, training by
gradient descent and a linear fit, with their well-known numbers, computed by fastnn's compiled
backend; where a number has a reference value, the NumPy backend's is shown
beside it, so the demo doubles as a smoke test of an installation.
"""
import time

import numpy as np

from . import losses
from .gradcheck import numerical_gradient
from .network import Network
from .neuron import Neuron

GENDER_X = [[-2, -1], [25, 6], [17, 4], [-15, -6]]   # weight - 135 lb, height - 66 in
GENDER_Y = [1, 0, 0, 1]                                # female = 1
NAMES = ["Alice", "Bob", "Charlie", "Diana"]


def run(say=print):
    say("fastnn demo: worked examples (compiled backend; NumPy reference alongside)\n")

    say("1. A neuron with weights [0, 1], bias 4, sigmoid activation, input [2, 3]")
    for backend in ("compiled", "numpy"):
        value = Neuron(weights=[0, 1], bias=4, backend=backend).feedforward([2, 3])
        say(f"   feedforward = sigmoid(0*2 + 1*3 + 4) = {value!r:<22} ({backend})")

    say("\n2. A 2-2-1 network, every neuron with weights [0, 1] and bias 0, input [2, 3]")
    for backend in ("compiled", "numpy"):
        net = _same_weights_network(backend)
        say(f"   feedforward = {float(net.feedforward([2, 3])[0])!r:<22} ({backend})")

    say("\n3. Mean squared error")
    say(f"   mse(y_true=[1, 0, 0, 1], y_pred=[0, 0, 0, 0]) = {losses.mse([1, 0, 0, 1], [0, 0, 0, 0])}")

    say("\n4. Backpropagation for Alice (x = [-2, -1], y = 1), all weights 1, all biases 0")
    net = Network([2, 2, 1], weights=[np.ones((2, 2)), np.ones((2, 1))],
                  biases=[np.zeros(2), np.zeros(1)])
    y_hat = float(net.feedforward([-2, -1])[0])
    grad = net.gradients([[-2, -1]], [1]).tolist()
    numeric = numerical_gradient(net, [[-2, -1]], [1]).tolist()
    say(f"   y_hat = {y_hat!r}, dL/dy_hat = {-2 * (1 - y_hat)!r}")
    say(f"   dL/dw1 = {grad[0]!r} by backpropagation")
    say(f"   dL/dw1 = {numeric[0]!r} by central differences (h = 1e-5)")
    gap = max(abs(a - b) for a, b in zip(grad, numeric))
    say(f"   largest difference over all 9 parameters: {gap:.1e}")

    say("\n5. Training on the example data until the loss is below 0.001")
    say("   (2-2-1 sigmoid, mse, per-sample SGD, learning rate 0.1, no shuffling, seed 0)")
    net = Network([2, 2, 1], activation="sigmoid", seed=0)
    start = time.perf_counter()
    history = net.fit(GENDER_X, GENDER_Y, epochs=5000, learning_rate=0.1, batch_size=1,
                      shuffle=False, target_loss=1e-3, verbose=500)
    elapsed = time.perf_counter() - start
    say(f"   stopped after {history.epochs} epochs ({history.stopped}), "
        f"loss {history.final_loss:.6g}, in {elapsed * 1e3:.1f} ms")
    for name, x in zip(NAMES, GENDER_X):
        say(f"   {name:<8} {x!s:<10} -> {float(net.predict(x)[0]):.3f}")
    say(f"   Emily    [-7, -3]   -> {float(net.predict([-7, -3])[0]):.3f}  (female)")
    say(f"   Frank    [20, 2]    -> {float(net.predict([20, 2])[0]):.3f}  (male)")

    say("\n6. The black box: x = [1, 1.1, 1.2, 2] -> y = [2.21, 2.431, 2.652, 4.42]")
    x, y = [[1], [1.1], [1.2], [2]], [2.21, 2.431, 2.652, 4.42]
    for batch_size, name in ((1, "per-sample"), (2, "mini-batch of 2"), (None, "full batch")):
        neuron = Network([1, 1], activation="identity", seed=0)
        history = neuron.fit(x, y, epochs=5000, learning_rate=0.1, batch_size=batch_size,
                             shuffle=False, target_loss=1e-3)
        say(f"   {name:<16} loss below 0.001 after {history.epochs} epochs")
    neuron = Network([1, 1], activation="identity", seed=0)
    neuron.fit(x, y, epochs=20000, learning_rate=0.1, batch_size=None, shuffle=False)
    say(f"   trained to convergence: w = {neuron.weights[0][0, 0]:.4f}, "
        f"b = {neuron.biases[0][0]:.4f}, prediction for x = 3: {neuron.predict([3])[0]:.4f}")


def _same_weights_network(backend):
    return Network([2, 2, 1], weights=[[[0, 0], [1, 1]], [[0], [1]]],
                   biases=[[0, 0], [0]], backend=backend)
