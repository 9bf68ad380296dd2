"""Saving and loading networks: a versioned .npz that never needs pickle.

Format (version 1): an uncompressed NumPy .npz archive with exactly two arrays,
  "header"  a 0-d unicode array holding JSON: {"format": "fastnn", "version": 1,
            "layer_sizes": [...], "activations": [...], "dtype": "float32"|"float64"}
  "params"  the flat parameter buffer (per layer W (n_in, n_out) row-major, then b).
Loading reads it with allow_pickle=False, checks the header, the set of arrays,
dtype and shape, and raises ModelFormatError (a ValueError) otherwise. Saving
writes a temporary file in the same folder and renames it over the target.
"""
import json
import os
import tempfile

import numpy as np

from . import validation
from .errors import ModelFormatError

FORMAT, VERSION = "fastnn", 1


def save(network, path):
    header = {"format": FORMAT, "version": VERSION, "layer_sizes": network.layer_sizes,
              "activations": network.activations, "dtype": np.dtype(network.dtype).name}
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastnn-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, header=np.array(json.dumps(header)), params=network._params)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path, backend="compiled"):
    from .network import Network
    try:
        with open(os.fspath(path), "rb") as f, np.load(f, allow_pickle=False) as archive:
            if set(archive.files) != {"header", "params"}:
                raise ModelFormatError(f"expected the arrays header and params, "
                                       f"found {sorted(archive.files)}")
            header = json.loads(str(archive["header"][()]))
            if header.get("format") != FORMAT or header.get("version") != VERSION:
                raise ModelFormatError(f"not a fastnn model of version {VERSION}: "
                                       f"format {header.get('format')!r}, "
                                       f"version {header.get('version')!r}")
            sizes, activations = header["layer_sizes"], header["activations"]
            dtype = validation.as_dtype(header["dtype"])
            expected = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
            params = archive["params"]
            if params.dtype != dtype or params.shape != (expected,):
                raise ModelFormatError(f"params must be {np.dtype(dtype).name} of shape "
                                       f"({expected},), got {params.dtype} {params.shape}")
            layers = [sizes[0]] + [(s, a) for s, a in zip(sizes[1:], activations)]
            network = Network(layers, dtype=dtype, init="zeros", backend=backend)
            network.parameters = params
            return network
    except ModelFormatError:
        raise
    except Exception as cause:
        raise ModelFormatError(f"{path} is not a readable fastnn model: {cause}") from cause
