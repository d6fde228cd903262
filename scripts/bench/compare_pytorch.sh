#!/usr/bin/env bash
# Side-by-side training throughput in one run: goatlm fp32 and bf16 (`goatlm bench train`,
# `--set dtype=bf16`) vs the same GPT in PyTorch 1.13 fp32 (scripts/bench/pytorch_gpt.py), run
# with Debian's OpenBLAS as detected and with OPENBLAS_CORETYPE=SKYLAKEX; ratios are against
# PyTorch's faster figure. MFU = model FLOPs (6·N + 6·L·T·d per token) / the sgemm GFLOP/s that
# goatlm measured in the same process; peak RSS of each process. The load average is printed
# before and after, since the figures only compare within one run.
# The host's speed can drift between processes (a shared VM): ROUNDS > 1 repeats the whole sweep
# (goatlm fp32, bf16, PyTorch per config, in that order each round), prints every round's rows
# and then, per config, the median tokens/s of each column and the median of the per-round ratios.
# Usage: scripts/bench/compare_pytorch.sh [configs...]
#        (default: configs/bench/cpu-d128.json cpu-d256.json cpu-d512.json)
# Env: GOATLM (binary, default build/goatlm), THREADS (default 2), STEPS (default 10), WARMUP (default 3),
#      AS_DETECTED (default 1; 0 runs PyTorch only with SKYLAKEX), ROUNDS (default 1).
#      OMP_WAIT_POLICY, when set, applies to both.
#      WAIT_POLICIES (e.g. "default passive"): run every process once under each OpenMP wait policy
#      ("default": OMP_WAIT_POLICY unset, libgomp spins a while then sleeps; "passive"; "active") and
#      keep each program's faster run, so each side gets its best environment (PyTorch 1.13 here is
#      ≈ 25–40% faster under passive, its OpenMP threads and OpenBLAS's own threads share 2 cores).
#      With more than one policy it also prints, per policy, the median ratios with BOTH programs
#      under that policy (e.g. "default": both in the default environment), from the same runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
GOATLM=${GOATLM:-build/goatlm}
THREADS=${THREADS:-2}
STEPS=${STEPS:-10}
WARMUP=${WARMUP:-3}
AS_DETECTED=${AS_DETECTED:-1}  # 0: skip PyTorch with OpenBLAS as detected (always the slower one here)
ROUNDS=${ROUNDS:-1}
WAIT_POLICIES=${WAIT_POLICIES:-}
configs=("$@")
[[ ${#configs[@]} -gt 0 ]] || configs=(configs/bench/cpu-d128.json configs/bench/cpu-d256.json configs/bench/cpu-d512.json)
export OMP_NUM_THREADS=$THREADS
# field NAME: reads the last line (JSON) of stdin, prints the field.
field() { tail -n 1 | /usr/bin/python3 -c "import json,sys; print(json.loads(sys.stdin.read())['$1'])"; }
# best CMD...: runs CMD under each of WAIT_POLICIES (once as is when empty) and prints the JSON line
# (its last line of output) with the most tokens/s, tagged with the policy it ran under and with
# every policy's tokens/s ("runs").
best() {
  local policies=(${WAIT_POLICIES:-inherit}) out best_json="" best_rate=-1 p rate runs="{}"
  for p in "${policies[@]}"; do
    case $p in
      inherit) out=$("$@" | tail -n 1) ;;
      default) out=$(env -u OMP_WAIT_POLICY "$@" | tail -n 1) ;;
      passive | active) out=$(OMP_WAIT_POLICY=$p "$@" | tail -n 1) ;;
      *) echo "compare_pytorch.sh: WAIT_POLICIES has '$p' (expected default, passive or active)" >&2; exit 2 ;;
    esac
    rate=$(field tokens_per_s <<<"$out")
    runs=$(/usr/bin/python3 -c "import json,sys; d=json.loads(sys.argv[1]); d[sys.argv[2]]=float(sys.argv[3]); print(json.dumps(d))" "$runs" "$p" "$rate")
    if /usr/bin/python3 -c "import sys; sys.exit(0 if $rate > $best_rate else 1)"; then
      best_rate=$rate
      best_json=$(/usr/bin/python3 -c "import json,sys; d=json.loads(sys.argv[1]); d['wait_policy']=sys.argv[2]; print(json.dumps(d))" "$out" "$p")
    fi
  done
  /usr/bin/python3 -c "import json,sys; d=json.loads(sys.argv[1]); d['runs']=json.loads(sys.argv[2]); print(json.dumps(d))" "$best_json" "$runs"
}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
rows=()
for ((round = 1; round <= ROUNDS; ++round)); do
for c in "${configs[@]}"; do
  g32=$(best "$GOATLM" bench train --config "$c" --steps "$STEPS" --warmup "$WARMUP")
  g16=$(best "$GOATLM" bench train --config "$c" --set dtype=bf16 --steps "$STEPS" --warmup "$WARMUP")
  p2=$(best env OPENBLAS_CORETYPE=SKYLAKEX /usr/bin/python3 scripts/bench/pytorch_gpt.py --config "$c" --steps "$STEPS" \
       --warmup "$WARMUP" --threads "$THREADS")
  p1=$p2
  [[ $AS_DETECTED == 0 ]] ||
    p1=$(best /usr/bin/python3 scripts/bench/pytorch_gpt.py --config "$c" --steps "$STEPS" --warmup "$WARMUP" --threads "$THREADS")
  rows+=("$c|$g32|$g16|$p1|$p2")
done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "${rows[@]}" <<'PY'
import json, statistics, sys
per_config = {}
print("\n| config | goatlm fp32 tok/s | goatlm bf16 tok/s | PyTorch fp32 tok/s (as detected / SKYLAKEX) "
      "| fp32 ratio | bf16 ratio | fp32 model GFLOP/s | sgemm GFLOP/s | fp32 MFU | bf16 model GFLOP/s "
      "| peak RSS MiB (fp32 / bf16 / PyTorch) | wait policy (fp32 / bf16 / PyTorch) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for row in sys.argv[1:]:
    c, g32, g16, p1, p2 = row.split("|")
    g32, g16, p1, p2 = (json.loads(x) for x in (g32, g16, p1, p2))
    pbest = max(p1, p2, key=lambda p: p["tokens_per_s"])
    best = pbest["tokens_per_s"]
    prss = max(p1["peak_rss_mib"], p2["peak_rss_mib"])
    print(f"| {c} | {g32['tokens_per_s']:.0f} | {g16['tokens_per_s']:.0f} | {p1['tokens_per_s']:.0f} / "
          f"{p2['tokens_per_s']:.0f} | {g32['tokens_per_s'] / best:.2f}x | {g16['tokens_per_s'] / best:.2f}x "
          f"| {g32['model_gflops']:.0f} | {g32['sgemm_gflops']:.0f} | {100 * g32['mfu']:.0f}% "
          f"| {g16['model_gflops']:.0f} | {g32['peak_rss_mib']:.0f} / {g16['peak_rss_mib']:.0f} / {prss:.0f} "
          f"| {' / '.join(x.get('wait_policy', 'inherit') for x in (g32, g16, pbest))} |")
    per_config.setdefault(c, []).append((g32["tokens_per_s"], g16["tokens_per_s"], best))
if any(len(r) > 1 for r in per_config.values()):
    med = statistics.median
    print("\nMedians over the rounds (ratios: the median of each round's ratio)\n")
    print("| config | rounds | goatlm fp32 tok/s | goatlm bf16 tok/s | PyTorch fp32 tok/s | fp32 ratio (min–max) "
          "| bf16 ratio (min–max) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for c, r in per_config.items():
        f32 = [a / p for a, _, p in r]
        b16 = [b / p for _, b, p in r]
        print(f"| {c} | {len(r)} | {med(a for a, _, _ in r):.0f} | {med(b for _, b, _ in r):.0f} "
              f"| {med(p for _, _, p in r):.0f} | {med(f32):.2f}x ({min(f32):.2f}–{max(f32):.2f}) "
              f"| {med(b16):.2f}x ({min(b16):.2f}–{max(b16):.2f}) |")
policies = sorted({p for row in sys.argv[1:] for x in row.split("|")[1:] for p in json.loads(x).get("runs", {})})
if len(policies) > 1:
    print("\nBoth programs under the same wait policy (the same runs; ratios: median of each round's ratio)\n")
    print("| config | policy | rounds | goatlm fp32 tok/s | goatlm bf16 tok/s | PyTorch fp32 tok/s "
          "| fp32 ratio (min–max) | bf16 ratio (min–max) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    same = {}
    for row in sys.argv[1:]:
        c, *runs = row.split("|")
        g32, g16, p1, p2 = (json.loads(x)["runs"] for x in runs)
        for p in policies:
            same.setdefault((c, p), []).append((g32[p], g16[p], max(p1[p], p2[p])))
    for (c, p), r in same.items():
        f32 = [a / q for a, _, q in r]
        b16 = [b / q for _, b, q in r]
        print(f"| {c} | {p} | {len(r)} | {statistics.median(a for a, _, _ in r):.0f} "
              f"| {statistics.median(b for _, b, _ in r):.0f} | {statistics.median(q for _, _, q in r):.0f} "
              f"| {statistics.median(f32):.2f}x ({min(f32):.2f}–{max(f32):.2f}) "
              f"| {statistics.median(b16):.2f}x ({min(b16):.2f}–{max(b16):.2f}) |")
PY
echo "($THREADS threads, median of $STEPS steps after $WARMUP warm-up steps, $ROUNDS round(s); $(date -u +%F))"
