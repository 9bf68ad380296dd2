from ._kernels import *  # noqa: F401,F403  (the same API, compiled with AVX2 + FMA)
