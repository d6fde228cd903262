// cross_entropy: checks logits (..., V) contiguous f32 and every target in [0, V) or the ignore
// index, then dispatches to backend/cpu/cross_entropy.h. losses has one value per row (f32).
// CUDA: logits/d_logits f32 or bf16; targets live on the device and the kernel range-checks them.
#include "ops/cross_entropy.h"

#include "backend/cpu/cross_entropy.h"
#include "backend/cuda/cuda_ops.h"
#include "core/op_profile.h"
#include "ops/op_args.h"

namespace goat::ops {

namespace {

constexpr const char* kOp = "cross_entropy";

struct Rows {
  int64_t n, v;
};

Rows check_ce(const Tensor& logits, const int32_t* targets, int32_t ignore_index, bool cuda) {
  require_contiguous(kOp, "logits", logits, act_dtype(logits, cuda));
  GOAT_CHECK(logits.ndim() >= 1 && logits.size(-1) > 0, kOp, "expected logits to be (..., V), got {}",
             logits.shape.str());
  const Rows r{logits.numel() / logits.size(-1), logits.size(-1)};
  GOAT_CHECK(targets != nullptr || r.n == 0, kOp, "targets is null");
  for (int64_t i = 0; !cuda && i < r.n; ++i)
    GOAT_CHECK(targets[i] == ignore_index || (targets[i] >= 0 && targets[i] < r.v), kOp,
               "target {} at row {} out of range [0, {}) and not the ignore index {}", targets[i], i, r.v,
               ignore_index);
  return r;
}

}  // namespace

double cross_entropy_forward(const Tensor& losses, const Tensor& logits, const int32_t* targets, int32_t ignore_index) {
  const OpTimer timer("cross_entropy.forward");
  const bool cuda = on_cuda(kOp, {&losses, &logits});
  const Rows r = check_ce(logits, targets, ignore_index, cuda);
  require_contiguous_f32(kOp, "losses", losses);
  GOAT_CHECK(losses.numel() == r.n, kOp, "expected losses to hold {} rows, got {}", r.n, losses.shape.str());
  if (cuda)
    return cuda::cross_entropy(losses.f32(), nullptr, logits.data, targets, r.n, r.v, 0.f, ignore_index, logits.dtype);
  int64_t counted = 0;
  const double total =
      cpu::cross_entropy_forward(losses.f32(), logits.f32(), targets, r.n, r.v, ignore_index, &counted);
  return counted ? total / static_cast<double>(counted) : 0.0;
}

void cross_entropy_backward(const Tensor& d_logits, const Tensor& logits, const int32_t* targets, float scale,
                            int32_t ignore_index) {
  const OpTimer timer("cross_entropy.backward");
  const bool cuda = on_cuda(kOp, {&d_logits, &logits});
  const Rows r = check_ce(logits, targets, ignore_index, cuda);
  require_contiguous(kOp, "d_logits", d_logits, act_dtype(logits, cuda));
  check_shape(kOp, "d_logits", d_logits, logits.shape);
  if (cuda) {
    cuda::cross_entropy(nullptr, d_logits.data, logits.data, targets, r.n, r.v, scale, ignore_index, logits.dtype);
    return;
  }
  cpu::cross_entropy_backward(d_logits.f32(), logits.f32(), targets, r.n, r.v, scale, ignore_index);
}

double cross_entropy_forward_backward(const Tensor& losses, const Tensor& d_logits, const Tensor& logits,
                                      const int32_t* targets, float d_mean, int32_t ignore_index) {
  const OpTimer timer("cross_entropy.forward_backward");
  const bool cuda = on_cuda(kOp, {&losses, &d_logits, &logits});
  const Rows r = check_ce(logits, targets, ignore_index, cuda);
  require_contiguous_f32(kOp, "losses", losses);
  GOAT_CHECK(losses.numel() == r.n, kOp, "expected losses to hold {} rows, got {}", r.n, losses.shape.str());
  require_contiguous(kOp, "d_logits", d_logits, act_dtype(logits, cuda));
  check_shape(kOp, "d_logits", d_logits, logits.shape);
  if (cuda) {
    const int64_t kept = cuda::count_targets(targets, r.n, ignore_index);
    const float scale = kept ? d_mean / static_cast<float>(kept) : 0.f;
    return cuda::cross_entropy(losses.f32(), d_logits.data, logits.data, targets, r.n, r.v, scale, ignore_index,
                               logits.dtype);
  }
  return cpu::cross_entropy_forward_backward(losses.f32(), d_logits.f32(), logits.f32(), targets, r.n, r.v, d_mean,
                                             ignore_index);
}

}  // namespace goat::ops
