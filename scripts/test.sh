#!/usr/bin/env bash
# The test command: install what is missing, configure + build into build/, run every ctest.
# Exits non-zero on any failure. Extra args are passed to ctest (e.g. -L ops).
set -euo pipefail
cd "$(dirname "$0")/.."
# ctest runs two tests at once, each with OpenMP threads: idle threads must sleep, not spin, or
# they steal the other test's core (measured: tiny training 316 vs 41k tok/s on a loaded machine;
# docs/performance.md).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
ROOT="$PWD"
bash scripts/setup.sh
bash scripts/get_gpt2_tokenizer.sh || echo "test: GPT-2 tokenizer files unavailable; the GPT-2 exactness tests will skip"
bash scripts/build.sh
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 900 "$@"

# EMU job for the CUDA backend (docs/cuda.md): the same CUDA sources compiled for the host SIMT
# emulation (-DGOATLM_CUDA=EMU) so that every CUDA op runs here against the CPU backend.
# Only test_cuda is built; GOATLM_SKIP_EMU=1 skips it.
if [[ "${GOATLM_SKIP_EMU:-0}" != 1 ]]; then
  cd ..
  cmake -S . -B build-emu -G Ninja -DCMAKE_BUILD_TYPE=Release -DGOATLM_CUDA=EMU >/dev/null
  cmake --build build-emu -j "$(nproc)" --target test_cuda
  (cd build-emu && ctest --output-on-failure -j "$(nproc)" --timeout 300 -L cuda)
  cd build
fi

# ASan job for the host SIMT emulation (docs/emulation.md): the emu tests again under
# AddressSanitizer, including the death tests asserting that an emulated kernel writing out of
# bounds (global or shared memory) aborts with a report. Only the emu test target is built.
# GOATLM_SKIP_ASAN=1 skips it (e.g. while iterating on other tests).
if [[ "${GOATLM_SKIP_ASAN:-0}" != 1 ]]; then
  cd ..
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Release -DGOATLM_ASAN=ON >/dev/null
  cmake --build build-asan -j "$(nproc)" --target test_emu
  (cd build-asan && ctest --output-on-failure -j "$(nproc)" --timeout 300 -L emu -E emu_nvcc_compile)
fi

# Sanitizer + fuzz job (docs/checkpoints.md "Untrusted input"): clang with AddressSanitizer +
# UndefinedBehaviorSanitizer (any report fails the test; leaks included) and libFuzzer. Runs
# sanitized the suites that parse files or write checkpoints (unit, data, train, including the
# bad-input table and the goatlm processes of the crash tests) and each parser's fuzz target for
# GOATLM_FUZZ_SECONDS (15 s). The numeric suites (ops, model, goat, eval) read no input and run
# 5-20x slower sanitized; they are left out. GOATLM_SKIP_SAN=1 skips this job.
if [[ "${GOATLM_SKIP_SAN:-0}" != 1 ]]; then
  cd "$ROOT"
  cmake -S . -B build-san -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
        -DGOATLM_CUDA=OFF -DGOATLM_MPI=OFF -DGOATLM_SANITIZE=ON -DGOATLM_FUZZ=ON >/dev/null
  cmake --build build-san -j "$(nproc)" --target goatlm test_unit test_data test_train \
        fuzz_config fuzz_safetensors fuzz_shard fuzz_state fuzz_tokenizer
  # Excluded for time only, never for failing (a failure here is a bug to fix with a test):
  # - Bf16Training.LossCurveTracksFp32Within500Steps: 2 x 500 training steps of the tiny model on
  #   one thread, ~25 s plain, 7.6 min (2 min 54 s CPU) sanitized, where it passes; it reads no
  #   input and writes no checkpoint (pure numerics, like the suites left out above); the default
  #   build runs it.
  (cd build-san && UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -j "$(nproc)" --timeout 900 -L '^(unit|data|train|fuzz)$' -E '^Bf16Training\.')
fi
