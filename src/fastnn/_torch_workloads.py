"""PyTorch eager-mode equivalents of the training workloads, for ``--compare torch``.

The same networks, data, losses and plain SGD, written the way a PyTorch user
would: nn.Sequential, loss.backward(), optimizer.step(), one Python iteration
per batch. Only imported when asked for; PyTorch is not a dependency.
"""
import numpy as np

from . import workloads


def available(say):
    """A function (workload, dtype, quick) -> {"torch": fn} or {}, or None without PyTorch."""
    try:
        import torch
    except ImportError:
        say("--compare torch: PyTorch is not installed (pip install torch): column skipped")
        return None

    def impls(name, dtype, quick, threads):
        setup = _SETUPS.get(name)
        if setup is None:
            return {}
        torch.set_num_threads(threads)      # torch's own pool: threadpoolctl does not reach it
        return {"torch": setup(torch, dtype, quick)}
    return impls


def _model(torch, sizes, activations, dtype):
    nn = torch.nn
    layers = []
    for n_in, n_out, act in zip(sizes[:-1], sizes[1:], activations):
        layers.append(nn.Linear(n_in, n_out))
        layers.append({"sigmoid": nn.Sigmoid(), "relu": nn.ReLU(), "identity": nn.Identity(),
                       "softmax": nn.Identity()}[act])       # softmax folds into the loss
    return nn.Sequential(*layers).to(torch.float32 if dtype == np.float32 else torch.float64)


def _fit(torch, model, X, Y, loss_fn, batch_size, epochs, lr):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    n = X.shape[0]

    def run():
        for _ in range(epochs):
            for start in range(0, n, batch_size):
                optimizer.zero_grad()
                loss = loss_fn(model(X[start:start + batch_size]), Y[start:start + batch_size])
                loss.backward()
                optimizer.step()
    return run


def _seed(torch, dtype, quick):
    X = torch.tensor(workloads.GENDER_X, dtype=_tdtype(torch, dtype))
    Y = torch.tensor(workloads.GENDER_Y.reshape(-1, 1), dtype=_tdtype(torch, dtype))
    model = _model(torch, [2, 2, 1], ["sigmoid", "sigmoid"], dtype)
    return _fit(torch, model, X, Y, torch.nn.MSELoss(), 1, 1000, 0.1)


def _digits(torch, dtype, quick):
    X, Y = workloads.digits_like()
    model = _model(torch, [64, 32, 10], ["sigmoid", "sigmoid"], dtype)
    return _fit(torch, model, torch.tensor(X, dtype=_tdtype(torch, dtype)),
                torch.tensor(Y, dtype=_tdtype(torch, dtype)), torch.nn.MSELoss(), 1,
                1 if quick else 5, 0.1)


def _mnist(batch_size):
    def setup(torch, dtype, quick):
        X, labels = workloads.mnist_like(6000 if quick else 60000, dtype)
        model = _model(torch, workloads.MNIST_SIZES, ["relu", "relu", "softmax"], dtype)
        return _fit(torch, model, torch.from_numpy(X), torch.from_numpy(labels),
                    torch.nn.CrossEntropyLoss(), batch_size, 1, 0.01)
    return setup


def _tdtype(torch, dtype):
    return torch.float32 if dtype == np.float32 else torch.float64


_SETUPS = {"seed-network": _seed, "digits": _digits, "mnist-b256": _mnist(256),
           "mnist-b32": _mnist(32)}
