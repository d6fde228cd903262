// RoPE rotation over strided (B, H, T, D) views (ops/position.h); the table is computed in fp64
// then rounded, and mirrored on the device for a model on CUDA.
#include "model/position_rope.h"

#include <cmath>

#include "ops/position.h"

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
  ensure_table(pos0 + x.size(2));
  const Shape table{n_pos_, head_dim_ / 2};
  if (x.device == Device::cpu)
    return ops::rope_rotate(x, Tensor(cos_.data(), table), Tensor(sin_.data(), table), pos0, sign, interleaved_);
  if (dev_pos_ != n_pos_) {
    cos_dev_.upload(cos_.data(), cos_.size() * sizeof(float));
    sin_dev_.upload(sin_.data(), sin_.size() * sizeof(float));
    dev_pos_ = n_pos_;
  }
  ops::rope_rotate(x, Tensor(cos_dev_.data(), table, DType::f32, Device::cuda),
                   Tensor(sin_dev_.data(), table, DType::f32, Device::cuda), pos0, sign, interleaved_);
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
