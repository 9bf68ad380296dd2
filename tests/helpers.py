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


def run_isolated(module_name, table_name, timeout=300, max_memory=None):
    """Run every call of a table in a child interpreter; {case: outcome}.

    The table (in the test module `module_name`) maps a case name to
    (call, expected); each call takes no argument. An outcome is
    {"returned": repr(value)}, {"raised": type name, "message": str}, or
    {"crashed": exit status, "stderr": its tail} for the case during which the
    child died (a segfault, an abort, a sanitizer report) or hung: the cases
    after it run in a new child, so one crash fails one case, not the run.
    max_memory (bytes) caps the child's address space, so a case that would read or
    allocate without end fails instead of driving the machine out of memory (not under
    AddressSanitizer, which reserves terabytes of address space for its shadow memory).
    """
    import json
    import os
    import subprocess
    import sys
    code = (
        "import json, os, sys\n"
        f"limit = {max_memory!r}\n"
        "if limit and os.name == 'posix' and 'libasan' not in os.environ.get('LD_PRELOAD', ''):\n"
        "    import resource\n"
        "    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
        f"sys.path[:0] = [{os.path.dirname(os.path.abspath(__file__))!r}]\n"
        f"table = getattr(__import__({module_name!r}), {table_name!r})\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    print(json.dumps({'start': name}), flush=True)\n"
        "    try:\n"
        "        outcome = {'returned': repr(table[name][0]())}\n"
        "    except Exception as error:\n"
        "        outcome = {'raised': type(error).__name__, 'message': str(error)[:4000]}\n"
        "    print(json.dumps({'case': name, **outcome}), flush=True)\n"
    )
    table = getattr(__import__(module_name), table_name)
    outcomes, remaining = {}, list(table)
    while remaining:
        try:
            child = subprocess.run([sys.executable, "-c", code, json.dumps(remaining)],
                                   capture_output=True, text=True, timeout=timeout,
                                   env=dict(os.environ))
            stdout, status, stderr = child.stdout, child.returncode, child.stderr
        except subprocess.TimeoutExpired as expired:
            stdout, status, stderr = expired.stdout or "", "timeout", expired.stderr or ""
            stdout = stdout.decode() if isinstance(stdout, bytes) else stdout
            stderr = stderr.decode() if isinstance(stderr, bytes) else stderr
        for line in stdout.splitlines():
            record = json.loads(line) if line.startswith("{") else {}
            if "case" in record:
                outcomes[record.pop("case")] = record
        remaining = [name for name in remaining if name not in outcomes]
        if remaining:               # the child died (or hung) during the first of them
            outcomes[remaining.pop(0)] = {"crashed": status, "stderr": stderr[-3000:]}
    return outcomes


def check_outcome(outcome, expected):
    """Assert a run_isolated outcome: expected is (exception type, words) or a return value."""
    assert "crashed" not in outcome, f"the interpreter died ({outcome['crashed']}): " \
                                     f"{outcome['stderr']}"
    if isinstance(expected, tuple) and isinstance(expected[0], type) \
            and issubclass(expected[0], BaseException):
        exc_type, words = expected
        assert outcome.get("raised") == exc_type.__name__, outcome
        for word in words:
            assert word in outcome["message"], f"{word!r} not in {outcome['message']!r}"
    else:
        assert outcome == {"returned": repr(expected)}, outcome


class LyingInt(int):
    """An int whose comparisons always answer 'in range'."""

    def __lt__(self, other):
        return False

    def __gt__(self, other):
        return False

    def __le__(self, other):
        return True

    def __ge__(self, other):
        return True
