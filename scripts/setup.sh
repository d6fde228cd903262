#!/usr/bin/env bash
# Installs every system package that goatlm's build, tests and quick start need (Debian, apt-get).
# Idempotent: packages already present are skipped; prints what it does.
# The sanitizer + fuzz job needs clang, libclang-rt-dev (ASan/UBSan/libFuzzer runtimes), libomp-dev
# (clang's OpenMP) and llvm (llvm-symbolizer for the reports' stack traces: only recommended by clang,
# and recommends are not installed here).
set -euo pipefail

PACKAGES=(
  cmake ninja-build g++ pkg-config git
  libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libgtest-dev googletest libbenchmark-dev
  libdnnl-dev libssl-dev libboost-context-dev
  libopenblas0-pthread
  libopenmpi-dev openmpi-bin
  clang libclang-rt-dev libomp-dev llvm
  python3-numpy python3-torch python3-matplotlib
  nodejs npm
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    # npm/node may come from elsewhere on a developer machine; accept any working binary.
    if [[ "$p" == nodejs && -x "$(command -v node)" ]] || [[ "$p" == npm && -x "$(command -v npm)" ]]; then
      continue
    fi
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
