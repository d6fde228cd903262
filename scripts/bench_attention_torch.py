#!/usr/bin/env python3
"""PyTorch peer for bench_cuda_attention (run by scripts/bench_gpu.sh when torch with CUDA is
installed): scaled_dot_product_attention, causal, bf16, B=8 H=12 d=64, T=min_T..max_T (doubling),
restricted to one SDPA backend (default flash: FlashAttention-2 inside PyTorch; cudnn: cuDNN's
fused attention; any: PyTorch's own choice), so the row says which kernel it measured. Forward
and forward+backward TFLOP/s with bench_cuda_attention's FLOP count (4·B·H·T²·d/2 forward, 2.5x
that backward) and the same table columns, rows labelled sdpa-<backend>.
Usage: bench_attention_torch.py [max_T=16384] [reps=5] [--min-t 1024] [--batch 8]
       [--backend flash|cudnn|any] [--dry-run]
--dry-run prints the header and the shapes with their FLOPs without torch or a GPU (a check of
the argument handling and the printing). Exit 77 (as bench_cuda_attention) without a CUDA device."""
import argparse
import contextlib
import sys
import time

HEADS, HEAD_DIM = 12, 64


def parse_args(argv):
    p = argparse.ArgumentParser(description="PyTorch SDPA peer of bench_cuda_attention (causal bf16 attention TFLOP/s)")
    p.add_argument("max_t", nargs="?", type=int, default=16384, help="largest T (default 16384)")
    p.add_argument("reps", nargs="?", type=int, default=5, help="timed repetitions per shape (default 5)")
    p.add_argument("--min-t", type=int, default=1024, help="smallest T (default 1024)")
    p.add_argument("--batch", type=int, default=8, help="B (default 8)")
    p.add_argument("--backend", choices=["flash", "cudnn", "any"], default="flash", help="SDPA backend (default flash)")
    p.add_argument("--dry-run", action="store_true", help="print the table's shapes and FLOPs, run nothing")
    a = p.parse_args(argv)
    if a.min_t < 1 or a.max_t < a.min_t or a.reps < 1 or a.batch < 1:
        p.error(f"need 1 <= min_t <= max_t, reps >= 1, batch >= 1; got min_t {a.min_t}, max_t {a.max_t}, "
                f"reps {a.reps}, batch {a.batch}")
    return a


def forward_flops(b, t):
    return 4.0 * b * HEADS * t * t * HEAD_DIM / 2  # causal: half the pairs (ops::attention_forward_flops)


def header():
    return f"{'prior':<10} {'T':>6} {'fwd ms':>12} {'fwd TFLOP/s':>12} {'fwd+bwd ms':>14} {'f+b TFLOP/s':>14}"


def row(label, t, fwd_ms, both_ms, flops):
    return (f"{label:<10} {t:>6} {fwd_ms:>12.3f} {flops / fwd_ms / 1e9:>12.1f} {both_ms:>14.3f} "
            f"{3.5 * flops / both_ms / 1e9:>14.1f}")


def sequence_lengths(a):
    t = a.min_t
    while t <= a.max_t:
        yield t
        t *= 2


def backend_context(torch, name):
    """A context manager restricting SDPA to one backend (torch >= 2.3: torch.nn.attention; 2.0-2.2:
    torch.backends.cuda.sdp_kernel, which has no cuDNN switch)."""
    if name == "any":
        return contextlib.nullcontext()
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        return sdpa_kernel({"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION}[name])
    except (ImportError, AttributeError):
        if name == "cudnn":
            sys.exit(f"bench_attention_torch: --backend cudnn needs torch >= 2.5, this is {torch.__version__}")
        return torch.backends.cuda.sdp_kernel(enable_flash=True, enable_math=False, enable_mem_efficient=False)


def timed(torch, fn, reps):
    fn()  # warm-up
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / reps * 1e3


def main(argv):
    a = parse_args(argv)
    label = "sdpa" if a.backend == "any" else f"sdpa-{a.backend}"
    if a.dry_run:
        print(f"dry run: {label}, B={a.batch} H={HEADS} d={HEAD_DIM} causal bf16, {a.reps} reps")
        print(header())
        for t in sequence_lengths(a):
            print(f"{label:<10} {t:>6}  forward {forward_flops(a.batch, t) / 1e12:.3f} TFLOP, "
                  f"fwd+bwd {3.5 * forward_flops(a.batch, t) / 1e12:.3f} TFLOP")
        return 0
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        print("no torch here: nothing to measure")
        return 77
    if not torch.cuda.is_available():
        print(f"torch {torch.__version__}: no CUDA device: nothing to measure")
        return 77
    if not hasattr(F, "scaled_dot_product_attention"):
        sys.exit(f"bench_attention_torch: scaled_dot_product_attention needs torch >= 2.0, this is {torch.__version__}")
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}, SDPA backend {a.backend}")
    print(header())
    b = a.batch
    for t in sequence_lengths(a):
        q, k, v = (torch.randn(b, HEADS, t, HEAD_DIM, device="cuda", dtype=torch.bfloat16, requires_grad=True)
                   for _ in range(3))
        g = torch.randn(b, HEADS, t, HEAD_DIM, device="cuda", dtype=torch.bfloat16)

        def forward():
            with torch.no_grad():
                F.scaled_dot_product_attention(q, k, v, is_causal=True)

        def both():  # the three input gradients, not accumulated into .grad (no extra add)
            torch.autograd.grad(F.scaled_dot_product_attention(q, k, v, is_causal=True), (q, k, v), g)

        try:
            with backend_context(torch, a.backend):
                fwd, fb = timed(torch, forward, a.reps), timed(torch, both, a.reps)
        except RuntimeError as e:  # e.g. "No available kernel" when the backend refuses the shape
            print(f"{label:<10} {t:>6}  backend {a.backend} unavailable: {str(e).splitlines()[0]}")
            continue
        print(row(label, t, fwd, fb, forward_flops(b, t)))
        del q, k, v, g
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
