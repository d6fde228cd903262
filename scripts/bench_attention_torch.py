#!/usr/bin/env python3
"""PyTorch peer for bench_cuda_attention (run by scripts/bench_gpu.sh when torch with CUDA is
installed): scaled_dot_product_attention (flash backend where PyTorch picks it), causal, bf16,
B=8 H=12 d=64, T=1k..max_T; forward and forward+backward TFLOP/s with the same FLOP count
(4·B·H·T²·d/2 forward, 2.5x that backward). Usage: bench_attention_torch.py [max_T] [reps]"""
import sys
import time

import torch
import torch.nn.functional as F


def timed(fn, reps):
    fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / reps * 1e3


def main():
    max_t = int(sys.argv[1]) if len(sys.argv) > 1 else 16384
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    b, h, d = 8, 12, 64
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}")
    print(f"{'peer':<6} {'T':>6} {'fwd ms':>12} {'fwd TFLOP/s':>12} {'fwd+bwd ms':>14} {'f+b TFLOP/s':>14}")
    t = 1024
    while t <= max_t:
        q, k, v = (torch.randn(b, h, t, d, device="cuda", dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
        g = torch.randn(b, h, t, d, device="cuda", dtype=torch.bfloat16)
        flops = 4.0 * b * h * t * t * d / 2
        with torch.no_grad():
            fwd = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), reps)

        def both():
            F.scaled_dot_product_attention(q, k, v, is_causal=True).backward(g)

        fb = timed(both, reps)
        print(f"{'sdpa':<6} {t:>6} {fwd:>12.3f} {flops / fwd / 1e9:>12.1f} {fb:>14.3f} {3.5 * flops / fb / 1e9:>14.1f}")
        t *= 2


if __name__ == "__main__":
    main()
