#!/usr/bin/env bash
# Quick start: install packages, build, print what the machine offers, then the default job:
# train configs/tiny.json (2-layer GPT, RoPE, built-in synthetic corpus; about a minute on 2
# cores) into runs/quickstart, evaluate it and sample from it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
./build/goatlm info
./build/goatlm train --config configs/tiny.json --run-dir runs/quickstart
./build/goatlm eval --run runs/quickstart
./build/goatlm sample --run runs/quickstart --prompt "the " --tokens 200 --temperature 0.8 --seed 1
# Length extrapolation, short study (≈2 min on 2 idle cores): six position variants trained at
# T = 64, evaluated to 8T; prints the NO perplexity table (full report: runs/study-quick/report.md).
./build/goatlm study --config configs/studies/quick.json --out runs/study-quick --quiet
