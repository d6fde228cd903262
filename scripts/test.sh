#!/usr/bin/env bash
# The test command: install what is missing, configure + build into build/, run every ctest.
# Exits non-zero on any failure. Extra args are passed to ctest (e.g. -L ops).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 900 "$@"
