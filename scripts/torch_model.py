#!/usr/bin/env python3
"""A plain PyTorch GPT that loads `goatlm export` output and reproduces goatlm's logits.

    goatlm export --run RUN --out EXPORT
    goatlm eval --run RUN --batches 1 --dump-logits DUMP.safetensors
    python3 scripts/torch_model.py --case EXPORT DUMP.safetensors [--case ...]

prints one JSON line per case: the largest |logit difference| overall and per position, both
mean losses, and whether the export loaded with strict=True. Exit status 0 unless a file is
malformed (the comparison itself is judged by the caller, tests/e2e/test_export.cpp).

Works with torch >= 1.12 (Debian's 1.13): attention is an explicit softmax, no
scaled_dot_product_attention. No safetensors package is needed: the format (8-byte little-endian
header length, JSON header, raw little-endian data) is parsed here with numpy.

Model (docs/goat.md, docs/attention.md): tied embeddings wte (+ wpe for learned, + the sinusoidal
table for sinusoidal), n_layer pre-LN blocks (LayerNorm eps 1e-5, fused q,k,v projection, causal
attention, out_proj, GELU-tanh MLP), ln_f, logits = x @ wte^T. The state-dict names are the export
names, so `GPT.load_state_dict(export, strict=True)` is the check that nothing is missing or extra.

GoatAttention below follows the authors' module (github elonlit/goat, class GoatAttention) for the
configuration goatlm uses: fuse_qkv=True, batch_first=True, causal self-attention, 1-D positions,
prior_gate "none", no bias_kv / zero_attn. Its parameters and persistent buffers have the
reference's names and shapes, and the Fourier features, the sink MLP and the recency term are
computed in fp32 from the rel_freqs_base / abs_freqs_base buffers as the reference does, so a slice
h.{i}.attn.* of the export loads strictly into either module. goatlm computes the same features in
fp64 and adds the recency term per pair; the fp32 features differ from those by rounding that grows
with the position (goat.md §6 fact 12).
"""

import argparse
import json
import math
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

_DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}


def load_safetensors(path):
    """Returns ({name: torch.Tensor}, metadata dict) from a safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: {len(blob)} bytes, too short for the header length")
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        raise ValueError(f"{path}: header length {n} runs past the end of the file ({len(blob)} bytes)")
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = memoryview(blob)[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, h in header.items():
        if h["dtype"] not in _DTYPES:
            raise ValueError(f"{path}: tensor {name!r} has dtype {h['dtype']}, only {sorted(_DTYPES)} are read")
        begin, end = h["data_offsets"]
        dt = np.dtype(_DTYPES[h["dtype"]]).newbyteorder("<")
        count = int(np.prod(h["shape"], dtype=np.int64))
        if end - begin != count * dt.itemsize or end > len(data):
            raise ValueError(f"{path}: tensor {name!r}: offsets [{begin}, {end}) do not hold shape {h['shape']}")
        arr = np.frombuffer(data[begin:end], dtype=dt, count=count).reshape(h["shape"])
        tensors[name] = torch.from_numpy(arr.astype(dt.newbyteorder("="), copy=True))
    return tensors, meta


def alibi_slopes(n):
    """ALiBi slopes for n heads (power of two: 2^(-8k/n); else the nearest lower power of two's
    slopes followed by every other slope of the next power of two)."""
    def pow2(m):
        return [2.0 ** (-8.0 * k / m) for k in range(1, m + 1)]
    closest = 1
    while closest * 2 <= n:
        closest *= 2
    s = pow2(closest)
    if closest < n:
        s += pow2(2 * closest)[0::2][: n - closest]
    return s


def causal_softmax_attention(logits, v, group):
    """logits (N, H, L, S) with query i at key position i; v (N, Hkv, S, D) shared by `group`
    query heads. Returns (N, L, H·D)."""
    L, S = logits.shape[-2], logits.shape[-1]
    mask = torch.ones(L, S, dtype=torch.bool).tril(S - L)
    p = torch.softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)
    o = p @ v.repeat_interleave(group, dim=1)
    n, h, l, d = o.shape
    return o.permute(0, 2, 1, 3).reshape(n, l, h * d)


class _SinkMLP(nn.Module):
    """The sink MLP: Linear(2M+2 -> 4), SiLU, Linear(4 -> 1), fp32."""

    def __init__(self, in_dim, hidden=4):
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden)
        self.fc2 = nn.Linear(hidden, 1)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class GoatAttention(nn.Module):
    """GOAT attention, fuse_qkv=True and batch_first=True (see the module docstring)."""

    def __init__(self, embed_dim, num_heads, kv_num_heads=None, pos_rank=4, abs_rank=4, enable_key_bias=True,
                 training_seq_len=None, pos_base=10000.0, abs_base=10000.0):
        super().__init__()
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.kv_num_heads = num_heads if kv_num_heads is None else kv_num_heads
        self.head_dim = embed_dim // num_heads
        self.kv_embed_dim = self.kv_num_heads * self.head_dim
        self.R, self.M = pos_rank, abs_rank
        self.enable_key_bias = enable_key_bias
        self.training_seq_len = training_seq_len
        self.pos_dim = 2 * self.R + (1 if enable_key_bias else 0)
        self.content_dim = self.head_dim - self.pos_dim
        if self.content_dim <= 0:
            raise ValueError(f"head_dim={self.head_dim} too small for pos_dim={self.pos_dim}")
        self.in_proj = nn.Linear(embed_dim, embed_dim + 2 * self.kv_embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        self.lambda_sym = nn.Parameter(torch.zeros(self.kv_num_heads, self.R))
        self.lambda_asym = nn.Parameter(torch.zeros(self.kv_num_heads, self.R))
        r = torch.arange(self.R, dtype=torch.float32)
        m = torch.arange(self.M, dtype=torch.float32)
        self.register_buffer("rel_freqs_base", pos_base ** (-r / max(self.R - 1, 1)))
        self.register_buffer("abs_freqs_base", abs_base ** (-m / max(self.M - 1, 1)))
        if enable_key_bias:
            self.key_bias = _SinkMLP(2 * self.M + 2)
            self.sink_gain = nn.Parameter(torch.ones(self.kv_num_heads))
            self.sink_bump = nn.Parameter(torch.zeros(self.kv_num_heads))
            self.recency_slope_raw = nn.Parameter(torch.zeros(self.kv_num_heads))
        else:
            self.key_bias = None
        # The reference's optional prior gate (prior_gate="query_norm"); unused with "none".
        self.prior_gate_scale_raw = nn.Parameter(torch.full((num_heads,), -10.0))
        self.prior_gate_bias = nn.Parameter(torch.full((num_heads,), 10.0))

    @staticmethod
    def _fourier(freqs, t):
        """[cos(w t), sin(w t)] in fp32: (len(t), 2·len(w))."""
        phases = t[:, None] * freqs[None, :]
        return torch.cat([torch.cos(phases), torch.sin(phases)], dim=-1)

    def key_bias_values(self, t, causal=True):
        """u_h(j) for key positions t (fp32): gain·MLP(x_j) + bump·[t_j = 0] + softplus(rho)·t_j (causal)."""
        D = float(self.training_seq_len if self.training_seq_len is not None else max(len(t) - 1, 1))
        x = torch.cat([self._fourier(self.abs_freqs_base.float(), t), (t / D)[:, None],
                       (torch.log1p(t) / (math.log1p(D) if math.log1p(D) > 0 else 1.0))[:, None]], dim=-1)
        u = self.key_bias(x).squeeze(-1)
        u = self.sink_gain[:, None] * u[None, :] + self.sink_bump[:, None] * (t == 0).float()[None, :]
        if causal:
            u = u + F.softplus(self.recency_slope_raw)[:, None] * t[None, :]
        return u  # (Hkv, S)

    def forward(self, x, position_offset=0):
        """x (N, L, E) -> (N, L, E), causal self-attention at positions offset .. offset + L - 1."""
        N, L, _ = x.shape
        H, Hkv, Dh, Dc, R = self.num_heads, self.kv_num_heads, self.head_dim, self.content_dim, self.R
        q, k, v = torch.split(self.in_proj(x), [self.embed_dim, self.kv_embed_dim, self.kv_embed_dim], dim=-1)
        q = q.view(N, L, H, Dh).transpose(1, 2)
        k = k.view(N, L, Hkv, Dh).transpose(1, 2)
        v = v.view(N, L, Hkv, Dh).transpose(1, 2)
        t = position_offset + torch.arange(L, dtype=torch.float32)
        q_parts, k_parts = [q[..., :Dc] / math.sqrt(Dc)], [k[..., :Dc]]
        if R > 0:
            rel = self._fourier(self.rel_freqs_base.float(), t)
            cos, sin = rel[:, :R], rel[:, R:]
            G = H // Hkv
            A = self.lambda_sym.clamp(-1e6, 1e6).repeat_interleave(G, dim=0)[None, :, None, :]
            B = self.lambda_asym.clamp(-1e6, 1e6).repeat_interleave(G, dim=0)[None, :, None, :]
            q_parts += [A * cos + B * sin, A * sin - B * cos]
            k_parts += [cos.expand(N, Hkv, L, R), sin.expand(N, Hkv, L, R)]
        if self.enable_key_bias:
            q_parts.append(q.new_ones(N, H, L, 1))
            k_parts.append(self.key_bias_values(t)[None, :, :, None].expand(N, Hkv, L, 1))
        q_total = torch.cat([p.expand(N, H, L, p.shape[-1]) for p in q_parts], dim=-1)
        k_total = torch.cat(k_parts, dim=-1).repeat_interleave(H // Hkv, dim=1)
        logits = q_total @ k_total.transpose(-1, -2)
        return self.out_proj(causal_softmax_attention(logits, v, H // Hkv))


class Attention(nn.Module):
    """Causal attention for the other position types: plain (learned, sinusoidal, none), rope
    (half: i <-> i + D/2, interleaved: 2i <-> 2i + 1) and alibi (slopes of the KV heads)."""

    def __init__(self, embed_dim, num_heads, kv_num_heads, position):
        super().__init__()
        self.embed_dim, self.num_heads, self.kv_num_heads = embed_dim, num_heads, kv_num_heads
        self.head_dim = embed_dim // num_heads
        self.kind = position["type"]
        self.rope_base = position.get("rope_base", 10000.0)
        self.interleaved = position.get("rope_pairing", "half") == "interleaved"
        self.in_proj = nn.Linear(embed_dim, embed_dim + 2 * kv_num_heads * self.head_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)

    def rope(self, x, pos0):
        """Rotates (N, h, L, D) with goatlm's table (angles in fp64, rounded to fp32)."""
        L, D = x.shape[-2], self.head_dim
        half = D // 2
        theta = self.rope_base ** (-2.0 * np.arange(half) / D)
        ang = (pos0 + np.arange(L))[:, None] * theta[None, :]
        c = torch.from_numpy(np.cos(ang).astype(np.float32))
        s = torch.from_numpy(np.sin(ang).astype(np.float32))
        if self.interleaved:
            x1, x2 = x[..., 0::2], x[..., 1::2]
        else:
            x1, x2 = x[..., :half], x[..., half:]
        y1, y2 = x1 * c - x2 * s, x1 * s + x2 * c
        if self.interleaved:
            return torch.stack([y1, y2], dim=-1).flatten(-2)
        return torch.cat([y1, y2], dim=-1)

    def forward(self, x, position_offset=0):
        N, L, _ = x.shape
        H, Hkv, Dh = self.num_heads, self.kv_num_heads, self.head_dim
        kv = Hkv * Dh
        q, k, v = torch.split(self.in_proj(x), [self.embed_dim, kv, kv], dim=-1)
        q = q.view(N, L, H, Dh).transpose(1, 2)
        k = k.view(N, L, Hkv, Dh).transpose(1, 2)
        v = v.view(N, L, Hkv, Dh).transpose(1, 2)
        if self.kind == "rope":
            q, k = self.rope(q, position_offset), self.rope(k, position_offset)
        logits = (q @ k.repeat_interleave(H // Hkv, dim=1).transpose(-1, -2)) * (1.0 / math.sqrt(Dh))
        if self.kind == "alibi":
            slopes = torch.tensor(alibi_slopes(Hkv), dtype=torch.float32).repeat_interleave(H // Hkv)
            t = torch.arange(L, dtype=torch.float32)
            logits = logits + slopes[None, :, None, None] * (t[None, :] - t[:, None])[None, None]
        return self.out_proj(causal_softmax_attention(logits, v, H // Hkv))


class MLP(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.c_fc = nn.Linear(d, 4 * d)
        self.c_proj = nn.Linear(4 * d, d)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, m, seq_len):
        super().__init__()
        d, pos = m["d_model"], m["position"]
        kv = m["n_kv_head"] if m["n_kv_head"] > 0 else m["n_head"]
        self.ln_1 = nn.LayerNorm(d, eps=1e-5)
        if pos["type"] == "goat":
            self.attn = GoatAttention(d, m["n_head"], kv, pos["pos_rank"], pos["abs_rank"], pos["key_bias"],
                                      pos["train_len"] if pos["train_len"] > 0 else seq_len)
        else:
            self.attn = Attention(d, m["n_head"], kv, pos)
        self.ln_2 = nn.LayerNorm(d, eps=1e-5)
        self.mlp = MLP(d)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        m = cfg["model"]
        self.cfg = m
        self.wte = nn.Embedding(m["vocab_size"], m["d_model"])
        if m["position"]["type"] == "learned":
            self.wpe = nn.Embedding(m["max_seq_len"], m["d_model"])
        self.h = nn.ModuleList([Block(m, cfg["train"]["seq_len"]) for _ in range(m["n_layer"])])
        self.ln_f = nn.LayerNorm(m["d_model"], eps=1e-5)

    def sinusoidal(self, L):
        C = self.cfg["d_model"]
        t = np.arange(L)[:, None]
        a = t / 10000.0 ** (2.0 * np.arange(C // 2)[None, :] / C)
        pe = np.zeros((L, C))
        pe[:, 0::2], pe[:, 1::2] = np.sin(a), np.cos(a)
        return torch.from_numpy(pe.astype(np.float32))

    def forward(self, tokens):
        """tokens (N, L) int64 -> logits (N, L, V)."""
        L = tokens.shape[1]
        x = self.wte(tokens)
        kind = self.cfg["position"]["type"]
        if kind == "learned":
            x = x + self.wpe(torch.arange(L))
        elif kind == "sinusoidal":
            x = x + self.sinusoidal(L)
        for block in self.h:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.t()


def load_export(export_dir):
    """The GPT of an export directory, loaded with strict=True."""
    with open(f"{export_dir}/config.json") as f:
        cfg = json.load(f)
    tensors, _ = load_safetensors(f"{export_dir}/model.safetensors")
    model = GPT(cfg)
    model.load_state_dict(tensors, strict=True)
    return model.eval()


def goat_layer_from_export(export_dir, layer):
    """A standalone GoatAttention holding layer `layer` of a GOAT export: the slice h.{layer}.attn.*
    loaded with strict=True, as into the reference module (docs/goat.md "Export")."""
    with open(f"{export_dir}/config.json") as f:
        cfg = json.load(f)
    tensors, _ = load_safetensors(f"{export_dir}/model.safetensors")
    prefix = f"h.{layer}.attn."
    attn = Block(cfg["model"], cfg["train"]["seq_len"]).attn
    attn.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}, strict=True)
    return attn


def check(export_dir, dump_path):
    model = load_export(export_dir)
    slices = 0
    if model.cfg["position"]["type"] == "goat":
        for i in range(model.cfg["n_layer"]):
            goat_layer_from_export(export_dir, i)
            slices += 1
    dump, meta = load_safetensors(dump_path)
    tokens = dump["inputs"].long()
    targets = dump["targets"].long()
    with torch.no_grad():
        logits = model(tokens)
    V = logits.shape[-1]
    loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1)).item()
    diff = (logits - dump["logits"]).abs()
    per_pos = diff.amax(dim=(0, 2))
    return {"export": export_dir, "dump": dump_path, "position": model.cfg["position"]["type"], "strict_load": True,
            "goat_layer_slices_loaded": slices,
            "seq_len": tokens.shape[1], "max_abs_dlogit": diff.max().item(), "max_abs_dlogit_per_pos": per_pos.tolist(),
            "max_abs_logit": dump["logits"].abs().max().item(), "loss_goatlm": float(meta["loss"]), "loss_torch": loss}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", nargs=2, action="append", metavar=("EXPORT_DIR", "DUMP"), required=True,
                    help="an export directory and a `goatlm eval --dump-logits` file of the same run")
    args = ap.parse_args()
    for export_dir, dump_path in args.case:
        print(json.dumps(check(export_dir, dump_path)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
