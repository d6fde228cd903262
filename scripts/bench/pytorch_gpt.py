#!/usr/bin/python3
"""The goatlm GPT in PyTorch (1.13, eager, fp32), for the side-by-side training benchmark.

Same architecture and shapes as goatlm's model (src/model/gpt.h): token + learned position
embedding, pre-LN blocks (LayerNorm -> fused qkv -> causal softmax attention written out
explicitly -> out_proj -> residual; LayerNorm -> 4x MLP with GELU-tanh -> residual), final
LayerNorm, LM head tied to the token embedding, biases on, AdamW (fp32). Reads a goatlm JSON
config (model.* and train.batch_size / seq_len) so both sides run the same shapes.

Usage: /usr/bin/python3 scripts/bench/pytorch_gpt.py --config configs/bench/cpu-d128.json
       [--steps 10] [--warmup 3] [--threads 2]
Last output line: one JSON object with tokens_per_s (median step time).
"""
import argparse
import json
import resource
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, n_head):
        super().__init__()
        self.n_head = n_head
        self.ln_1 = nn.LayerNorm(d)
        self.in_proj = nn.Linear(d, 3 * d)
        self.out_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.c_fc = nn.Linear(d, 4 * d)
        self.c_proj = nn.Linear(4 * d, d)

    def forward(self, x, mask):
        B, T, C = x.shape
        H = self.n_head
        q, k, v = self.in_proj(self.ln_1(x)).split(C, dim=2)
        q = q.view(B, T, H, C // H).transpose(1, 2)
        k = k.view(B, T, H, C // H).transpose(1, 2)
        v = v.view(B, T, H, C // H).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // H))
        att = att.masked_fill(mask[:T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.out_proj(y)
        x = x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))
        return x


class GPT(nn.Module):
    def __init__(self, vocab, n_layer, n_head, d, max_len):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(max_len, d)
        self.h = nn.ModuleList([Block(d, n_head) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(d)
        self.register_buffer("mask", torch.tril(torch.ones(max_len, max_len)))
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif "ln_" in name:
                nn.init.ones_(p)
            else:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith(("out_proj.weight", "c_proj.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx, targets):
        B, T = idx.shape
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for blk in self.h:
            x = blk(x, self.mask)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = json.load(open(args.config))
    m, t = cfg["model"], cfg["train"]
    V, L, H, C = m.get("vocab_size", 256), m.get("n_layer", 4), m.get("n_head", 4), m.get("d_model", 128)
    B, T = t.get("batch_size", 16), t.get("seq_len", 128)
    max_len = m.get("max_seq_len", 256)
    model = GPT(V, L, H, C, max_len)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    g = torch.Generator().manual_seed(1)
    times = []
    for step in range(args.warmup + args.steps):
        data = torch.randint(0, V, (B, T + 1), generator=g)
        t0 = time.perf_counter()
        loss = model(data[:, :-1], data[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        if step >= args.warmup:
            times.append(dt)
    med = statistics.median(times)
    n_params = sum(p.numel() for p in model.parameters() if p is not model.mask)
    print(f"pytorch {torch.__version__}, {torch.get_num_threads()} threads, {n_params} params, B {B} T {T}: "
          f"median step {med * 1e3:.1f} ms, {B * T / med:.0f} tokens/s")
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    print(json.dumps({"config": args.config, "params": n_params, "step_ms": med * 1e3, "tokens_per_s": B * T / med,
                      "peak_rss_mib": peak_rss_mib, "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
