#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: builds the real CUDA backend into build-gpu, checks the ptxas
# resource report, runs the CUDA op-case table on the device against the CPU backend (the tests
# that skip on machines without a GPU), then prints the kernel benchmark table
# (tests/cuda/bench/bench_cuda_ops.cpp: ms, GB/s or TFLOP/s and % of the given peaks), then the
# attention table (tests/cuda/bench/bench_cuda_attention.cpp: the fused flash kernel with prior
# none/alibi/goat, B=8 H=12 d=64 causal, T = 1k..16k, fwd and fwd+bwd TFLOP/s) followed by its
# peer, PyTorch SDPA on the same shapes (scripts/bench_attention_torch.py), when torch with CUDA
# is installed.
# Usage: scripts/bench_gpu.sh [peak_GBs=3350] [peak_TFLOPs=989]   (defaults: H100 SXM bf16 dense)
# Not yet covered (docs/cuda.md): training tokens/s and MFU for configs/gpt2-124m.json need the
# model on device "cuda", which is not wired yet.
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
# The op table must run (not skip) here: a skip means no device was found.
out=$(./build-gpu/tests/cuda/test_cuda 2>&1) || { echo "$out" | tail -40; exit 1; }
echo "$out" | tail -3
if echo "$out" | grep -q "SKIPPED"; then echo "bench_gpu: the op tests skipped: no usable device"; exit 1; fi
./build-gpu/tests/cuda/bench_cuda_ops "$peak_gbs" "$peak_tflops" 1
./build-gpu/tests/cuda/bench_cuda_attention 16384 5
if python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  python3 scripts/bench_attention_torch.py 16384 5
else
  echo "bench_gpu: no torch with CUDA here: no SDPA peer row"
fi
