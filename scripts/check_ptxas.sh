#!/usr/bin/env bash
# ptxas resource check of the real CUDA build (test cuda_ptxas_report, docs/cuda.md): compiles
# every CUDA backend source (src/backend/cuda/*.cu, kernels from kernels/*.cuh) with
# `-Xptxas -v` for each architecture, keeps the report in OUT/ptxas_<arch>.txt, prints one line
# per kernel and fails if any kernel spills registers or uses more static shared memory than the
# 48 KiB a kernel may have without opting in.
# Usage: check_ptxas.sh NVCC SOURCE_DIR OUT_DIR "80;90"
set -euo pipefail
nvcc=$1 src=$2 out=$3 archs=${4:-80;90}
if [[ -z "$nvcc" || ! -x "$nvcc" ]]; then echo "check_ptxas: nvcc not found; skipped"; exit 77; fi
mkdir -p "$out"
fail=0
for arch in ${archs//;/ }; do
  arch=${arch%-real}; arch=${arch%-virtual}
  report="$out/ptxas_sm${arch}.txt"
  : >"$report"
  for f in "$src"/src/backend/cuda/*.cu; do
    "$nvcc" -std=c++20 -O3 --expt-relaxed-constexpr -Wno-deprecated-gpu-targets -I"$src/src" -I"$src/kernels" \
      -arch=sm_"$arch" -Xptxas -v -c "$f" -o "$out/$(basename "$f").o" 2>>"$report"
  done
  # ptxas prints "Compiling entry function '<mangled>'" then "Used N registers, ... N bytes smem"
  # and "N bytes stack frame, N bytes spill stores, N bytes spill loads".
  awk -v arch="$arch" '
    /Compiling entry function/ { match($0, /'"'"'[^'"'"']+'"'"'/); fn = substr($0, RSTART + 1, RLENGTH - 2) }
    /spill stores/ { split($0, a, /[ ,]+/); for (i = 1; i <= length(a); ++i) { if (a[i] == "stack") st = a[i-2]; if (a[i] == "spill" && a[i+1] == "stores") ss = a[i-2]; if (a[i] == "spill" && a[i+1] == "loads") sl = a[i-2] } }
    /Used [0-9]+ registers/ {
      regs = 0; smem = 0
      n = split($0, a, /[ ,]+/)
      for (i = 1; i <= n; ++i) { if (a[i] == "registers") regs = a[i-1]; if (a[i] == "smem") smem = a[i-2] }
      cmd = "c++filt -p \"" fn "\""; cmd | getline pretty; close(cmd)
      printf "sm_%s %-70s regs %3d smem %6d stack %s spill %s/%s\n", arch, substr(pretty, 1, 70), regs, smem, st, ss, sl
      if (ss + 0 > 0 || sl + 0 > 0) { print "  FAIL: register spills"; bad = 1 }
      if (smem + 0 > 49152) { print "  FAIL: static shared memory over 48 KiB"; bad = 1 }
      kernels++
    }
    END { if (kernels == 0) { print "no kernels found in the ptxas report"; exit 1 } exit bad }
  ' "$report" || fail=1
done
exit $fail
