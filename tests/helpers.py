"""Array makers for the kernel tests: odd shapes, read-only and strided inputs."""
import numpy as np

#: (n_samples, n_in, n_out): 1x1, odd sizes, a single row, zero rows, and sizes
#: on both sides of the BLAS threshold.
LAYER_SHAPES = [(1, 1, 1), (3, 5, 7), (1, 17, 3), (0, 4, 3), (2, 2, 1), (33, 65, 31),
                (64, 9, 1), (5, 1, 40)]


def make(rng, shape, dtype, low=-2.0, high=2.0):
    return rng.uniform(low, high, size=shape).astype(dtype)


def read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def strided(a):
    """The same values as `a`, as a non-contiguous view (every other column of a wider array)."""
    if a.ndim == 1:
        wide = np.zeros(2 * a.shape[0], dtype=a.dtype)
        wide[::2] = a
        return wide[::2]
    wide = np.zeros((a.shape[0], 2 * a.shape[1]), dtype=a.dtype)
    wide[:, ::2] = a
    return wide[:, ::2]


def fortran(a):
    return np.asfortranarray(a)


#: Ways of presenting the same input values to a kernel.
LAYOUTS = {"contiguous": lambda a: a, "read_only": read_only, "strided": strided,
           "fortran": fortran}


def random_classes(n_samples, n_features, n_classes, seed=0):
    """Uniform inputs in [0, 1) and one-hot targets of random classes."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(0, 1, (n_samples, n_features)),
            np.eye(n_classes)[rng.integers(0, n_classes, n_samples)])
