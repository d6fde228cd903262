// RoPE rotation over strided (B, H, T, D) views; the table is computed in fp64 then rounded.
#include "model/position_rope.h"

#include <cmath>

namespace goat {

RopePosition::RopePosition(int64_t head_dim, double base, bool interleaved)
    : head_dim_(head_dim), base_(base), interleaved_(interleaved) {
  GOAT_CHECK(head_dim % 2 == 0, "rope", "head dim must be even, got {}", head_dim);
}

float RopePosition::score_scale() const { return static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim_))); }

void RopePosition::ensure_table(int64_t n_pos) {
  if (n_pos <= n_pos_) return;
  int64_t n = std::max<int64_t>(n_pos, 2 * n_pos_);
  const int64_t half = head_dim_ / 2;
  cos_.resize(static_cast<size_t>(n * half));
  sin_.resize(static_cast<size_t>(n * half));
  for (int64_t t = n_pos_; t < n; ++t)
    for (int64_t i = 0; i < half; ++i) {
      const double theta = std::pow(base_, -2.0 * static_cast<double>(i) / static_cast<double>(head_dim_));
      const double a = static_cast<double>(t) * theta;
      cos_[static_cast<size_t>(t * half + i)] = static_cast<float>(std::cos(a));
      sin_[static_cast<size_t>(t * half + i)] = static_cast<float>(std::sin(a));
    }
  n_pos_ = n;
}

void RopePosition::rotate(const Tensor& x, int64_t pos0, float sign) {
  GOAT_CHECK(x.ndim() == 4 && x.size(3) == head_dim_ && x.strides[3] == 1, "rope",
             "expected x to be (B, H, T, {}) with a contiguous last dim, got {}", head_dim_, x.shape.str());
  const int64_t B = x.size(0), H = x.size(1), T = x.size(2), half = head_dim_ / 2;
  ensure_table(pos0 + T);
  float* base = x.f32();
  const int64_t pair_stride = interleaved_ ? 2 : 1, partner = interleaved_ ? 1 : half;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < T; ++t) {
        float* row = base + b * x.strides[0] + h * x.strides[1] + t * x.strides[2];
        const float* c = &cos_[static_cast<size_t>((pos0 + t) * half)];
        const float* s = &sin_[static_cast<size_t>((pos0 + t) * half)];
        for (int64_t i = 0; i < half; ++i) {
          float& x1 = row[i * pair_stride];
          float& x2 = row[i * pair_stride + partner];
          const float sn = sign * s[i], a = x1, b2 = x2;
          x1 = a * c[i] - b2 * sn;
          x2 = a * sn + b2 * c[i];
        }
      }
}

void RopePosition::forward_qk(const Tensor& q, const Tensor& k, int64_t q_pos0, int64_t k_pos0) {
  rotate(q, q_pos0, 1.f);
  rotate(k, k_pos0, 1.f);
}

void RopePosition::backward_qk(const Tensor& dq, const Tensor& dk, int64_t q_pos0, int64_t k_pos0, const Arena&) {
  rotate(dq, q_pos0, -1.f);
  rotate(dk, k_pos0, -1.f);
}

}  // namespace goat
