// CPU AdamW step over contiguous fp32 spans (parameters, gradients, first and second moments),
// one span or several runs of them (a model's parameter arena: one run per tensor) in one pass.
#pragma once

#include <cstdint>

namespace goat::cpu {

struct AdamWStep {
  float lr, beta1, beta2, eps, weight_decay, grad_scale;
  float bias_c1, bias_c2;  // 1 − β1^t and 1 − β2^t for the 1-based step t
};

// Elements [offset, offset + n) of the four spans, with their own weight decay.
struct AdamWRun {
  int64_t offset = 0, n = 0;
  float weight_decay = 0;
};
// On each run, with the run's weight decay (s.weight_decay unused): g = grad·grad_scale;
// m = β1 m + (1−β1) g; v = β2 v + (1−β2) g²; p −= lr·( (m / c1) / (sqrt(v / c2) + eps) + weight_decay·p ).
// All runs in one parallel region over fixed chunks of each run (bitwise one call per run, for any
// thread count). Runs must not overlap.
void adamw_update_runs(float* p, const float* grad, float* m, float* v, const AdamWRun* runs, int64_t nruns,
                       const AdamWStep& s);

}  // namespace goat::cpu
