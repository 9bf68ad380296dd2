"""Saving and loading networks: a versioned .npz that never needs pickle.

Format (version 2): an uncompressed (stored) NumPy .npz archive holding
  header.npy  a 0-d unicode array holding JSON: {"format": "fastnn", "version": 2,
              "layer_sizes": [...], "activations": [...], "dtype": "float32"|"float64",
              "optimizer": null or {"name": "adam", ...its options},
              "optimizer_state": null or {"step": int, "epoch": int, "samples": int},
              "plateau": null or ReduceLROnPlateau's state {"schedule": {...}, "rate",
              "best" (null: none yet), "bad_epochs", "cooldown"}}
  params.npy  the flat parameter buffer (per layer W (n_in, n_out) row-major, then b),
              C-ordered, finite.
  optimizer_state.npy  (when "optimizer_state" is not null) the optimizer's buffers, in
              the network's dtype, of the size its settings give (kernels.state_size),
              finite.
A loaded model continues training exactly where the saved one stopped. Files of
version 1 (no optimizer members) still load.

Loading a path opens regular files only, after resolving symlinks: devices (/dev/zero,
/dev/urandom), FIFOs and sockets are refused, checked with os.stat before opening and
with fstat on the descriptor, which is opened non-blocking (a path swapped for a FIFO in
between cannot hang the loader). Whatever the source, the loader reads at most
_OVERHEAD_BYTES of archive structure plus the 64 KiB header plus the parameter bytes the
header declares, and never more parameter bytes than the file holds. It reads the
archive's directory and the JSON header first, checks the format, version,
architecture and dtype (and that no member is listed twice), then the params member's
own .npy header (dtype, shape, C order, stored uncompressed), and only then the
parameters. Pickles are never loaded. Every problem with the file's content raises
ModelFormatError (a ValueError) with the cause chained; a file that cannot be opened
raises the usual OSError.

Saving refuses what loading would refuse (NaN or infinite parameters, an invalid
header) before touching any file. It writes a temporary file in the target's folder and
renames it over the target, so a crash mid-save never destroys the previous file; the
target keeps its permission bits (a new file gets those open() would give it); a path
that is a symlink is written through: its final target is replaced, the link stays.
"""
import collections
import errno
import io
import json
import math
import os
import stat
import tempfile
import zipfile

import numpy as np

from . import _reference, optimizers, schedules, training, validation
from ._dispatch import kernels
from ._reference import _layer_views
from .errors import ModelFormatError
from .validation import ACTIVATIONS

FORMAT, VERSION = "fastnn", 2
VERSIONS = (1, 2)                   # what load reads
MAX_HEADER_BYTES = 64 * 1024
MEMBERS = {"header.npy", "params.npy"}
STATE_MEMBER = "optimizer_state.npy"
_MAX_COUNT = 2**62
#: What a valid model needs read besides its JSON header and its parameters: the end
#: record (and a comment of at most 64 KiB), the directory and local headers of two
#: members, the params member's .npy header. np.savez writes about 400 bytes of these.
_OVERHEAD_BYTES = 512 * 1024


# -- saving ------------------------------------------------------------------------------

def save(network, path, optimizer_state=True):
    header = {"format": FORMAT, "version": VERSION, "layer_sizes": network.layer_sizes,
              "activations": network.activations, "dtype": np.dtype(network.dtype).name,
              "optimizer": None, "optimizer_state": None, "plateau": None}
    arrays = {"params": network._params}
    state = network._state
    if state is not None:
        header["optimizer"] = state.optimizer.to_dict()
        if optimizer_state:
            header["optimizer_state"] = {"step": state.step, "epoch": state.epoch,
                                         "samples": state.samples}
            arrays["optimizer_state"] = state.buffers
            if state.plateau is not None:
                schedule, plateau = state.plateau
                header["plateau"] = {"schedule": schedule.to_dict(), **plateau,
                                     "best": None if plateau["best"] == np.inf
                                     else plateau["best"]}
    _check_header(header, ValueError)
    _check_parameters(network._params, network.layer_sizes)
    if "optimizer_state" in arrays and not kernels.all_finite(state.buffers):
        raise ValueError("cannot save: the optimizer's state holds NaN or infinity (load "
                         "refuses it); save(path, optimizer_state=False) or "
                         "reset_optimizer() first; nothing was written")
    path = os.fspath(path)
    target = _final_target(path)
    existing = _stat_or_none(target)
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        _refuse_special(existing, path, ValueError, "save writes regular files only")
    mode = existing.st_mode & 0o777 if existing is not None else 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=".fastnn-", suffix=".npz", dir=os.path.dirname(target))
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, header=np.array(json.dumps(header)), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)     # mkstemp makes it private: the target's bits, or open()'s
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _check_parameters(params, layer_sizes):
    """ValueError naming the first non-finite parameter (load would refuse the file)."""
    if kernels.all_finite(params):
        return
    for layer, (W, b) in enumerate(_layer_views(params, layer_sizes)):
        for name, array in (("weights", W), ("biases", b)):
            bad = np.argwhere(~np.isfinite(array))
            if len(bad):
                where = tuple(int(i) for i in bad[0])
                raise ValueError(
                    f"cannot save: {name}[{layer}] (layer {layer + 1}) holds {array[where]} at "
                    f"{where[0] if len(where) == 1 else where}; a model file holds finite "
                    f"parameters only (load refuses others), so nothing was written")


def _final_target(path):
    """The file a save to `path` must replace: the final target of a symlink (created if
    the link dangles), else the path itself; absolute."""
    if not os.path.islink(path):
        return os.path.abspath(path)
    target = os.path.realpath(path)
    if os.path.islink(target):              # realpath stops inside a loop of links
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
    return target


def _stat_or_none(path):
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


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


# -- loading -----------------------------------------------------------------------------

def load(source, backend="compiled"):
    """A Network from a path or a binary file object written by ``save``.

    A file that cannot be opened raises the usual OSError (FileNotFoundError,
    IsADirectoryError, ...); a path that is not a regular file (a device, a FIFO,
    a socket, or a symlink to one) or a file that is not a valid model raises
    ModelFormatError.
    """
    from .network import BACKENDS, Network
    validation.choice(backend, tuple(BACKENDS), "backend")
    if hasattr(source, "read"):
        return _load_checked(source, None, source, backend, Network)
    path = os.fspath(source)
    f, size = _open_regular(path)
    with f:
        return _load_checked(f, size, source, backend, Network)


_FILE_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))


def _refuse_special(info, path, error, why):
    """Raise for a file that is not regular: IsADirectoryError for a folder, else `error`."""
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    kind = next((name for test, name in _FILE_KINDS if test(info.st_mode)), "not a regular file")
    if os.path.islink(path):
        path = f"{path} (a link to {os.path.realpath(path)})"
    raise error(f"{path} is {kind}, not a regular file: {why}")


def _open_regular(path):
    """(binary file, size) for the regular file at `path` (symlinks followed)."""
    info = os.stat(path)              # before opening: opening some devices has effects
    if not stat.S_ISREG(info.st_mode):
        _refuse_special(info, path, ModelFormatError, "models are loaded from regular files")
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0) \
        | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)         # never blocks, even if a FIFO took the path's place
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            _refuse_special(info, path, ModelFormatError, "models are loaded from regular files")
        return os.fdopen(fd, "rb"), info.st_size
    except BaseException:
        os.close(fd)
        raise


class _BoundedReader:
    """The file object zipfile reads through: it refuses (ModelFormatError) to deliver
    more than `limit` bytes in all, so no source, however long (/dev/zero never ends),
    makes the loader read more than a model of the declared sizes can hold."""

    def __init__(self, raw, limit):
        self.raw, self.limit, self.delivered = raw, limit, 0

    def read(self, size=-1):
        room = self.limit - self.delivered
        data = self.raw.read(room + 1 if size is None or size < 0 else min(size, room + 1))
        self.delivered += len(data)
        if self.delivered > self.limit:
            raise ModelFormatError(f"the file holds more than the {self.limit} bytes a model "
                                   f"of its declared sizes can take")
        return data

    def seek(self, offset, whence=0):
        return self.raw.seek(offset, whence)

    def tell(self):
        return self.raw.tell()

    def seekable(self):
        return self.raw.seekable()

    def close(self):
        pass                            # the caller closes the source


def _load_checked(f, size, source, backend, Network):
    try:
        return _load(f, size, backend, Network)
    except ModelFormatError:
        raise
    except Exception as cause:
        raise ModelFormatError(f"{source} is not a readable fastnn model: "
                               f"{type(cause).__name__}: {cause}") from cause


def _load(f, size, backend, Network):
    if size is None:                    # a file object: its size, from its end
        position = f.tell()
        size = f.seek(0, io.SEEK_END)
        f.seek(position)
    reader = _BoundedReader(f, _OVERHEAD_BYTES + MAX_HEADER_BYTES)
    with zipfile.ZipFile(reader) as archive:
        listed = archive.infolist()
        infos = {info.filename: info for info in listed}
        if len(infos) != len(listed):
            counts = collections.Counter(info.filename for info in listed)
            twice = sorted(name for name, count in counts.items() if count > 1)
            raise ModelFormatError(f"the archive lists the member name(s) {twice} more than "
                                   f"once")
        if set(infos) not in (MEMBERS, MEMBERS | {STATE_MEMBER}):
            raise ModelFormatError(f"expected the arrays header, params and (optionally) "
                                   f"optimizer_state, found "
                                   f"{sorted(name.removesuffix('.npy') for name in infos)}")
        for info in infos.values():
            if info.compress_type != zipfile.ZIP_STORED:
                raise ModelFormatError(f"{info.filename} is compressed; fastnn models are "
                                       f"stored uncompressed")
        if infos["header.npy"].file_size > MAX_HEADER_BYTES:
            raise ModelFormatError(f"the header is {infos['header.npy'].file_size} bytes, "
                                   f"more than {MAX_HEADER_BYTES}")
        with archive.open(infos["header.npy"]) as member:
            header_bytes = io.BytesIO(member.read(MAX_HEADER_BYTES + 1))
        shape, _, stored_dtype = _npy_header(header_bytes)      # before allocating anything
        if stored_dtype.kind != "U" or shape != () or stored_dtype.itemsize > MAX_HEADER_BYTES:
            raise ModelFormatError(f"the header must be a JSON string, got {stored_dtype} "
                                   f"of shape {shape}")
        header_bytes.seek(0)
        header = _parse_header(np.lib.format.read_array(header_bytes, allow_pickle=False))
        sizes, activations, dtype = header["layer_sizes"], header["activations"], header["dtype"]
        expected = _reference.parameter_offsets(sizes)[-1]
        optimizer = _optimizer(header)
        has_state = header.get("optimizer_state") is not None
        if has_state != (STATE_MEMBER in infos):
            raise ModelFormatError("the header's optimizer_state and the archive's "
                                   "optimizer_state member must come together")
        n_bytes = expected * np.dtype(dtype).itemsize
        if n_bytes > min(size, infos["params.npy"].file_size):
            raise ModelFormatError(
                f"the header declares {expected} parameters ({n_bytes} bytes), more than "
                f"params.npy ({infos['params.npy'].file_size} bytes) or the file ({size} "
                f"bytes) holds")
        reader.limit += n_bytes
        with archive.open(infos["params.npy"]) as member:
            shape, fortran, stored_dtype = _npy_header(member)
            if stored_dtype != np.dtype(dtype) or shape != (expected,) or fortran:
                order = "a Fortran-ordered" if fortran else "a C-ordered"
                raise ModelFormatError(
                    f"params must be a C-ordered {np.dtype(dtype).name} array of shape "
                    f"({expected},), got {order} {stored_dtype} array of shape {shape}")
            params = np.frombuffer(member.read(n_bytes), dtype=dtype)
        if params.shape != (expected,):
            raise ModelFormatError(f"params.npy holds {params.size} values, expected {expected}")
        buffers = None
        if has_state:
            count = kernels.state_size(optimizer.name, optimizer.hyperparameters(), expected)
            buffers = _read_array(archive, infos[STATE_MEMBER], reader, size, dtype, count,
                                  "optimizer_state")
    layers = [sizes[0]] + [(s, a) for s, a in zip(sizes[1:], activations)]
    network = Network(layers, dtype=dtype, init="zeros", backend=backend)
    network.parameters = params
    if optimizer is not None:
        network._state = _training_state(header, optimizer, buffers, expected, dtype)
    return network


def _read_array(archive, info, reader, size, dtype, count, name):
    """A C-ordered 1-d member of `count` values of `dtype`, all finite, checked before read."""
    n_bytes = count * np.dtype(dtype).itemsize
    if n_bytes > min(size, info.file_size):
        raise ModelFormatError(f"{name} must hold {count} values ({n_bytes} bytes), more than "
                               f"its member ({info.file_size} bytes) or the file holds")
    reader.limit += n_bytes
    with archive.open(info) as member:
        shape, fortran, stored_dtype = _npy_header(member)
        if stored_dtype != np.dtype(dtype) or shape != (count,) or fortran:
            raise ModelFormatError(f"{name} must be a C-ordered {np.dtype(dtype).name} array of "
                                   f"shape ({count},), got {stored_dtype} of shape {shape}")
        values = np.frombuffer(member.read(n_bytes), dtype=dtype)
    if values.shape != (count,):
        raise ModelFormatError(f"{name} holds {values.size} values, expected {count}")
    if not kernels.all_finite(values):
        raise ModelFormatError(f"{name} holds NaN or infinity")
    return values


def _optimizer(header):
    """The header's Optimizer, or None."""
    spec = header.get("optimizer")
    if spec is None:
        return None
    try:
        return optimizers.get(spec)
    except (ValueError, TypeError) as error:
        raise ModelFormatError(f"the header's optimizer is invalid: {error}") from None


def _training_state(header, optimizer, buffers, n_params, dtype):
    """The saved optimizer's TrainingState: its buffers, counters and plateau, or fresh."""
    state = training.TrainingState(optimizer, n_params, dtype)
    if buffers is not None:
        state.buffers[...] = buffers
        counters = header["optimizer_state"]
        state.counters[:] = counters["step"], counters["epoch"], counters["samples"]
    plateau = header.get("plateau")
    if plateau is not None:
        schedule = schedules.get(plateau["schedule"])
        state.plateau = (schedule, {"rate": plateau["rate"],
                                    "best": np.inf if plateau["best"] is None
                                    else plateau["best"],
                                    "bad_epochs": plateau["bad_epochs"],
                                    "cooldown": plateau["cooldown"]})
    return state


def _parse_header(array):
    if array.dtype.kind != "U" or array.shape != ():
        raise ModelFormatError(f"the header must be a JSON string, got {array.dtype} {array.shape}")
    header = json.loads(str(array[()]))
    _check_header(header, ModelFormatError)
    return header


def _check_header(header, error):
    """Raise `error` unless `header` is a valid header of this format and version."""
    if not isinstance(header, dict):
        raise error("the header must be a JSON object")
    version = header.get("version")
    if header.get("format") != FORMAT or type(version) is not int or version not in VERSIONS:
        raise error(f"not a fastnn model of version {' or '.join(map(str, VERSIONS))}: format "
                    f"{header.get('format')!r}, version {version!r}")
    sizes, activations, dtype = (header.get(k) for k in ("layer_sizes", "activations", "dtype"))
    if not (isinstance(sizes, list) and len(sizes) >= 2
            and all(type(s) is int and 1 <= s <= 2**31 - 1 for s in sizes)):
        raise error(f"layer_sizes must list at least two integers from 1 to 2**31 - 1, "
                    f"got {sizes!r}")
    if not (isinstance(activations, list) and len(activations) == len(sizes) - 1
            and all(isinstance(a, str) and a in ACTIVATIONS for a in activations)):
        raise error(f"activations must name one known activation per layer, "
                    f"got {activations!r}")
    if dtype not in ("float32", "float64"):
        raise error(f"dtype must be float32 or float64, got {dtype!r}")
    if version == 1:
        if any(header.get(k) is not None for k in ("optimizer", "optimizer_state", "plateau")):
            raise error("a version 1 model holds no optimizer")
        return
    optimizer, counters, plateau = (header.get(k) for k in
                                    ("optimizer", "optimizer_state", "plateau"))
    if optimizer is not None and not (isinstance(optimizer, dict)
                                      and isinstance(optimizer.get("name"), str)):
        raise error(f"optimizer must be null or an object with a name, got {optimizer!r}")
    if counters is not None:
        if optimizer is None or not isinstance(counters, dict) \
                or set(counters) != {"step", "epoch", "samples"} \
                or not all(type(v) is int and 0 <= v <= _MAX_COUNT for v in counters.values()):
            raise error(f"optimizer_state must be null or {{step, epoch, samples}} counts of "
                        f"an optimizer, got {counters!r}")
    if plateau is not None:
        keys = {"schedule", "rate", "best", "bad_epochs", "cooldown"}
        if counters is None or not isinstance(plateau, dict) or set(plateau) != keys \
                or not isinstance(plateau["schedule"], dict) \
                or plateau["schedule"].get("name") != "plateau" \
                or not _finite_number(plateau["rate"]) or not plateau["rate"] > 0 \
                or not (plateau["best"] is None or _finite_number(plateau["best"])) \
                or not all(type(plateau[k]) is int and 0 <= plateau[k] <= _MAX_COUNT
                           for k in ("bad_epochs", "cooldown")):
            raise error(f"plateau must be null or ReduceLROnPlateau's state, got {plateau!r}")
        try:
            schedules.get(plateau["schedule"])
        except (ValueError, TypeError) as cause:
            raise error(f"plateau's schedule is invalid: {cause}") from None


def _finite_number(value):
    return type(value) in (int, float) and math.isfinite(value)


def _npy_header(member):
    """(shape, fortran_order, dtype) from a .npy stream, without reading its data."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(member)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(member)
    raise ModelFormatError(f"unsupported .npy version {version}")
