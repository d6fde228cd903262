#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: builds the real CUDA backend into build-gpu, checks the ptxas
# resource report, runs the CUDA tests on the device against the CPU backend (the op-case table,
# the 20-step model comparison fp32/bf16 and `goatlm train` on cuda: the tests that skip on
# machines without a GPU), prints the kernel benchmark table (tests/cuda/bench/bench_cuda_ops.cpp:
# ms, GB/s or TFLOP/s and % of the given peaks), then the attention table
# (tests/cuda/bench/bench_cuda_attention.cpp: the fused flash kernel with prior none/alibi/goat,
# goat with the model's in-kernel lanes, B=8 H=12 d=64 causal, T = 1k..16k, fwd and fwd+bwd
# TFLOP/s, % of none) followed by its peers, PyTorch SDPA restricted to its flash backend and to
# cuDNN on the same shapes (scripts/bench_attention_torch.py), when torch with CUDA is installed, and
# last times training of configs/gpt2-124m.json (GPT-2 124M, GOAT, T = 1024, bf16, synthetic
# tokens) with `goatlm bench train` on the device: tokens/s, MFU against the measured cuda::gemm
# peak (the trainer's figure) and against the given datasheet peak. docs/cuda.md lists what this
# covers that the emulation cannot.
# Usage: scripts/bench_gpu.sh [peak_GBs=3350] [peak_TFLOPs=989]   (defaults: H100 SXM bf16 dense)
set -euo pipefail
cd "$(dirname "$0")/.."
peak_gbs=${1:-3350}
peak_tflops=${2:-989}
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d .)
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DGOATLM_CUDA=ON \
  ${arch:+-DCMAKE_CUDA_ARCHITECTURES="80;90;$arch"} >/dev/null
cmake --build build-gpu -j "$(nproc)" --target test_cuda bench_cuda_ops bench_cuda_attention goatlm
./build-gpu/goatlm info | grep -i cuda || true
(cd build-gpu && ctest --output-on-failure -R cuda_ptxas_report)
# The CUDA tests must run (not skip) here: a skip means no device was found.
out=$(GOATLM_SOURCE_DIR="$PWD" ./build-gpu/tests/cuda/test_cuda 2>&1) || { echo "$out" | tail -40; exit 1; }
echo "$out" | grep -E "bf16: sigma_w" || true
echo "$out" | tail -3
if echo "$out" | grep -q "SKIPPED"; then echo "bench_gpu: the CUDA tests skipped: no usable device"; exit 1; fi
./build-gpu/tests/cuda/bench_cuda_ops "$peak_gbs" "$peak_tflops" 1
# Attention table (docs/kernels.md "Benchmarks"): ours with prior none/alibi/goat, each as % of
# none and a "goat within 10% of none" line per T, then the peer rows in the same columns.
./build-gpu/tests/cuda/bench_cuda_attention 16384 5
if python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  python3 scripts/bench_attention_torch.py 16384 5 --backend flash
  python3 scripts/bench_attention_torch.py 16384 5 --backend cudnn || echo "bench_gpu: no cuDNN SDPA row (torch too old)"
else
  echo "bench_gpu: no torch with CUDA here: no SDPA peer row"
fi
# Training throughput: median step time after a warm-up (each step: B·T = 8192 tokens).
train=$(./build-gpu/goatlm bench train --config configs/gpt2-124m.json --steps 10 --warmup 3)
echo "$train" | head -n -1
echo "$train" | tail -1 | python3 -c "
import json, sys
j = json.load(sys.stdin)
print(f\"gpt2-124m bf16 T=1024: {j['tokens_per_s']:.0f} tokens/s, {j['model_gflops'] / 1e3:.1f} model TFLOP/s, \"
      f\"MFU {100 * j['mfu']:.1f}% of the measured gemm peak, {100 * j['model_gflops'] / 1e3 / $peak_tflops:.1f}% of $peak_tflops TFLOP/s\")"
