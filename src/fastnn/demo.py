"""The tutorial's worked examples (SPEC.md sections 1-4), computed by the kernels.

Each step runs on both backends and prints the compiled result beside the
NumPy reference's, so the demo doubles as a smoke test of an installation.
"""
import numpy as np

from . import _kernels, _reference

BACKENDS = (("compiled", _kernels), ("numpy", _reference))


def _both(say, label, compute):
    values = {name: compute(backend) for name, backend in BACKENDS}
    say(f"{label:<44} compiled {values['compiled']!r:<22} numpy {values['numpy']!r}")
    return values["compiled"]


def _forward_221(k, x, params, keep=False):
    """The 2-2-1 sigmoid network of the tutorial: one hidden layer of two neurons."""
    W1, b1, W2, b2 = params
    h = k.dense_forward(x, W1, b1, "sigmoid")
    out = k.dense_forward(h, W2, b2, "sigmoid")
    return (h, out) if keep else out


def _gradient_221(k, x, y, params):
    """Backpropagation of L = (y - y_hat)^2 through the 2-2-1 network."""
    W1, b1, W2, b2 = params
    h, out = _forward_221(k, x, params, keep=True)
    d_out = k.activation_backward(out, k.mse_gradient(y, out), "sigmoid")
    dW2, db2, dh = k.dense_backward(h, W2, d_out)
    dW1, db1, _ = k.dense_backward(x, W1, k.activation_backward(h, dh, "sigmoid"),
                                   need_dX=False)
    return dW1, db1, dW2, db2


def run(say=print):
    say("fastnn demo: the tutorial's examples, compiled kernels beside the NumPy reference\n")

    say("1. A neuron: weights [0, 1], bias 4, sigmoid, input [2, 3]")
    x = np.array([[2.0, 3.0]])
    _both(say, "   feedforward -> sigmoid(7)", lambda k: float(
        k.dense_forward(x, np.array([[0.0], [1.0]]), np.array([4.0]), "sigmoid")[0, 0]))

    say("\n2. A 2-2-1 network, every neuron weights [0, 1] and bias 0")
    same = (np.array([[0.0, 0.0], [1.0, 1.0]]), np.zeros(2), np.array([[0.0], [1.0]]), np.zeros(1))
    _both(say, "   feedforward([2, 3])", lambda k: float(_forward_221(k, x, same)[0, 0]))

    say("\n3. Mean squared error")
    _both(say, "   mse([1, 0, 0, 1], [0, 0, 0, 0])", lambda k: k.mse_loss(
        np.array([[1.0, 0.0, 0.0, 1.0]]), np.zeros((1, 4))))

    say("\n4. Backpropagation for Alice (x = [-2, -1], y = 1), all weights 1, biases 0")
    ones = (np.ones((2, 2)), np.zeros(2), np.ones((2, 1)), np.zeros(1))
    alice, y = np.array([[-2.0, -1.0]]), np.array([[1.0]])
    _both(say, "   y_hat", lambda k: float(_forward_221(k, alice, ones)[0, 0]))
    _both(say, "   dL/dw1", lambda k: float(_gradient_221(k, alice, y, ones)[0][0, 0]))
    step = [p.copy() for p in ones]
    grads = _gradient_221(_kernels, alice, y, step)
    for p, g in zip(step, grads):
        _kernels.sgd_update(p.reshape(-1), g.reshape(-1), 0.1)
    before = _kernels.mse_loss(y, _forward_221(_kernels, alice, ones))
    after = _kernels.mse_loss(y, _forward_221(_kernels, alice, step))
    say(f"   one SGD step, learning rate 0.1: loss {before:.6f} -> {after:.6f}")
