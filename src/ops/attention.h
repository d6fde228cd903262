// Causal self-attention with an additive position/prior hook, as one tiled kernel
// (FlashAttention-style online softmax over key blocks: O(T) memory, LSE saved for backward).
// The hook is compact, never a T×T tensor: the position variants and GOAT plug in here.
//
//   z_ij = scale · <q_i, k_j> + slope_h · (t_j − t_i) + key_bias_h(j)     over t_j ≤ t_i (causal)
//   o_i  = Σ_j softmax_j(z_ij) v_j
//
// with t = pos_offset + index. ALiBi is slope only; GOAT folds its Fourier lanes into q/k (scale
// 1 with the content scale pre-applied, goat.md §3) and passes u(j) as key_bias and its recency
// softplus(rho) as slope (added per pair in fp32, exact under the causal mask).
//
// Layouts (strides in elements let q/k/v be views into the fused (B, T, 3·C) projection):
//   q: (B, H, Tq, D)  k, v: (B, Hkv, Tk, D)  o: (B, H, Tq, D)  lse: (B, H, Tq) contiguous
//   query head h reads kv head h / (H / Hkv). Tk ≥ Tq; query i sits at key position Tk − Tq + i.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace goat::ops {

struct AttentionPrior {
  const float* slope = nullptr;     // (Hkv) per kv head, or nullptr: no recency term
  const float* key_bias = nullptr;  // (B, Hkv, Tk), or nullptr: no per-key term
  int64_t pos_offset = 0;           // absolute position of key 0
};

// Per-(b, h) diagnostics accumulated inside the kernel (optional; theory.md §5).
struct AttentionDiagnostics {
  float* entropy = nullptr;    // (B, H) mean over rows of −Σ p log p
  float* sink_mass = nullptr;  // (B, H) mean over rows of p_i0
  float* p_max = nullptr;      // (B, H) mean over rows of max_j p_ij
};

struct AttentionArgs {
  Tensor q, k, v, o, lse;
  float scale = 1.f;
  bool causal = true;
  AttentionPrior prior;
  AttentionDiagnostics diag;
};

void attention_forward(const AttentionArgs& a);

struct AttentionGrads {
  Tensor dq, dk, dv;                 // same shapes as q, k, v; overwritten
  float* d_key_bias = nullptr;       // (B, Hkv, Tk) overwritten: column sums of dS, if key_bias given
  float* d_slope = nullptr;          // (Hkv) overwritten: Σ dS_ij (t_j − t_i), if slope given
};

// Needs o and lse from the forward pass and d_o (B, H, Tq, D).
void attention_backward(const AttentionArgs& a, const Tensor& d_o, const AttentionGrads& g);

}  // namespace goat::ops
