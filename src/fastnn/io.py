"""Saving and loading networks: a versioned .npz that never needs pickle.

Format (version 1): an uncompressed (stored) NumPy .npz archive holding exactly
  header.npy  a 0-d unicode array holding JSON: {"format": "fastnn", "version": 1,
              "layer_sizes": [...], "activations": [...], "dtype": "float32"|"float64"}
  params.npy  the flat parameter buffer (per layer W (n_in, n_out) row-major, then b).

Loading reads the archive's directory and the JSON header first (at most 64 KiB),
checks the format, version, architecture and dtype, then the params member's own
.npy header (dtype, shape, stored uncompressed, so its size is bounded by the
file's), and only then reads the parameters. Pickles are never loaded. Every
problem with the file's content raises ModelFormatError (a ValueError) with the
cause chained; a file that cannot be opened raises the usual OSError.
Saving writes a temporary file in the same folder and renames it over the target,
so a crash mid-save never destroys the previous file.
"""
import io
import json
import os
import tempfile
import zipfile

import numpy as np

from . import validation
from .errors import ModelFormatError
from .validation import ACTIVATIONS

FORMAT, VERSION = "fastnn", 1
MAX_HEADER_BYTES = 64 * 1024
MEMBERS = {"header.npy", "params.npy"}


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
        os.chmod(tmp, 0o666 & ~_umask())     # mkstemp makes it private; save like open() does
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask():
    """The process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return _UMASK_AT_IMPORT


def _read_umask_by_setting_it():
    # os.umask can only read the mask by setting it: done once, at import
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK_AT_IMPORT = _read_umask_by_setting_it()


def load(source, backend="compiled"):
    """A Network from a path or a binary file object written by ``save``.

    A file that cannot be opened raises the usual OSError (FileNotFoundError, ...);
    a file that is not a valid model raises ModelFormatError.
    """
    from .network import BACKENDS, Network
    validation.choice(backend, tuple(BACKENDS), "backend")
    if hasattr(source, "read"):
        return _load_checked(source, source, backend, Network)
    with open(os.fspath(source), "rb") as f:
        return _load_checked(f, source, backend, Network)


def _load_checked(f, source, backend, Network):
    try:
        return _load(f, backend, Network)
    except ModelFormatError:
        raise
    except Exception as cause:
        raise ModelFormatError(f"{source} is not a readable fastnn model: "
                               f"{type(cause).__name__}: {cause}") from cause


def _load(f, backend, Network):
    with zipfile.ZipFile(f) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        if set(infos) != MEMBERS:
            raise ModelFormatError(f"expected the arrays header and params, found "
                                   f"{sorted(name.removesuffix('.npy') for name in infos)}")
        for info in infos.values():
            if info.compress_type != zipfile.ZIP_STORED:
                raise ModelFormatError(f"{info.filename} is compressed; fastnn models are "
                                       f"stored uncompressed")
        if infos["header.npy"].file_size > MAX_HEADER_BYTES:
            raise ModelFormatError(f"the header is {infos['header.npy'].file_size} bytes, "
                                   f"more than {MAX_HEADER_BYTES}")
        with archive.open("header.npy") as member:
            header_bytes = io.BytesIO(member.read(MAX_HEADER_BYTES + 1))
        shape, _, stored_dtype = _npy_header(header_bytes)      # before allocating anything
        if stored_dtype.kind != "U" or shape != () or stored_dtype.itemsize > MAX_HEADER_BYTES:
            raise ModelFormatError(f"the header must be a JSON string, got {stored_dtype} "
                                   f"of shape {shape}")
        header_bytes.seek(0)
        header = _parse_header(np.lib.format.read_array(header_bytes, allow_pickle=False))
        sizes, activations, dtype = header
        expected = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
        with archive.open("params.npy") as member:
            shape, fortran, stored_dtype = _npy_header(member)
            if stored_dtype != np.dtype(dtype) or shape != (expected,) or fortran:
                raise ModelFormatError(
                    f"params must be {np.dtype(dtype).name} of shape ({expected},), got "
                    f"{stored_dtype} of shape {shape}")
            if expected * np.dtype(dtype).itemsize > infos["params.npy"].file_size:
                raise ModelFormatError("params.npy is shorter than its header declares")
            params = np.frombuffer(member.read(expected * np.dtype(dtype).itemsize), dtype=dtype)
        if params.shape != (expected,):
            raise ModelFormatError(f"params.npy holds {params.size} values, expected {expected}")
    layers = [sizes[0]] + [(s, a) for s, a in zip(sizes[1:], activations)]
    network = Network(layers, dtype=dtype, init="zeros", backend=backend)
    network.parameters = params
    return network


def _parse_header(array):
    if array.dtype.kind != "U" or array.shape != ():
        raise ModelFormatError(f"the header must be a JSON string, got {array.dtype} {array.shape}")
    header = json.loads(str(array[()]))
    if not isinstance(header, dict):
        raise ModelFormatError("the header must be a JSON object")
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ModelFormatError(f"not a fastnn model of version {VERSION}: format "
                               f"{header.get('format')!r}, version {header.get('version')!r}")
    sizes, activations, dtype = (header.get(k) for k in ("layer_sizes", "activations", "dtype"))
    if not (isinstance(sizes, list) and len(sizes) >= 2
            and all(type(s) is int and 1 <= s <= 2**31 - 1 for s in sizes)):
        raise ModelFormatError(f"layer_sizes must list at least two integers >= 1, got {sizes!r}")
    if not (isinstance(activations, list) and len(activations) == len(sizes) - 1
            and all(isinstance(a, str) and a in ACTIVATIONS for a in activations)):
        raise ModelFormatError(f"activations must name one known activation per layer, "
                               f"got {activations!r}")
    if dtype not in ("float32", "float64"):
        raise ModelFormatError(f"dtype must be float32 or float64, got {dtype!r}")
    return sizes, activations, dtype


def _npy_header(member):
    """(shape, fortran_order, dtype) from a .npy stream, without reading its data."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(member)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(member)
    raise ModelFormatError(f"unsupported .npy version {version}")
