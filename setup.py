"""Builds the compiled kernels; all metadata lives in pyproject.toml.

Environment switches:
  FASTNN_DEBUG=1     bounds, wraparound, initialisation and overflow checks on; -O0 -g
  FASTNN_ANNOTATE=1  also writes Cython's HTML annotation next to the .pyx
  FASTNN_SANITIZE=1  AddressSanitizer + UndefinedBehaviorSanitizer (gcc; the
                     interpreter must preload libasan, see the README's development section)
"""
import os
import platform

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("FASTNN_DEBUG") == "1"
SANITIZE = os.environ.get("FASTNN_SANITIZE") == "1"

# Directives live here, never in the .pyx, so a debug build is one switch away.
directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "overflowcheck": DEBUG,
    "cdivision": not DEBUG,
    "embedsignature": True,
}

# Portable build: no native-architecture flags, no fast-math (it deletes NaN checks).
# -fno-trapping-math only lets gcc evaluate both sides of a select (nothing here
# reads FP exception flags); without it the activation loops, which hold
# ternaries, are not vectorised. -fno-math-errno lets sqrt be an instruction instead of
# a libm call that may set errno (nothing here reads errno): without it the Adam,
# RMSprop and Adagrad updates are not vectorised (Adam on MNIST-sized batches cost
# 1.5x plain SGD instead of 1.17x). NaN and inf keep their IEEE meaning.
GCC_FLAGS = ["-O0", "-g"] if DEBUG else ["-O3", "-fno-trapping-math", "-fno-math-errno"]
MSVC_FLAGS = ["/Od", "/Zi"] if DEBUG else ["/O2"]
# Set here rather than through CFLAGS/LDFLAGS, so that nothing in the environment can
# drop them: the link flag is what puts libasan and libubsan in the extension's NEEDED list.
# -fno-wrapv undoes Python's -fwrapv, which would hide signed-overflow reports.
SANITIZER_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
                   "-fno-omit-frame-pointer", "-fno-wrapv", "-g"]
define_macros = [("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION"),
                 ("FASTNN_DEBUG_BUILD", "1" if DEBUG else "0")]


class BuildExt(build_ext):
    """Compiler flags by compiler family: gcc and clang, or MSVC."""

    def build_extensions(self):
        msvc = self.compiler.compiler_type == "msvc"
        if SANITIZE and msvc:
            raise RuntimeError("FASTNN_SANITIZE=1 needs gcc")
        for ext in self.extensions:
            ext.extra_compile_args = list(MSVC_FLAGS if msvc else GCC_FLAGS)
            if SANITIZE:
                ext.extra_compile_args += SANITIZER_FLAGS
                ext.extra_link_args = list(SANITIZER_FLAGS)
            if ext.name.endswith("_avx2"):
                ext.extra_compile_args += ["/arch:AVX2"] if msvc else ["-mavx2", "-mfma"]
        super().build_extensions()


def kernels(name):
    return Extension(f"fastnn.{name}", [f"src/fastnn/{name}.pyx"],
                     include_dirs=[numpy.get_include()], define_macros=define_macros)


# The kernels are built twice on x86-64: for any x86-64 CPU, and with AVX2 + FMA
# (4 doubles per instruction instead of 2: the vectorised exp, activation and
# update loops run about twice as fast). fastnn._dispatch picks the second at
# import when the CPU has both; a wheel stays portable.
extensions = [kernels("_kernels")]
if platform.machine().lower() in ("x86_64", "amd64"):
    extensions.append(kernels("_kernels_avx2"))

setup(
    cmdclass={"build_ext": BuildExt},
    options={"build_ext": {"parallel": os.cpu_count() or 1}},
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives,
        annotate=os.environ.get("FASTNN_ANNOTATE") == "1",
        # The .c is regenerated on every build, so switching debug/release always recompiles.
        force=True,
    )
)
