#!/usr/bin/env bash
# Compiles tests/emu/nvcc_check.cu and row_sum.cu with nvcc for sm_80 and sm_90 (in parallel). Exit 77 (ctest
# SKIP) when nvcc is absent. Usage: nvcc_check.sh <nvcc or empty> <source root> <output dir>
set -uo pipefail
NVCC=${1:-}
ROOT=$2
OUT=$3
if [[ -z "$NVCC" || ! -x "$NVCC" ]]; then
  echo "emu_nvcc_compile: SKIPPED: nvcc not found (install the CUDA toolkit to compile-check the kernels)"
  exit 77
fi
mkdir -p "$OUT"
pids=()
for arch in 80 90; do
  "$NVCC" -std=c++20 -O2 -arch=sm_$arch -I"$ROOT/kernels" -I"$ROOT/src" -I"$ROOT/tests/emu" \
    -Xptxas -warn-spills -Werror all-warnings -c "$ROOT/tests/emu/nvcc_check.cu" -o "$OUT/nvcc_check_sm$arch.o" \
    >"$OUT/sm$arch.log" 2>&1 && \
  "$NVCC" -std=c++20 -O2 -arch=sm_$arch -I"$ROOT/kernels" -I"$ROOT/src" -I"$ROOT/tests/emu" \
    -Xptxas -warn-spills -Werror all-warnings -c "$ROOT/tests/emu/row_sum.cu" -o "$OUT/row_sum_sm$arch.o" \
    >>"$OUT/sm$arch.log" 2>&1 &
  pids+=($!)
done
rc=0
for idx in 0 1; do
  arch=$([[ $idx == 0 ]] && echo 80 || echo 90)
  if wait "${pids[$idx]}"; then
    echo "emu_nvcc_compile: sm_$arch OK ($(stat -c %s "$OUT/nvcc_check_sm$arch.o") bytes)"
  else
    echo "emu_nvcc_compile: sm_$arch FAILED:"
    cat "$OUT/sm$arch.log"
    rc=1
  fi
done
exit $rc
