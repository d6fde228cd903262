#!/usr/bin/env bash
# ptxas resource check of the real CUDA build (test cuda_ptxas_report, docs/cuda.md): compiles
# every CUDA backend source (src/backend/cuda/*.cu, kernels from kernels/*.cuh) with
# `-Xptxas -v` for each architecture, keeps the report in OUT/ptxas_report.txt, prints one line
# per kernel and fails if any kernel spills registers, has a non-zero stack frame (local memory:
# e.g. a register array left in memory by a loop ptxas could not unroll, docs/kernels.md) or uses
# more static shared memory than the 48 KiB a kernel may have without opting in.
# Usage: check_ptxas.sh NVCC SOURCE_DIR OUT_DIR "80;90"
set -euo pipefail
nvcc=$1 src=$2 out=$3 archs=${4:-80;90}
if [[ -z "$nvcc" || ! -x "$nvcc" ]]; then echo "check_ptxas: nvcc not found; skipped"; exit 77; fi
mkdir -p "$out"
gencode=()
for arch in ${archs//;/ }; do
  arch=${arch%-real}; arch=${arch%-virtual}
  gencode+=(--generate-code "arch=compute_$arch,code=sm_$arch")
done
# One nvcc per source (all architectures at once), sources in parallel.
pids=()
for f in "$src"/src/backend/cuda/*.cu; do
  b=$(basename "$f")
  "$nvcc" -std=c++20 -O3 --expt-relaxed-constexpr -Wno-deprecated-gpu-targets -I"$src/src" -I"$src/kernels" \
    "${gencode[@]}" -Xptxas -v -c "$f" -o "$out/$b.o" 2>"$out/$b.ptxas" &
  pids+=($!)
done
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
if [[ $fail != 0 ]]; then cat "$out"/*.ptxas; echo "check_ptxas: nvcc failed"; exit 1; fi
report="$out/ptxas_report.txt"
cat "$out"/*.ptxas >"$report"
# ptxas prints "Compiling entry function '<mangled>' for 'sm_NN'", then "N bytes stack frame,
# N bytes spill stores, N bytes spill loads" and "Used N registers, ... N bytes smem".
awk '
  /Compiling entry function/ { match($0, /'"'"'[^'"'"']+'"'"'/); fn = substr($0, RSTART + 1, RLENGTH - 2)
                               arch = $NF; gsub(/'"'"'/, "", arch) }
  /spill stores/ { split($0, a, /[ ,]+/); for (i = 1; i <= length(a); ++i) { if (a[i] == "stack") st = a[i-2]; if (a[i] == "spill" && a[i+1] == "stores") ss = a[i-2]; if (a[i] == "spill" && a[i+1] == "loads") sl = a[i-2] } }
  /Used [0-9]+ registers/ {
    regs = 0; smem = 0
    n = split($0, a, /[ ,]+/)
    for (i = 1; i <= n; ++i) { if (a[i] == "registers") regs = a[i-1]; if (a[i] == "smem") smem = a[i-2] }
    key = arch " " fn
    if (key in seen) next
    seen[key] = 1
    cmd = "c++filt -p \"" fn "\""; cmd | getline pretty; close(cmd)
    why = ""
    if (ss + 0 > 0 || sl + 0 > 0) why = why "  FAIL: register spills"
    if (st + 0 > 0) why = why "  FAIL: non-zero stack frame (local memory)"
    if (smem + 0 > 49152) why = why "  FAIL: static shared memory over 48 KiB"
    if (why != "") bad = 1
    printf "%s %-70s regs %3d smem %6d stack %s spill %s/%s%s\n", arch, substr(pretty, 1, 70), regs, smem, st, ss, sl, why
    st = ""; ss = ""; sl = ""
    kernels++
  }
  END { if (kernels == 0) { print "no kernels found in the ptxas report"; exit 1 } exit bad }
' "$report" | sort
exit "${PIPESTATUS[0]}"
