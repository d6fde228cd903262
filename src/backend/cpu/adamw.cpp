// AdamW in one streaming pass: each element is read and written once, parallel over fixed
// chunks above kParallelMin elements. Bias corrections are precomputed in fp64 by the caller.
// Compiled with -fno-math-errno (src/CMakeLists.txt) so GCC vectorises the loop, sqrt included:
// scalar, it was ~5% of a d256 training step.
#include "backend/cpu/adamw.h"

#include <algorithm>
#include <cmath>

#include "backend/cpu/vec_math.h"

namespace goat::cpu {

namespace {

void adamw_chunk(float* p, const float* grad, float* m, float* v, int64_t n, const AdamWStep& s) {
  const float b1 = s.beta1, b2 = s.beta2, ib1 = 1.f - s.beta1, ib2 = 1.f - s.beta2;
  const float inv_c1 = 1.f / s.bias_c1, inv_c2 = 1.f / s.bias_c2;
  const float lr = s.lr, eps = s.eps, wd = s.weight_decay, gs = s.grad_scale;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i] * gs;
    const float mi = b1 * m[i] + ib1 * g;
    const float vi = b2 * v[i] + ib2 * g * g;
    m[i] = mi;
    v[i] = vi;
    p[i] -= lr * ((mi * inv_c1) / (std::sqrt(vi * inv_c2) + eps) + wd * p[i]);
  }
}

}  // namespace

void adamw_update(float* p, const float* grad, float* m, float* v, int64_t n, const AdamWStep& s) {
  constexpr int64_t kChunk = 1 << 13;
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t ch = 0; ch < nchunks; ++ch) {
    const int64_t i0 = ch * kChunk, len = std::min(n, i0 + kChunk) - i0;
    adamw_chunk(p + i0, grad + i0, m + i0, v + i0, len, s);
  }
}

}  // namespace goat::cpu
