#!/usr/bin/env bash
# Activation memory and step time by train.recompute (none, attention, block), one
# `goatlm bench train --clock cpu` process per cell so each peak RSS is its own, the three modes
# interleaved per row and the rows repeated ROUNDS times (median step time over the rounds; the
# CPU clock with OMP_NUM_THREADS=1 keeps the ratios meaningful on a loaded machine). Prints a
# markdown table: config, B, T, recompute, activation arena MiB, peak RSS MiB, step ms, vs none.
# Usage: scripts/bench/recompute_memory.sh
# Env: GOATLM (binary, default build/goatlm), ROUNDS (default 2), STEPS (default 2), WARMUP (default 1).
set -euo pipefail
cd "$(dirname "$0")/../.."
GOATLM=${GOATLM:-build/goatlm}
ROUNDS=${ROUNDS:-2}
STEPS=${STEPS:-2}
WARMUP=${WARMUP:-1}
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
# Rows: "config|B|T|extra --set arguments"
rows=("configs/tiny.json|16|64|"
      "configs/bench/cpu-d256.json|32|128|"
      "configs/bench/cpu-d256.json|4|2048|model.max_seq_len=2048")
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((r = 0; r < ROUNDS; ++r)); do
  for row in "${rows[@]}"; do
    IFS='|' read -r cfg B T extra <<< "$row"
    sets=(--set "train.batch_size=$B" --set "train.seq_len=$T")
    [[ -n $extra ]] && sets+=(--set "$extra")
    for mode in none attention block; do
      line=$("$GOATLM" bench train --config "$cfg" "${sets[@]}" --set "train.recompute=$mode" --clock cpu \
             --steps "$STEPS" --warmup "$WARMUP" 2>/dev/null | tail -n 1)
      echo "$cfg|$B|$T|$mode|$line" >> "$out"
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$out" <<'EOF'
import json, statistics, sys
cells = {}
for line in open(sys.argv[1]):
    cfg, B, T, mode, js = line.rstrip("\n").split("|", 4)
    cells.setdefault((cfg, int(B), int(T)), {}).setdefault(mode, []).append(json.loads(js))
print("| config | B | T | recompute | activation arena MiB | peak RSS MiB | step ms (CPU, 1 thread) | vs none |")
print("|---|---:|---:|---|---:|---:|---:|---:|")
for (cfg, B, T), modes in cells.items():
    base = statistics.median(j["step_ms"] for j in modes["none"])
    for mode in ("none", "attention", "block"):
        js = modes[mode]
        ms = statistics.median(j["step_ms"] for j in js)
        rss = max(j["peak_rss_mib"] for j in js)
        print(f"| {cfg} | {B} | {T} | {mode} | {js[0]['activations_mib']:.1f} | {rss:.0f} | {ms:.1f} | {ms / base:.2f} |")
EOF
