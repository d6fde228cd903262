// Fixed-association gradient accumulation; see grad_accumulator.h.
#include "train/grad_accumulator.h"

#include <algorithm>
#include <cstring>

namespace goat {

void GradAccumulator::before_backward(const Arena& grads, int64_t micro) {
  float* g = static_cast<float*>(grads.data());
  const auto n = static_cast<size_t>(grads.numel());
  if (micro > 0) {
    sum_.resize(n);
    std::copy_n(g, n, sum_.data());
  }
  std::memset(g, 0, n * sizeof(float));
}

void GradAccumulator::after_backward(const Arena& grads, int64_t micro) {
  if (micro == 0) return;
  float* g = static_cast<float*>(grads.data());
  const auto n = static_cast<size_t>(grads.numel());
#pragma omp parallel for simd schedule(static) if (n >= (1u << 16))
  for (size_t i = 0; i < n; ++i) g[i] = sum_[i] + g[i];
}

}  // namespace goat
