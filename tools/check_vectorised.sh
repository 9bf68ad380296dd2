#!/usr/bin/env bash
# The small-matrix kernels must vectorise: in the installed modules' machine code,
# _small_gemm_nn and _small_gemm_nt (float and double) must hold packed arithmetic,
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
  for fn in small_gemm_nn small_gemm_nt; do
    for variant in 0 1; do      # fuse_0: float, fuse_1: double
      name="__pyx_fuse_${variant}__pyx_f_6fastnn_[0-9]+_kernels(_avx2)?__${fn}"
      count=$(awk -v re="<${name}>:" '$0 ~ re {on=1; next} on && /^$/ {on=0} on' <<< "$dump" \
              | grep -cE "$pattern" || true)
      echo "$build ${fn} ($([ $variant = 0 ] && echo float || echo double)): $count packed instructions"
      [ "$count" -gt 0 ] || status=1
    done
  done
done
[ $status = 0 ] || echo "check_vectorised: a small-matrix kernel is not vectorised"
exit $status
