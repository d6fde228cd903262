// Fixed-association gradient accumulation; see grad_accumulator.h.
#include "train/grad_accumulator.h"

#include <algorithm>

#include "core/check.h"
#include "ops/elementwise.h"
#include "train/optimizer.h"

namespace goat {

void GradAccumulator::before_backward(const Arena& grads, int64_t micro) {
  if (grads.device() == Device::cuda) {  // the same association with a device-side running sum
    if (micro > 0) {
      if (!device_sum_.allocated()) device_sum_ = grads.clone_layout();
      device_sum_.copy_from(grads);
    }
    grads.zero();
    return;
  }
  float* g = static_cast<float*>(grads.data());
  const auto n = static_cast<size_t>(grads.numel());
  if (micro > 0) {
    sum_.resize(n);
    std::copy_n(g, n, sum_.data());
  }
  ops::fill_zero(grads.flat());
}

void GradAccumulator::after_backward(const Arena& grads, int64_t micro, int64_t begin, int64_t end) {
  if (micro == 0 || begin >= end) return;
  GOAT_CHECK(begin >= 0 && end <= grads.numel(), "grad_accumulator", "range [{}, {}) outside {} gradients", begin,
             end, grads.numel());
  if (grads.device() == Device::cuda) {
    const Tensor g = arena_range(grads, begin, end - begin);
    return ops::add_forward(g, arena_range(device_sum_, begin, end - begin), g);
  }
  float* g = static_cast<float*>(grads.data());
#pragma omp parallel for simd schedule(static) if (end - begin >= (1 << 16))
  for (int64_t i = begin; i < end; ++i) g[i] = sum_[static_cast<size_t>(i)] + g[i];
}

}  // namespace goat
