# The same kernels as _kernels.pyx, compiled with -mavx2 -mfma (see setup.py).
# fastnn._dispatch picks this module at import when the CPU has AVX2 and FMA.
include "_kernels.pyx"
