// CPU AdamW step over contiguous fp32 spans (parameters, gradients, first and second moments).
#pragma once

#include <cstdint>

namespace goat::cpu {

struct AdamWStep {
  float lr, beta1, beta2, eps, weight_decay, grad_scale;
  float bias_c1, bias_c2;  // 1 − β1^t and 1 − β2^t for the 1-based step t
};

// g = grad·grad_scale; m = β1 m + (1−β1) g; v = β2 v + (1−β2) g²;
// p −= lr·( (m / c1) / (sqrt(v / c2) + eps) + weight_decay·p ).
void adamw_update(float* p, const float* grad, float* m, float* v, int64_t n, const AdamWStep& s);

}  // namespace goat::cpu
