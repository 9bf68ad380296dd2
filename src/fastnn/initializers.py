"""Weight initialisation schemes: name -> (rng, n_in, n_out) -> (W, b).

Seeded per network (``Network(seed=...)``), never from global state.
"""
import numpy as np


def glorot(rng, n_in, n_out):
    """Glorot/Xavier uniform: W ~ U(-a, a), a = sqrt(6 / (n_in + n_out)); b = 0."""
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, (n_in, n_out)), np.zeros(n_out)


def he(rng, n_in, n_out):
    """He normal: W ~ N(0, 2 / n_in); b = 0 (for ReLU layers)."""
    return rng.normal(0.0, np.sqrt(2.0 / n_in), (n_in, n_out)), np.zeros(n_out)


def normal(rng, n_in, n_out):
    """W, b ~ N(0, 1), as textbook examples draw them (np.random.normal())."""
    return rng.normal(size=(n_in, n_out)), rng.normal(size=n_out)


def uniform(rng, n_in, n_out):
    """W, b ~ U(-1, 1)."""
    return rng.uniform(-1.0, 1.0, (n_in, n_out)), rng.uniform(-1.0, 1.0, n_out)


def zeros(rng, n_in, n_out):
    """W = 0, b = 0 (every neuron of a layer then learns the same thing)."""
    return np.zeros((n_in, n_out)), np.zeros(n_out)


INITIALIZERS = {"glorot": glorot, "xavier": glorot, "he": he, "normal": normal,
                "uniform": uniform, "zeros": zeros}
