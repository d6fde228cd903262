// CUDA backend entry points for AdamW and the sum of squares (kernels/optim.cuh). The fp64
// per-block partials of sum_squares are added on the host in block order: deterministic.
#include <vector>

#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_runtime_util.h"
#include "optim.cuh"

namespace goat::cuda {

void adamw_update(float* p, const float* grad, float* m, float* v, bf16* p_bf16, int64_t n, const AdamWStep& s) {
  const kernels::AdamWArgs a{p,           grad,    m,       v,     reinterpret_cast<__nv_bfloat16*>(p_bf16),
                             n,           s.lr,    s.beta1, s.beta2, s.eps, s.weight_decay, s.grad_scale,
                             1.f / s.bias_c1, 1.f / s.bias_c2};
  check(kernels::launch_adamw(a, stream()), "adamw", "kernel");
}

double sum_squares(const float* x, int64_t n) {
  if (n == 0) return 0.0;
  double* partials = static_cast<double*>(alloc(kernels::kSumSquaresBlocks * sizeof(double)));
  check(kernels::launch_sum_squares(kernels::SumSquaresArgs{x, partials, n}, stream()), "sum_squares", "kernel");
  std::vector<double> h(kernels::kSumSquaresBlocks);
  copy_to_host(h.data(), partials, h.size() * sizeof(double));
  free(partials);
  double s = 0.0;
  for (double d : h) s += d;
  return s;
}

}  // namespace goat::cuda
