// Causal self-attention with an additive position/prior hook, as one tiled kernel
// (FlashAttention-2-style online softmax over key blocks: O(T) memory, LSE saved for backward).
// The hook is compact, never a T×T tensor: the position variants and GOAT plug in here.
//
//   z_ij = scale · <q_i, k_j> + slope_h · (t_j − t_i) + key_bias_h(j)     over t_j ≤ t_i (causal)
//   o_i  = Σ_j softmax_j(z_ij) v_j
//
// with t = pos_offset + index. ALiBi is slope only; GOAT folds its Fourier lanes into q/k (scale
// 1 with the content scale pre-applied, goat.md §3) and passes u(j) as key_bias and its recency
// softplus(rho) as slope (added per pair in fp32, exact under the causal mask).
//
// Layouts (strides in elements let q/k/v be views into the fused (B, T, 3·C) projection; the
// last dim of q, k, v, o, dq, dk, dv, d_o must have stride 1):
//   q: (B, H, Tq, D)  k, v: (B, Hkv, Tk, D)  o: (B, H, Tq, D)  lse: (B, H, Tq) contiguous
//   query head h reads kv head h / (H / Hkv). Tk ≥ Tq; query i sits at key position Tk − Tq + i.
// On the CPU q, k, v, o are f32 (q, k, v and o bf16 where attention_takes_bf16: a bf16 o is the
// rounding of the fp32 o, and the backward's D_i = dO_i·O_i reads it, as on CUDA); dq, dk, dv f32
// or bf16 (AttentionGrads). See docs/attention.md.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace goat::ops {

// GOAT's relative lanes built inside the CUDA fused flash kernels (docs/kernels.md) instead of
// written into q/k by the position scheme: q/k columns [content_dim, content_dim + 2R) are
// replaced by (a∘cos + b∘sin, a∘sin − b∘cos)(w t_i) for q and (cos, sin)(w t_j) for k, columns
// past them by 0; `scale` applies to the content only. The backward stores 0 in the lane columns
// of dq, dk and overwrites AttentionGrads::d_lane_a/b. CUDA (bf16, fused path) only: the CPU
// reference is the folded form (ops::goat_lanes_forward/backward around the same kernel).
struct AttentionLanes {
  bool on = false;
  const float *a = nullptr, *b = nullptr;  // (Hkv, R) fp32 on the device (null when R = 0)
  int64_t R = 0, content_dim = 0;
};

struct AttentionPrior {
  const float* slope = nullptr;     // (Hkv) per kv head, or nullptr: no recency term
  const float* key_bias = nullptr;  // (B, Hkv, Tk) contiguous, or nullptr: no per-key term
  int64_t pos_offset = 0;           // absolute position of key 0 (relative terms ignore it)
  AttentionLanes lanes;             // in-kernel GOAT lanes (CUDA only), or off
};

// Per-row diagnostics accumulated inside the forward kernel (optional; theory.md §5). Each
// non-null pointer is a contiguous (B, H, Tq) array in host memory (on either device: on cuda a
// separate pass computes them after the forward and copies them down), overwritten; callers
// average or bin by position themselves. "Content" logits s are scale·<q[:content_dim], k[:content_dim]>; the rest
// of z is the log-prior ℓ = z − s (the lanes after content_dim, slope and key bias).
struct AttentionDiagnostics {
  float* entropy = nullptr;    // H_i = −Σ_j p_ij log p_ij
  float* sink_mass = nullptr;  // p_i0 (key index 0)
  float* p_max = nullptr;      // max_j p_ij
  float* kl = nullptr;         // KL(p_i ‖ π_i), π_i = softmax_j(ℓ_ij) over admissible keys
  float* omega = nullptr;      // max_j s_ij − min_j s_ij over admissible keys
  int64_t content_dim = 0;     // 0 means D: every dim is content
  // ℓ is the same for every batch row (true for GOAT and ALiBi): KL's logsumexp_j ℓ_ij is then
  // computed once per (h, i) rather than per (b, h, i).
  bool prior_shared_over_batch = false;
  bool any() const { return entropy || sink_mass || p_max || kl || omega; }
};

struct AttentionArgs {
  Tensor q, k, v, o, lse;
  float scale = 1.f;
  bool causal = true;
  AttentionPrior prior;
  AttentionDiagnostics diag;
};

// Writes o and lse (natural log of the softmax denominator, fp32).
void attention_forward(const AttentionArgs& a);

struct AttentionGrads {
  Tensor dq, dk, dv;            // same shapes as q, k, v; overwritten (CPU: all f32, or all bf16)
  float* d_key_bias = nullptr;  // (B, Hkv, Tk) overwritten: column sums of dS, if key_bias given
  float* d_slope = nullptr;     // (Hkv) overwritten: Σ dS_ij (t_j − t_i), if slope given
  float* d_lane_a = nullptr;    // (Hkv, R) overwritten: ∂L/∂a, ∂L/∂b with prior.lanes (R > 0)
  float* d_lane_b = nullptr;
  // CPU only: the column sums of (fp32) dq (H·D), dk, dv (Hkv·D each) over (b, t), added (+=) —
  // the bias gradient of the projection that made q, k, v, summed in the fixed order of
  // backend/cpu/attention_kernel.h (per batch row t ascending, then batch rows ascending, fp32).
  // The CPU bf16 model passes bf16 dq, dk, dv (rounded to nearest even from the fp32 values) and
  // these sums, so in_proj's backward reads a ready bf16 d_out (docs/performance.md).
  float *dq_sum = nullptr, *dk_sum = nullptr, *dv_sum = nullptr;
};

// Needs o and lse from the forward pass and d_o (B, H, Tq, D). a.diag is ignored.
void attention_backward(const AttentionArgs& a, const Tensor& d_o, const AttentionGrads& g);

// CPU: whether attention_forward and attention_backward take bf16 q, k, v and o (bits of
// DType::bf16 views; o: see the top of this file) for these arguments: where their products run in bf16 on the short path
// (cpu::bf16_inputs), which rounds fp32 q, k, v to bf16 (nearest even) anyway, so bf16 inputs give
// the results of the fp32 values they represent, bitwise. The CPU bf16 model's in_proj then
// writes qkv in bf16. Elsewhere bf16 q, k, v are an error.
bool attention_takes_bf16(const AttentionArgs& a);

// FLOPs the benchmarks count: forward 4·B·H·Tq·Tk·D (× ½ when causal and Tq = Tk), backward 2.5×.
double attention_forward_flops(int64_t b, int64_t h, int64_t tq, int64_t tk, int64_t d, bool causal);

}  // namespace goat::ops
