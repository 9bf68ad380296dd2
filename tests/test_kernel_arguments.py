"""Bad arguments reaching a compiled kernel: a clear exception naming the argument,
never a crash, never a bare Cython buffer message, and nothing written."""
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import _kernels as K


def layer(dtype=np.float64, n=4, n_in=3, n_out=2):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((n, n_in)).astype(dtype),
            rng.standard_normal((n_in, n_out)).astype(dtype),
            rng.standard_normal(n_out).astype(dtype))


X, W, b = layer()
dZ = np.ones((4, 2))

# (call, exception type, words the message must contain)
BAD_CALLS = {
    "X is None": (lambda: K.dense_forward(None, W, b), TypeError, ["X", "ndarray", "NoneType"]),
    "X is a list": (lambda: K.dense_forward(X.tolist(), W, b), TypeError, ["X", "list"]),
    "X 1-d": (lambda: K.dense_forward(X[0], W, b), ValueError, ["X", "2-d", "(3,)"]),
    "X 3-d": (lambda: K.dense_forward(X[None], W, b), ValueError, ["X", "2-d", "(1, 4, 3)"]),
    "X int": (lambda: K.dense_forward(X.astype(int), W, b), ValueError, ["X", "float32 or float64", "int64"]),
    "X complex": (lambda: K.dense_forward(X.astype(complex), W, b), ValueError, ["X", "complex128"]),
    "X object": (lambda: K.dense_forward(X.astype(object), W, b), ValueError, ["X", "object"]),
    "W float32": (lambda: K.dense_forward(X, W.astype(np.float32), b), ValueError, ["W", "float32", "X", "float64"]),
    "W wrong rows": (lambda: K.dense_forward(X, W[:2], b), ValueError, ["X has 3 features", "W", "(3, n_out)", "(2, 2)"]),
    "W no columns": (lambda: K.dense_forward(X, W[:, :0], b[:0]), ValueError, ["W", "(3, 0)"]),
    "b wrong length": (lambda: K.dense_forward(X, W, np.zeros(3)), ValueError, ["b", "(2,)", "(3,)"]),
    "b 2-d": (lambda: K.dense_forward(X, W, b[None]), ValueError, ["b", "1-d", "(1, 2)"]),
    "unknown activation": (lambda: K.dense_forward(X, W, b, "gelu"), ValueError, ["activation", "'gelu'", "'sigmoid'"]),
    "activation not a string": (lambda: K.dense_forward(X, W, b, 3), ValueError, ["activation", "3"]),
    "out wrong shape": (lambda: K.dense_forward(X, W, b, out=np.empty((4, 3))), ValueError, ["out", "(4, 2)", "(4, 3)"]),
    "out wrong dtype": (lambda: K.dense_forward(X, W, b, out=np.empty((4, 2), np.float32)), ValueError, ["out", "float64", "float32"]),
    "out read-only": (lambda: K.dense_forward(X, W, b, out=np.broadcast_to(0.0, (4, 2))), ValueError, ["out", "writeable"]),
    "out strided": (lambda: K.dense_forward(X, W, b, out=np.empty((4, 4))[:, ::2]), ValueError, ["out", "C-contiguous"]),
    "out is a list": (lambda: K.dense_forward(X, W, b, out=[[0, 0]] * 4), TypeError, ["out", "list"]),
    "X beyond BLAS int": (lambda: K.dense_forward(np.broadcast_to(np.zeros((1, 3)), (2**31, 3)), W, b), ValueError, ["X", "2147483648", "axis 0", "2147483647"]),
    "step derivative": (lambda: K.activation_backward(X, X, "step"), ValueError, ["step", "derivative"]),
    "dA shape": (lambda: K.activation_backward(X, X[:, :2], "relu"), ValueError, ["dA", "(4, 3)", "(4, 2)"]),
    "dZ rows": (lambda: K.dense_backward(X, W, dZ[:3]), ValueError, ["dZ", "3 rows", "X has 4"]),
    "dZ columns": (lambda: K.dense_backward(X, W, np.ones((4, 5))), ValueError, ["dZ", "(4, 2)", "(4, 5)"]),
    "dW wrong shape": (lambda: K.dense_backward(X, W, dZ, dW=np.empty((2, 3))), ValueError, ["dW", "(3, 2)", "(2, 3)"]),
    "db wrong dtype": (lambda: K.dense_backward(X, W, dZ, db=np.empty(2, np.float32)), ValueError, ["db", "float64"]),
    "sgd lr zero": (lambda: K.sgd_update(np.zeros(3), np.ones(3), 0.0), ValueError, ["learning_rate", "> 0", "0.0"]),
    "sgd lr a string": (lambda: K.sgd_update(np.zeros(3), np.ones(3), "0.1"), TypeError, ["learning_rate", "real number", "str"]),
    "fused step lr None": (lambda: K.dense_backward_sgd(X, W.copy(), b.copy(), dZ, None), TypeError, ["learning_rate", "NoneType"]),
    "sgd lr a huge int": (lambda: K.sgd_update(np.zeros(3), np.ones(3), 10**400), ValueError, ["learning_rate", "too large"]),
    "sgd lr nan": (lambda: K.sgd_update(np.zeros(3), np.ones(3), float("nan")), ValueError, ["learning_rate", "nan"]),
    "sgd lr inf": (lambda: K.dense_backward_sgd(X, W.copy(), b.copy(), dZ, float("inf")), ValueError, ["learning_rate", "inf"]),
    "sgd lengths": (lambda: K.sgd_update(np.zeros(3), np.ones(4), 0.1), ValueError, ["grads", "(3,)", "(4,)"]),
    "sgd params read-only": (lambda: K.sgd_update(np.broadcast_to(0.0, (3,)), np.ones(3), 0.1), ValueError, ["params", "writeable"]),
    "sgd params 2-d": (lambda: K.sgd_update(np.zeros((3, 1)), np.ones(3), 0.1), ValueError, ["params", "1-d"]),
    "W read-only in fused step": (lambda: K.dense_backward_sgd(X, np.broadcast_to(W, W.shape), b.copy(), dZ, 0.1), ValueError, ["W", "writeable"]),
    "loss shapes": (lambda: K.mse_loss(np.zeros((2, 2)), np.zeros((2, 3))), ValueError, ["y_true", "(2, 3)", "(2, 2)"]),
    "loss empty": (lambda: K.mse_loss(np.zeros((0, 2)), np.zeros((0, 2))), ValueError, ["y_pred", "at least one", "(0, 2)"]),
    "loss dtypes": (lambda: K.sigmoid_bce_loss(np.zeros((1, 2), np.float32), np.zeros((1, 2))), ValueError, ["y_true", "float32", "z", "float64"]),
    "matmul inner": (lambda: K.matmul(np.zeros((2, 3)), np.zeros((2, 3))), ValueError, ["B", "(3, n)", "(2, 3)"]),
    "matmul inner, B transposed": (lambda: K.matmul(np.zeros((2, 3)), np.zeros((4, 2)), transpose_b=True), ValueError, ["B", "(4, 3)", "(4, 2)"]),
}


@pytest.mark.parametrize("case", BAD_CALLS)
def test_bad_argument_is_named_in_a_clear_exception(case):
    call, exc_type, words = BAD_CALLS[case]
    with pytest.raises(exc_type) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    assert "Buffer dtype mismatch" not in message and "buffer source" not in message


def test_out_aliasing_an_input_is_refused_and_leaves_it_unchanged():
    Xs = np.random.default_rng(0).standard_normal((4, 4))
    Ws = np.eye(4)
    before = Xs.copy()
    with pytest.raises(ValueError, match="out shares memory with X"):
        K.dense_forward(Xs, Ws, np.zeros(4), out=Xs)
    np.testing.assert_array_equal(Xs, before)
    with pytest.raises(ValueError, match="dX shares memory with dZ"):
        K.dense_backward(Xs.copy(), Ws, Xs, dX=Xs)


def test_partial_overlap_in_place_is_refused():
    Z = np.zeros((3, 4))
    with pytest.raises(ValueError, match="out shares memory with Z"):
        K.activate(Z[:2], "relu", out=Z[1:])


def test_rejected_fused_step_leaves_parameters_unchanged():
    W0, b0 = W.copy(), b.copy()
    Wc, bc = W.copy(), b.copy()
    with pytest.raises(ValueError):
        K.dense_backward_sgd(X, Wc, bc, dZ[:, :1], 0.1)
    np.testing.assert_array_equal(Wc, W0)
    np.testing.assert_array_equal(bc, b0)


def test_gil_free_kernels_do_not_crash_on_none_in_a_fresh_interpreter():
    # A crash would take the whole test run down: run it where it can only fail one test.
    code = (
        "import fastnn, numpy as np\n"
        "K = fastnn.kernels\n"
        "for f, args in [(K.dense_forward, (None, None, None)), (K.activate, (None, 'relu')),\n"
        "                (K.dense_backward, (None, None, None)), (K.sgd_update, (None, None, 0.1)),\n"
        "                (K.mse_loss, (None, None)), (K.dense_backward_sgd, (None, None, None, None, 0.1))]:\n"
        "    try:\n"
        "        f(*args)\n"
        "    except (TypeError, ValueError):\n"
        "        pass\n"
        "print('survived')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert "survived" in result.stdout


def test_the_compiled_module_is_the_one_in_use():
    # no silent fallback: fastnn uses an extension module, the one FASTNN_KERNELS asks for
    import fastnn
    from fastnn import _dispatch
    assert fastnn.BACKENDS["compiled"] is K
    assert K.__file__.endswith((".so", ".pyd"))
    assert not hasattr(K, "__path__")
    choice = os.environ.get("FASTNN_KERNELS", "auto")
    if choice == "baseline" or not K.cpu_has_avx2_fma():
        assert K.__name__ == "fastnn._kernels" and K.INSTRUCTION_SET == "baseline"
    else:
        assert K.__name__ == "fastnn._kernels_avx2" and K.INSTRUCTION_SET == "avx2+fma"
    assert _dispatch.select("baseline").INSTRUCTION_SET == "baseline"
    with pytest.raises(ValueError, match="FASTNN_KERNELS"):
        _dispatch.select("sse9")


def test_a_broken_kernel_module_fails_loudly(tmp_path):
    # a corrupt extension file must raise at import, never fall back to another build
    import fastnn
    if not K.cpu_has_avx2_fma():
        pytest.skip("this CPU cannot load the AVX2 build")
    broken = tmp_path / "fastnn"
    broken.mkdir()
    src = os.path.dirname(fastnn.__file__)
    for name in os.listdir(src):
        if name.endswith(".py") or name.endswith((".so", ".pyd")):
            data = b"not an ELF file"
            if not name.startswith("_kernels_avx2"):
                with open(os.path.join(src, name), "rb") as f:
                    data = f.read()
            (broken / name).write_bytes(data)
    code = "import fastnn, sys; print(fastnn.kernels.__name__)"
    env = dict(os.environ, PYTHONPATH=str(tmp_path), FASTNN_KERNELS="avx2")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env=env, cwd=str(tmp_path))
    assert result.returncode != 0
    assert "ImportError" in result.stderr or "invalid ELF header" in result.stderr


def test_the_bad_call_tables_cannot_crash_the_interpreter():
    # the same hostile calls as above, in a fresh interpreter: a segfault would fail
    # this test instead of taking the whole run down
    code = (
        "import sys; sys.path[:0] = [{tests!r}]\n"
        "import test_kernel_arguments as a, test_network_kernels as b, fastnn\n"
        "import numpy as np\n"
        "count = 0\n"
        "for call, exc, _ in a.BAD_CALLS.values():\n"
        "    try:\n"
        "        call()\n"
        "    except exc:\n"
        "        count += 1\n"
        "for changes, exc, _ in b.BAD_TRAINING.values():\n"
        "    try:\n"
        "        fastnn.kernels.train_epochs(**{{**b.good_args(), **changes}})\n"
        "    except exc:\n"
        "        count += 1\n"
        "print(count)\n"
    ).format(tests=os.path.dirname(__file__))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-2000:]
    from test_network_kernels import BAD_TRAINING
    assert int(result.stdout.split()[-1]) == len(BAD_CALLS) + len(BAD_TRAINING)
