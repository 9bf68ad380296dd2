"""Loading and saving on odd files: devices, FIFOs and symlinks to them; sources that never
end; archives listing a member twice; Fortran-ordered parameters; saving NaN, over a
private file, through a symlink.

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


# -- saving -------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["compiled", "numpy"])
@pytest.mark.parametrize("where,value,words", [
    ("weights", np.nan, ["weights[1]", "(layer 2)", "nan", "(0, 1)"]),
    ("biases", -np.inf, ["biases[0]", "(layer 1)", "-inf", "at 2"]),
])
def test_saving_non_finite_parameters_is_refused_and_leaves_the_file(tmp_path, backend, where,
                                                                     value, words):
    path = tmp_path / "model.npz"
    Network([2, 3, 2], seed=0).save(path)
    before = path.read_bytes()
    net = Network([2, 3, 2], seed=1, backend=backend)
    if where == "weights":
        net.weights[1][0, 1] = value         # the views are writeable
    else:
        net.biases[0][2] = value
    with pytest.raises(ValueError) as info:
        net.save(path)
    for word in words:
        assert word in str(info.value), str(info.value)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o604], ids=oct)
def test_saving_over_a_file_keeps_its_permissions(tmp_path, mode):
    path = tmp_path / "model.npz"
    Network([2, 1], seed=0).save(path)
    os.chmod(path, mode)
    Network([2, 2, 1], seed=1).save(path)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert Network.load(path).layer_sizes == [2, 2, 1]


def test_saving_through_a_symlink_replaces_its_target_atomically(tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    (tmp_path / "links").mkdir()
    target = tmp_path / "models" / "model.npz"
    Network([2, 1], seed=0).save(target)
    os.chmod(target, 0o600)
    link = tmp_path / "links" / "current.npz"
    link.symlink_to(os.path.join("..", "models", "model.npz"))
    folders = []
    real_mkstemp = tempfile.mkstemp

    def recording_mkstemp(*args, **kwargs):
        folders.append(os.path.realpath(kwargs["dir"]))
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", recording_mkstemp)
    net = Network([2, 3, 1], seed=1)
    net.save(link)
    assert link.is_symlink() and os.readlink(link) == os.path.join("..", "models", "model.npz")
    assert folders == [str((tmp_path / "models").resolve())]      # the temp file sat there
    np.testing.assert_array_equal(Network.load(target).parameters, net.parameters)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(os.listdir(tmp_path / "models")) == ["model.npz"]
    assert sorted(os.listdir(tmp_path / "links")) == ["current.npz"]


def test_saving_through_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.npz"
    link.symlink_to(tmp_path / "new.npz")
    Network([2, 1], seed=0).save(link)
    assert link.is_symlink() and (tmp_path / "new.npz").is_file()
    assert Network.load(link).layer_sizes == [2, 1]


def test_saving_over_a_loop_of_links_is_an_os_error(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(OSError):
        Network([2, 1]).save(tmp_path / "a")
    assert (tmp_path / "a").is_symlink() and (tmp_path / "b").is_symlink()


@posix_only
def test_saving_over_a_fifo_or_a_folder_is_refused(tmp_path):
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="is a FIFO, not a regular file"):
        Network([2, 1]).save(fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    with pytest.raises(IsADirectoryError):
        Network([2, 1]).save(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["fifo.npz"]
