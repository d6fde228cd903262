// AdamW in one streaming pass: each element is read and written once, SIMD inside, parallel
// above kParallelMin elements. Bias corrections are precomputed in fp64 by the caller.
#include "backend/cpu/adamw.h"

#include <cmath>

#include "backend/cpu/vec_math.h"

namespace goat::cpu {

void adamw_update(float* p, const float* grad, float* m, float* v, int64_t n, const AdamWStep& s) {
  const float b1 = s.beta1, b2 = s.beta2, ib1 = 1.f - s.beta1, ib2 = 1.f - s.beta2;
  const float inv_c1 = 1.f / s.bias_c1, inv_c2 = 1.f / s.bias_c2;
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i] * s.grad_scale;
    const float mi = b1 * m[i] + ib1 * g;
    const float vi = b2 * v[i] + ib2 * g * g;
    m[i] = mi;
    v[i] = vi;
    p[i] -= s.lr * ((mi * inv_c1) / (std::sqrt(vi * inv_c2) + s.eps) + s.weight_decay * p[i]);
  }
}

}  // namespace goat::cpu
