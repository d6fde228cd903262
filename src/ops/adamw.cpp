// adamw: checks the four spans (same shape, contiguous f32, one device) and the hyper-parameters,
// then runs backend/cpu/adamw.h or the CUDA kernel with the bias corrections computed in fp64.
#include "ops/adamw.h"

#include <cmath>

#include "backend/cpu/adamw.h"
#include "backend/cpu/reduce.h"
#include "backend/cuda/cuda_ops.h"
#include "core/op_profile.h"
#include "ops/op_args.h"

namespace goat::ops {

void adamw_update(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, const AdamWParams& hp) {
  const OpTimer timer("adamw");
  constexpr const char* kOp = "adamw";
  const bool cuda = on_cuda(kOp, {&param, &grad, &m, &v});
  require_contiguous_f32(kOp, "param", param);
  for (const auto& [t, name] : {std::pair{&grad, "grad"}, std::pair{&m, "m"}, std::pair{&v, "v"}}) {
    require_contiguous_f32(kOp, name, *t);
    check_shape(kOp, name, *t, param.shape);
  }
  GOAT_CHECK(hp.step >= 1, kOp, "step must be >= 1 (1-based for bias correction), got {}", hp.step);
  GOAT_CHECK(hp.beta1 >= 0 && hp.beta1 < 1 && hp.beta2 >= 0 && hp.beta2 < 1, kOp,
             "betas must lie in [0, 1), got ({}, {})", hp.beta1, hp.beta2);
  const double t = static_cast<double>(hp.step);
  const cpu::AdamWStep s{hp.lr,
                         hp.beta1,
                         hp.beta2,
                         hp.eps,
                         hp.weight_decay,
                         hp.grad_scale,
                         static_cast<float>(1.0 - std::pow(static_cast<double>(hp.beta1), t)),
                         static_cast<float>(1.0 - std::pow(static_cast<double>(hp.beta2), t))};
  if (cuda)
    return cuda::adamw_update(param.f32(), grad.f32(), m.f32(), v.f32(), nullptr, param.numel(),
                              cuda::AdamWStep{s.lr, s.beta1, s.beta2, s.eps, s.weight_decay, s.grad_scale, s.bias_c1,
                                              s.bias_c2});
  cpu::adamw_update(param.f32(), grad.f32(), m.f32(), v.f32(), param.numel(), s);
}

double sum_squares(const Tensor& t) {
  const OpTimer timer("sum_squares");
  const bool cuda = on_cuda("sum_squares", {&t});
  require_contiguous_f32("sum_squares", "t", t);
  if (cuda) return cuda::sum_squares(t.f32(), t.numel());
  return cpu::sum_squares(t.f32(), t.numel());
}

}  // namespace goat::ops
