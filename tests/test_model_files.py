"""Loading odd files: devices, FIFOs and symlinks to them; sources that never end;
archives listing a member twice; Fortran-ordered parameters.

The cases that read without end or block forever when broken run in a child interpreter
with a time and memory limit (helpers.run_isolated)."""
import io
import os
import stat
import tempfile
import zipfile

import numpy as np
import pytest

from fastnn import Layer, ModelFormatError, Network
from helpers import check_outcome, run_isolated

posix_only = pytest.mark.skipif(os.name != "posix", reason="devices and FIFOs are POSIX")


def _load_and_describe(path):
    Network.load(path)
    return "loaded"


def _in_a_scratch_folder(action):
    """action(folder) in a new folder (removed afterwards)."""
    import shutil
    folder = tempfile.mkdtemp(prefix="fastnn-test-")
    try:
        return action(folder)
    finally:
        shutil.rmtree(folder)


def _symlink_to(target):
    def make(folder):
        os.symlink(target, os.path.join(folder, "model.npz"))
        return os.path.join(folder, "model.npz")
    return lambda: _in_a_scratch_folder(lambda folder: _load_and_describe(make(folder)))


def _fifo(folder):
    os.mkfifo(os.path.join(folder, "model.npz"))
    return os.path.join(folder, "model.npz")


def _fifo_swapped_in_after_the_check(folder):
    """The path is a regular file when it is checked and a FIFO when it is opened: the
    open must not block (a FIFO without a writer blocks a plain open forever)."""
    fifo = _fifo(folder)
    real_stat, regular = os.stat, os.stat(__file__)

    def stat_seeing_a_regular_file(path, *args, **kwargs):
        return regular if os.fspath(path) == fifo else real_stat(path, *args, **kwargs)

    os.stat = stat_seeing_a_regular_file
    try:
        return _load_and_describe(fifo)
    finally:
        os.stat = real_stat


def _load_open_file(path):
    with open(path, "rb") as f:
        Network.load(f)


class _Endless(io.RawIOBase):
    """A seekable source that claims to be 2**62 bytes long and is all zeros."""
    position = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=0):
        self.position = offset + (2**62 if whence == 2 else self.position if whence == 1 else 0)
        return self.position

    def tell(self):
        return self.position

    def readinto(self, buffer):
        buffer[:] = bytes(len(buffer))
        self.position += len(buffer)
        return len(buffer)


FILE_CASES = {}
if os.name == "posix":
    FILE_CASES = {
        "/dev/zero": (lambda: _load_and_describe("/dev/zero"),
                      (ModelFormatError, ["/dev/zero", "character device", "regular file"])),
        "/dev/urandom": (lambda: _load_and_describe("/dev/urandom"),
                         (ModelFormatError, ["/dev/urandom", "character device"])),
        "a symlink to /dev/zero": (_symlink_to("/dev/zero"),
                                   (ModelFormatError, ["a link to /dev/zero", "character device"])),
        "a FIFO": (lambda: _in_a_scratch_folder(lambda folder: _load_and_describe(_fifo(folder))),
                   (ModelFormatError, ["a FIFO"])),
        "a FIFO swapped in after the check": (
            lambda: _in_a_scratch_folder(_fifo_swapped_in_after_the_check),
            (ModelFormatError, ["a FIFO"])),
        "/dev/zero opened by the caller": (lambda: _load_open_file("/dev/zero"),
                                           (ModelFormatError, ["more than"])),
        "a file object that never ends": (lambda: Network.load(io.BufferedReader(_Endless())),
                                          (ModelFormatError, ["more than"])),
    }


@pytest.fixture(scope="module")
def file_outcomes():
    return run_isolated(__name__, "FILE_CASES", timeout=60, max_memory=2 * 2**30)


@posix_only
@pytest.mark.parametrize("case", FILE_CASES)
def test_loading_an_odd_file_is_refused_without_blocking_or_reading_without_end(
        case, file_outcomes):
    check_outcome(file_outcomes[case], FILE_CASES[case][1])


# -- loading: in process ------------------------------------------------------------------

def _model_bytes(tmp_path, net=None):
    path = tmp_path / "model.npz"
    (net or Network([3, Layer(4, "tanh"), Layer(2, "softmax")], seed=0)).save(path)
    return path.read_bytes()


def test_a_symlink_to_a_model_loads(tmp_path):
    net = Network([2, 3, 1], seed=0)
    net.save(tmp_path / "model.npz")
    (tmp_path / "link.npz").symlink_to(tmp_path / "model.npz")
    np.testing.assert_array_equal(Network.load(tmp_path / "link.npz").parameters, net.parameters)


def test_a_folder_is_an_os_error(tmp_path):
    with pytest.raises(IsADirectoryError):
        Network.load(tmp_path)


class _Counting(io.BytesIO):
    delivered = 0

    def read(self, size=-1):
        data = super().read(size)
        self.delivered += len(data)
        return data


def test_loading_reads_about_the_file_once(tmp_path):
    data = _model_bytes(tmp_path)
    source = _Counting(data)
    Network.load(source)
    assert source.delivered <= len(data) + 1024


def test_a_member_listed_twice_is_refused(tmp_path):
    data = _model_bytes(tmp_path)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    path = tmp_path / "twice.npz"
    with pytest.warns(UserWarning, match="Duplicate name"):
        with zipfile.ZipFile(path, "w") as z:
            for name in ("header.npy", "params.npy", "params.npy"):
                z.writestr(name, members[name])
    with pytest.raises(ModelFormatError, match=r"\['params.npy'\] more than once"):
        Network.load(path)


def test_fortran_ordered_parameters_are_named_as_such(tmp_path):
    data = _model_bytes(tmp_path, Network([2, 1], seed=0))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        header = archive.read("header.npy")
        params = np.lib.format.read_array(io.BytesIO(archive.read("params.npy")))
    fortran = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        fortran, {"descr": "<f8", "fortran_order": True, "shape": (3,)})
    path = tmp_path / "fortran.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("header.npy", header)
        z.writestr("params.npy", fortran.getvalue() + params.tobytes())
    with pytest.raises(ModelFormatError) as info:
        Network.load(path)
    assert "got a Fortran-ordered float64 array of shape (3,)" in str(info.value)
    assert "must be a C-ordered float64 array of shape (3,)" in str(info.value)


def test_parameters_declared_beyond_the_file_are_refused_before_reading(tmp_path):
    import json
    header = io.BytesIO()
    np.lib.format.write_array(header, np.array(json.dumps(
        {"format": "fastnn", "version": 1, "layer_sizes": [100000, 100000, 1],
         "activations": ["relu", "identity"], "dtype": "float64"})))
    params = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        params, {"descr": "<f8", "fortran_order": False, "shape": (10000200001,)})
    path = tmp_path / "big.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("header.npy", header.getvalue())
        z.writestr("params.npy", params.getvalue())
    with pytest.raises(ModelFormatError, match="declares 10000200001 parameters"):
        Network.load(path)
