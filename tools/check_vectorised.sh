#!/usr/bin/env bash
# The small-matrix kernels must vectorise: in the installed modules' machine code,
# _small_gemm_nn and _small_gemm_nt and the one-sample kernels (float and double)
# must hold packed arithmetic,
# 256-bit (ymm) FMAs in the AVX2 build, packed SSE2 (xmm) in the baseline build.
# Usage: bash tools/check_vectorised.sh  (x86-64 with binutils' objdump; skips elsewhere)
set -euo pipefail
if [ "$(uname -m)" != "x86_64" ] || ! command -v objdump > /dev/null; then
  echo "check_vectorised: not an x86-64 machine with objdump; skipped"; exit 0
fi
dir=$(python -c 'import fastnn, os; print(os.path.dirname(fastnn.__file__))')
status=0
for so in "$dir"/_kernels.cpython*.so "$dir"/_kernels_avx2.cpython*.so; do
  [ -e "$so" ] || continue
  case "$so" in
    *_kernels_avx2*) pattern='vfmadd[0-9]+p[sd][[:space:]].*%ymm'; build=avx2 ;;
    *)               pattern='(mul|add)p[sd][[:space:]].*%xmm';      build=baseline ;;
  esac
  dump=$(objdump -d --no-show-raw-insn "$so")
  # label and symbol: the small kernels, the one-sample forward kernel and the
  # per-row SGD backward, into which gcc inlines the one-sample backward kernel
  for check in \
      "small_gemm_nn float:__pyx_fuse_0__pyx_f_6fastnn_[0-9]+_kernels(_avx2)?__small_gemm_nn" \
      "small_gemm_nn double:__pyx_fuse_1__pyx_f_6fastnn_[0-9]+_kernels(_avx2)?__small_gemm_nn" \
      "small_gemm_nt float:__pyx_fuse_0__pyx_f_6fastnn_[0-9]+_kernels(_avx2)?__small_gemm_nt" \
      "small_gemm_nt double:__pyx_fuse_1__pyx_f_6fastnn_[0-9]+_kernels(_avx2)?__small_gemm_nt" \
      "one-sample forward float:fnn_sample_forward_f" \
      "one-sample forward double:fnn_sample_forward_d" \
      "one-sample backward float:__pyx_fuse_0__pyx_f_6fastnn_[0-9]+_kernels(_avx2)?__backward_sgd_rows[.a-z0-9]*" \
      "one-sample backward double:__pyx_fuse_1__pyx_f_6fastnn_[0-9]+_kernels(_avx2)?__backward_sgd_rows[.a-z0-9]*"; do
    label=${check%%:*}; name=${check#*:}
    count=$(awk -v re="<${name}>:" '$0 ~ re {on=1; next} on && /^$/ {on=0} on' <<< "$dump" \
            | grep -cE "$pattern" || true)
    echo "$build ${label}: $count packed instructions"
    [ "$count" -gt 0 ] || status=1
  done
done
[ $status = 0 ] || echo "check_vectorised: a small-matrix kernel is not vectorised"
exit $status
