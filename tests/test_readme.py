"""The README's examples run and print what the README says they print."""
import contextlib
import importlib.util
import io
import pathlib
import re

import pytest
from threadpoolctl import threadpool_limits

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
# a python block directly followed by "prints" and its output (never spanning other blocks)
EXAMPLE = re.compile(r"```python\n((?:(?!```).)*)```\n\nprints\n\n```\n(.*?)```", re.S)
NUMBER = re.compile(r"-?\d+\.\d+(?:e-?\d+)?")


def same_output(got, expected):
    """The same text, numbers equal to 1e-6 (the two kernel builds round differently)."""
    if NUMBER.sub("#", got) != NUMBER.sub("#", expected):
        return False
    return all(abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(b)))
               for a, b in zip(NUMBER.findall(got), NUMBER.findall(expected)))


def examples():
    if not README.exists():         # tests run from an installed wheel, without the sources
        return []
    return EXAMPLE.findall(README.read_text())


def test_the_readme_has_examples_with_output():
    if not README.exists():
        pytest.skip("README.md is not next to the tests")
    assert len(examples()) >= 3


def test_the_readme_examples_print_what_it_says():
    namespace = {}                  # examples build on the ones before them
    for code, expected in examples():
        if "sklearn" in code and importlib.util.find_spec("sklearn") is None:
            continue                # the scikit-learn section needs the optional extra
        out = io.StringIO()
        # one BLAS thread: with the second core busy, two-thread BLAS on these small
        # networks waits for it (the digits example took 20 s instead of 1)
        with contextlib.redirect_stdout(out), threadpool_limits(1):
            exec(compile(code, str(README), "exec"), namespace)
        assert same_output(out.getvalue(), expected), (code, out.getvalue())
