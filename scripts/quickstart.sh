#!/usr/bin/env bash
# Quick start: install packages, build, print what the machine offers, and run the default job
# (train the tiny config on the built-in synthetic corpus once the trainer exists).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
./build/goatlm info
if [[ -f configs/tiny.json ]] && ./build/goatlm train --help >/dev/null 2>&1; then
  ./build/goatlm train --config configs/tiny.json --run-dir runs/quickstart
  if ./build/goatlm sample --help >/dev/null 2>&1; then
    ./build/goatlm sample --run runs/quickstart --prompt "The " --tokens 64
  fi
fi
