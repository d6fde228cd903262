// ALiBi (Press et al.): logit bias −m_h·(t_i − t_j), not scaled by 1/sqrt(d), passed to the
// attention kernel as its per-kv-head slope (slope·(t_j − t_i)). Slopes for n heads: 2^(−8k/n),
// k = 1..n, for n a power of two; otherwise the nearest lower power of two's slopes followed by
// every other slope of the next power of two (n = 12: 2^−1 … 2^−8, 2^−0.5, 2^−1.5, 2^−2.5, 2^−3.5).
// With grouped KV heads the slopes are those of n_kv_head heads, shared by each group (as GOAT's
// recency seed, goat.md §2). Fixed, not learned.
#pragma once

#include <vector>

#include "core/device_buffer.h"
#include "model/position.h"

namespace goat {

std::vector<double> alibi_slopes(int64_t n_heads);

class AlibiPosition final : public PositionScheme {
 public:
  AlibiPosition(int64_t head_dim, int64_t n_kv_head);
  float score_scale() const override { return scale_; }
  ops::AttentionPrior prior(int64_t batch, int64_t tk, int64_t k_pos0) override;
  const std::vector<float>& slopes() const { return slopes_; }

 private:
  float scale_;
  std::vector<float> slopes_;
  DeviceBuffer slopes_dev_;  // their copy for a model on CUDA
};

// none / learned / sinusoidal: plain softmax attention with 1/sqrt(d_h).
class PlainPosition final : public PositionScheme {
 public:
  explicit PlainPosition(int64_t head_dim);
  float score_scale() const override { return scale_; }

 private:
  float scale_;
};

}  // namespace goat
