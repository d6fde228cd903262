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

void adamw_update(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, const AdamWParams& hp,
                  const Tensor& param_bf16) {
  adamw_update_runs(param, grad, m, v, hp, {AdamWRun{0, param.numel(), hp.weight_decay}}, param_bf16);
}

void adamw_update_runs(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                       const AdamWParams& hp, const std::vector<AdamWRun>& runs, const Tensor& param_bf16) {
  const OpTimer timer("adamw");
  constexpr const char* kOp = "adamw";
  const bool cuda = on_cuda(kOp, {&param, &grad, &m, &v, &param_bf16});
  if (present(param_bf16)) {
    GOAT_CHECK(cuda, kOp, "a bf16 working copy is a CUDA feature (the CPU model runs in fp32)");
    require_contiguous(kOp, "param_bf16", param_bf16, DType::bf16);
    check_shape(kOp, "param_bf16", param_bf16, param.shape);
  }
  require_contiguous_f32(kOp, "param", param);
  for (const auto& [t, name] : {std::pair{&grad, "grad"}, std::pair{&m, "m"}, std::pair{&v, "v"}}) {
    require_contiguous_f32(kOp, name, *t);
    check_shape(kOp, name, *t, param.shape);
  }
  GOAT_CHECK(hp.step >= 1, kOp, "step must be >= 1 (1-based for bias correction), got {}", hp.step);
  GOAT_CHECK(hp.beta1 >= 0 && hp.beta1 < 1 && hp.beta2 >= 0 && hp.beta2 < 1, kOp,
             "betas must lie in [0, 1), got ({}, {})", hp.beta1, hp.beta2);
  int64_t next = 0;  // runs in order, inside the tensors, not overlapping (the passes run them in parallel)
  for (size_t i = 0; i < runs.size(); ++i) {
    GOAT_CHECK(runs[i].offset >= next && runs[i].n >= 0 && runs[i].offset + runs[i].n <= param.numel(), kOp,
               "run {} [{}, {}) overlaps the previous run (ending at {}) or leaves the {} elements", i, runs[i].offset,
               runs[i].offset + runs[i].n, next, param.numel());
    next = runs[i].offset + runs[i].n;
  }
  const double t = static_cast<double>(hp.step);
  const cpu::AdamWStep s{hp.lr,
                         hp.beta1,
                         hp.beta2,
                         hp.eps,
                         hp.weight_decay,
                         hp.grad_scale,
                         static_cast<float>(1.0 - std::pow(static_cast<double>(hp.beta1), t)),
                         static_cast<float>(1.0 - std::pow(static_cast<double>(hp.beta2), t))};
  if (cuda) {
    for (const AdamWRun& r : runs)
      cuda::adamw_update(param.f32() + r.offset, grad.f32() + r.offset, m.f32() + r.offset, v.f32() + r.offset,
                         present(param_bf16) ? param_bf16.bf() + r.offset : nullptr, r.n,
                         cuda::AdamWStep{s.lr, s.beta1, s.beta2, s.eps, r.weight_decay, s.grad_scale, s.bias_c1,
                                         s.bias_c2});
    return;
  }
  cpu::adamw_update_runs(param.f32(), grad.f32(), m.f32(), v.f32(), runs.data(), static_cast<int64_t>(runs.size()), s);
}

double sum_squares(const Tensor& t) {
  const OpTimer timer("sum_squares");
  const bool cuda = on_cuda("sum_squares", {&t});
  require_contiguous_f32("sum_squares", "t", t);
  if (cuda) return cuda::sum_squares(t.f32(), t.numel());
  return cpu::sum_squares(t.f32(), t.numel());
}

}  // namespace goat::ops
