// ALiBi slopes and the plain scheme.
#include "model/position_alibi.h"

#include <cmath>

namespace goat {

std::vector<double> alibi_slopes(int64_t n) {
  GOAT_CHECK(n >= 1, "alibi", "need at least one head, got {}", n);
  const auto pow2_slopes = [](int64_t m) {
    std::vector<double> s;
    for (int64_t k = 1; k <= m; ++k) s.push_back(std::exp2(-8.0 * static_cast<double>(k) / static_cast<double>(m)));
    return s;
  };
  int64_t closest = 1;
  while (closest * 2 <= n) closest *= 2;
  std::vector<double> s = pow2_slopes(closest);
  if (closest < n) {
    const std::vector<double> next = pow2_slopes(2 * closest);
    for (int64_t i = 0; static_cast<int64_t>(s.size()) < n; i += 2) s.push_back(next[static_cast<size_t>(i)]);
  }
  return s;
}

AlibiPosition::AlibiPosition(int64_t head_dim, int64_t n_kv_head)
    : scale_(static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)))) {
  for (double s : alibi_slopes(n_kv_head)) slopes_.push_back(static_cast<float>(s));
}

ops::AttentionPrior AlibiPosition::prior(int64_t, int64_t, int64_t k_pos0) {
  ops::AttentionPrior p;
  p.slope = slopes_.data();
  if (device_ == Device::cuda)
    p.slope = static_cast<const float*>(slopes_dev_.upload(slopes_.data(), slopes_.size() * sizeof(float)));
  p.pos_offset = k_pos0;
  return p;
}

PlainPosition::PlainPosition(int64_t head_dim) : scale_(static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)))) {}

}  // namespace goat
