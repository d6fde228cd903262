#!/usr/bin/env bash
# Side-by-side training throughput: goatlm (`goatlm bench train`) vs the same GPT in PyTorch 1.13
# (scripts/bench/pytorch_gpt.py), run with Debian's OpenBLAS as detected and with
# OPENBLAS_CORETYPE=SKYLAKEX; the ratio is against PyTorch's faster figure.
# Usage: scripts/bench/compare_pytorch.sh [configs...]   (default: configs/bench/cpu-d128.json cpu-d256.json)
# Env: GOATLM (binary, default build/goatlm), THREADS (default 2), STEPS (default 10).
set -euo pipefail
cd "$(dirname "$0")/../.."
GOATLM=${GOATLM:-build/goatlm}
THREADS=${THREADS:-2}
STEPS=${STEPS:-10}
configs=("$@")
[[ ${#configs[@]} -gt 0 ]] || configs=(configs/bench/cpu-d128.json configs/bench/cpu-d256.json)
export OMP_NUM_THREADS=$THREADS
tps() { tail -n 1 | /usr/bin/python3 -c 'import json,sys; print(round(json.loads(sys.stdin.read())["tokens_per_s"]))'; }
rows=()
for c in "${configs[@]}"; do
  g=$("$GOATLM" bench train --config "$c" --steps "$STEPS" --warmup 3 | tps)
  p1=$(/usr/bin/python3 scripts/bench/pytorch_gpt.py --config "$c" --steps "$STEPS" --threads "$THREADS" | tps)
  p2=$(OPENBLAS_CORETYPE=SKYLAKEX /usr/bin/python3 scripts/bench/pytorch_gpt.py --config "$c" --steps "$STEPS" --threads "$THREADS" | tps)
  rows+=("$c $g $p1 $p2")
done
printf "\n%-30s %14s %16s %20s %8s\n" "config" "goatlm tok/s" "pytorch tok/s" "pytorch SKYLAKEX" "ratio"
for r in "${rows[@]}"; do
  read -r c g p1 p2 <<<"$r"
  best=$(( p1 > p2 ? p1 : p2 ))
  printf "%-30s %14s %16s %20s %7.2fx\n" "$c" "$g" "$p1" "$p2" "$(/usr/bin/python3 -c "print($g / $best)")"
done
echo "($THREADS threads, median of $STEPS steps after 3 warm-up steps; $(date -u +%F))"
