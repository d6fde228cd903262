// fp64 naive attention with the prior hook of ops/attention.h, forward and backward, for the
// flash-kernel tests (test_flash_attention.cpp): the independent reference, written out directly
// from the formulas (no tiling, no online softmax).
//   z_ij = scale·<q_i, k_j> + slope[hk]·(t_j − t_i) + key_bias[b, hk, j], t_j − t_i = j − (Tk − Tq + i)
// All tensors contiguous: q, o, d_o, dq (B, H, Tq, D); k, v, dk, dv (B, Hkv, Tk, D); lse (B, H, Tq);
// key_bias, d_key_bias (B, Hkv, Tk); slope, d_slope (Hkv).
#pragma once

#include <cstdint>
#include <vector>

namespace goat::cuda_test {

struct RefDims {
  int64_t B, H, Hkv, Tq, Tk, D;
  bool causal;
  double scale;
};

struct RefInputs {
  std::vector<double> q, k, v, d_o, slope, key_bias;  // slope / key_bias empty: term absent
  // D_i = <do_i, bf16(o_i)> (the backward reads the o the forward stored in bf16) instead of the
  // exact Σ_j P_ij dP_ij: part of the plain bf16 reference.
  bool delta_from_bf16_o = false;
  // o_i = Σ_j bf16(P_ij) v_j: the P·V product takes bf16 operands, as in every bf16 attention
  // (FlashAttention's bf16 reference included); part of the plain bf16 reference.
  bool p_bf16_in_pv = false;
};

struct RefOutputs {
  std::vector<double> o, lse, dq, dk, dv, d_key_bias, d_slope;
  // Per query row (B, H, Tq): D_i as used, and w_i = Σ_j P_ij (t_j − t_i), the weight with which
  // an error in D_i enters d_slope (δd_slope = −Σ_i w_i δD_i).
  std::vector<double> delta, w;
};

RefOutputs attention_reference(const RefDims& m, const RefInputs& in);

}  // namespace goat::cuda_test
