// RoPE (Su et al.): rotate each (q, k) pair by t·θ_i, θ_i = base^(−2i/d_h), i < d_h/2.
// Two pairings exist and the config names one (extrapolation.md):
//   half         GPT-NeoX / Llama: pair (i, i + d_h/2)
//   interleaved  GPT-J: pair (2i, 2i + 1)
// Rotation is applied in place on the strided q/k views of the fused projection; backward
// rotates dq/dk by −t·θ_i (the transpose). Angles come from a table grown on demand, so any
// position (long evaluation, KV-cached decode) is computed the same way.
#pragma once

#include <vector>

#include "core/device_buffer.h"
#include "model/position.h"

namespace goat {

class RopePosition final : public PositionScheme {
 public:
  RopePosition(int64_t head_dim, double base, bool interleaved);

  float score_scale() const override;
  void forward_qk(const Tensor& q, const Tensor& k, int64_t q_pos0, int64_t k_pos0) override;
  void backward_qk(const Tensor& dq, const Tensor& dk, int64_t q_pos0, int64_t k_pos0, const Arena& grads) override;
  bool has_backward_qk() const override { return true; }

  // Rotates x (B, H, T, D) (strided, last dim contiguous) by sign·(pos0 + t)·θ.
  void rotate(const Tensor& x, int64_t pos0, float sign);

 private:
  void ensure_table(int64_t n_pos);
  int64_t head_dim_;
  double base_;
  bool interleaved_;
  int64_t n_pos_ = 0;
  std::vector<float> cos_, sin_;  // (n_pos, head_dim / 2)
  DeviceBuffer cos_dev_, sin_dev_;  // their device copies (a model on CUDA), uploaded when grown
  int64_t dev_pos_ = 0;             // rows uploaded
};

}  // namespace goat
