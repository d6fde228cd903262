// Scalar formulas shared by the CUDA kernels (device and emulated host builds) and usable from
// plain C++: one definition of GELU-tanh and of the AdamW element update, so the CUDA math is not
// a second copy of the CPU math (style.md). GOAT_HD marks them __host__ __device__ under nvcc.
#pragma once

#include <cmath>

#if defined(__CUDACC__)
#define GOAT_HD __host__ __device__ __forceinline__
#else
#define GOAT_HD inline
#endif

namespace goat::kmath {

constexpr float kGeluC = 0.7978845608028654f;  // √(2/π)
constexpr float kGeluA = 0.044715f;

// gelu(x) = 0.5x(1 + tanh(u)) = x·σ(2u), u = √(2/π)(x + 0.044715x³): one exp, as the CPU op.
GOAT_HD float gelu(float x) {
  const float u = kGeluC * (x + kGeluA * x * x * x);
  return x / (1.f + expf(-2.f * u));
}

// gelu'(x) = σ(2u) + x·2σ(2u)(1 − σ(2u))·u'(x), u' = √(2/π)(1 + 3·0.044715x²).
GOAT_HD float gelu_grad(float x) {
  const float u = kGeluC * (x + kGeluA * x * x * x);
  const float s = 1.f / (1.f + expf(-2.f * u));
  return s + 2.f * x * s * (1.f - s) * kGeluC * (1.f + 3.f * kGeluA * x * x);
}

// One AdamW element (the CPU op's order of operations): g = grad·gs; m, v updated;
// p −= lr·((m·inv_c1)/(√(v·inv_c2) + eps) + wd·p). inv_c1 = 1/(1 − β1^t), inv_c2 = 1/(1 − β2^t).
GOAT_HD void adamw_element(float& p, float grad, float& m, float& v, float lr, float beta1, float beta2, float eps,
                           float wd, float gs, float inv_c1, float inv_c2) {
  const float g = grad * gs;
  m = beta1 * m + (1.f - beta1) * g;
  v = beta2 * v + (1.f - beta2) * g * g;
  p -= lr * ((m * inv_c1) / (sqrtf(v * inv_c2) + eps) + wd * p);
}

}  // namespace goat::kmath
