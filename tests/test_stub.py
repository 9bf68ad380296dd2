"""The .pyi stub of the compiled module lists exactly its public functions."""
import ast
import pathlib

import fastnn
from conftest import _kernels as K


def test_stub_matches_the_compiled_module():
    stub = pathlib.Path(fastnn.__file__).with_name("_kernels.pyi")
    tree = ast.parse(stub.read_text())
    stubbed = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    compiled = {name for name in dir(K) if callable(getattr(K, name)) and not name.startswith("__")
                and getattr(getattr(K, name), "__module__", K.__name__) == K.__name__
                and not (name.startswith("_") and isinstance(getattr(K, name), type))}
    assert stubbed == compiled
