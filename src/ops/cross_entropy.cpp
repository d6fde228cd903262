// cross_entropy: checks logits (..., V) contiguous f32 and every target in [0, V) or the ignore
// index, then dispatches to backend/cpu/cross_entropy.h. losses has one value per row.
#include "ops/cross_entropy.h"

#include "backend/cpu/cross_entropy.h"
#include "ops/op_args.h"

namespace goat::ops {

namespace {

constexpr const char* kOp = "cross_entropy";

struct Rows {
  int64_t n, v;
};

Rows check_ce(const Tensor& logits, const int32_t* targets, int32_t ignore_index) {
  require_contiguous_f32(kOp, "logits", logits);
  GOAT_CHECK(logits.ndim() >= 1 && logits.size(-1) > 0, kOp, "expected logits to be (..., V), got {}",
             logits.shape.str());
  const Rows r{logits.numel() / logits.size(-1), logits.size(-1)};
  GOAT_CHECK(targets != nullptr || r.n == 0, kOp, "targets is null");
  for (int64_t i = 0; i < r.n; ++i)
    GOAT_CHECK(targets[i] == ignore_index || (targets[i] >= 0 && targets[i] < r.v), kOp,
               "target {} at row {} out of range [0, {}) and not the ignore index {}", targets[i], i, r.v,
               ignore_index);
  return r;
}

}  // namespace

double cross_entropy_forward(const Tensor& losses, const Tensor& logits, const int32_t* targets, int32_t ignore_index) {
  require_cpu(kOp, {&losses, &logits});
  const Rows r = check_ce(logits, targets, ignore_index);
  require_contiguous_f32(kOp, "losses", losses);
  GOAT_CHECK(losses.numel() == r.n, kOp, "expected losses to hold {} rows, got {}", r.n, losses.shape.str());
  int64_t counted = 0;
  const double total =
      cpu::cross_entropy_forward(losses.f32(), logits.f32(), targets, r.n, r.v, ignore_index, &counted);
  return counted ? total / static_cast<double>(counted) : 0.0;
}

void cross_entropy_backward(const Tensor& d_logits, const Tensor& logits, const int32_t* targets, float scale,
                            int32_t ignore_index) {
  require_cpu(kOp, {&d_logits, &logits});
  const Rows r = check_ce(logits, targets, ignore_index);
  require_contiguous_f32(kOp, "d_logits", d_logits);
  check_shape(kOp, "d_logits", d_logits, logits.shape);
  cpu::cross_entropy_backward(d_logits.f32(), logits.f32(), targets, r.n, r.v, scale, ignore_index);
}

double cross_entropy_forward_backward(const Tensor& losses, const Tensor& d_logits, const Tensor& logits,
                                      const int32_t* targets, float d_mean, int32_t ignore_index) {
  require_cpu(kOp, {&losses, &d_logits, &logits});
  const Rows r = check_ce(logits, targets, ignore_index);
  require_contiguous_f32(kOp, "losses", losses);
  GOAT_CHECK(losses.numel() == r.n, kOp, "expected losses to hold {} rows, got {}", r.n, losses.shape.str());
  require_contiguous_f32(kOp, "d_logits", d_logits);
  check_shape(kOp, "d_logits", d_logits, logits.shape);
  return cpu::cross_entropy_forward_backward(losses.f32(), d_logits.f32(), logits.f32(), targets, r.n, r.v, d_mean,
                                             ignore_index);
}

}  // namespace goat::ops
