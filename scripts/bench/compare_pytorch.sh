#!/usr/bin/env bash
# Side-by-side training throughput in one run: goatlm fp32 and bf16 (`goatlm bench train`,
# `--set dtype=bf16`) vs the same GPT in PyTorch 1.13 fp32 (scripts/bench/pytorch_gpt.py), run
# with Debian's OpenBLAS as detected and with OPENBLAS_CORETYPE=SKYLAKEX; ratios are against
# PyTorch's faster figure. MFU = model FLOPs (6·N + 6·L·T·d per token) / the sgemm GFLOP/s that
# goatlm measured in the same process; peak RSS of each process. The load average is printed
# before and after, since the figures only compare within one run.
# Usage: scripts/bench/compare_pytorch.sh [configs...]
#        (default: configs/bench/cpu-d128.json cpu-d256.json cpu-d512.json)
# Env: GOATLM (binary, default build/goatlm), THREADS (default 2), STEPS (default 10), WARMUP (default 3),
#      AS_DETECTED (default 1; 0 runs PyTorch only with SKYLAKEX). OMP_WAIT_POLICY, when set, applies to both.
set -euo pipefail
cd "$(dirname "$0")/../.."
GOATLM=${GOATLM:-build/goatlm}
THREADS=${THREADS:-2}
STEPS=${STEPS:-10}
WARMUP=${WARMUP:-3}
AS_DETECTED=${AS_DETECTED:-1}  # 0: skip PyTorch with OpenBLAS as detected (always the slower one here)
configs=("$@")
[[ ${#configs[@]} -gt 0 ]] || configs=(configs/bench/cpu-d128.json configs/bench/cpu-d256.json configs/bench/cpu-d512.json)
export OMP_NUM_THREADS=$THREADS
# field NAME: reads the last line (JSON) of stdin, prints the field.
field() { tail -n 1 | /usr/bin/python3 -c "import json,sys; print(json.loads(sys.stdin.read())['$1'])"; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
rows=()
for c in "${configs[@]}"; do
  g32=$("$GOATLM" bench train --config "$c" --steps "$STEPS" --warmup "$WARMUP" | tail -n 1)
  g16=$("$GOATLM" bench train --config "$c" --set dtype=bf16 --steps "$STEPS" --warmup "$WARMUP" | tail -n 1)
  p2=$(OPENBLAS_CORETYPE=SKYLAKEX /usr/bin/python3 scripts/bench/pytorch_gpt.py --config "$c" --steps "$STEPS" --warmup "$WARMUP" \
       --threads "$THREADS" | tail -n 1)
  p1=$p2
  [[ $AS_DETECTED == 0 ]] ||
    p1=$(/usr/bin/python3 scripts/bench/pytorch_gpt.py --config "$c" --steps "$STEPS" --warmup "$WARMUP" --threads "$THREADS" | tail -n 1)
  rows+=("$c|$g32|$g16|$p1|$p2")
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "${rows[@]}" <<'PY'
import json, sys
print("\n| config | goatlm fp32 tok/s | goatlm bf16 tok/s | PyTorch fp32 tok/s (as detected / SKYLAKEX) "
      "| fp32 ratio | bf16 ratio | fp32 model GFLOP/s | sgemm GFLOP/s | fp32 MFU | bf16 model GFLOP/s "
      "| peak RSS MiB (fp32 / bf16 / PyTorch) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for row in sys.argv[1:]:
    c, g32, g16, p1, p2 = row.split("|")
    g32, g16, p1, p2 = (json.loads(x) for x in (g32, g16, p1, p2))
    best = max(p1["tokens_per_s"], p2["tokens_per_s"])
    prss = max(p1["peak_rss_mib"], p2["peak_rss_mib"])
    print(f"| {c} | {g32['tokens_per_s']:.0f} | {g16['tokens_per_s']:.0f} | {p1['tokens_per_s']:.0f} / "
          f"{p2['tokens_per_s']:.0f} | {g32['tokens_per_s'] / best:.2f}x | {g16['tokens_per_s'] / best:.2f}x "
          f"| {g32['model_gflops']:.0f} | {g32['sgemm_gflops']:.0f} | {100 * g32['mfu']:.0f}% "
          f"| {g16['model_gflops']:.0f} | {g32['peak_rss_mib']:.0f} / {g16['peak_rss_mib']:.0f} / {prss:.0f} |")
PY
echo "($THREADS threads, median of $STEPS steps after $WARMUP warm-up steps; $(date -u +%F))"
