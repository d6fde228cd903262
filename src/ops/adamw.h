// AdamW (Loshchilov & Hutter) with decoupled weight decay and bias correction, one pass over a
// span of parameters and their gradient/moment spans.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/cpu/adamw.h"
#include "core/tensor.h"

namespace goat::ops {

struct AdamWParams {
  float lr = 3e-4f, beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f, weight_decay = 0.f;
  int64_t step = 1;      // 1-based, for bias correction
  float grad_scale = 1;  // gradients are multiplied by this first (clipping, averaging)
};

// p -= lr · ( m̂ / (sqrt(v̂) + eps) + weight_decay · p ), with m, v updated from g·grad_scale.
// All four tensors: same shape, f32, contiguous. param_bf16 (CUDA only, optional): a bf16 working
// copy of the same shape that receives the updated weights in the same pass.
void adamw_update(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, const AdamWParams& hp,
                  const Tensor& param_bf16 = Tensor());

// Elements [offset, offset + n) of the flat tensors, updated with weight decay `weight_decay`.
using AdamWRun = cpu::AdamWRun;
// adamw_update on each run (hp.weight_decay unused; elements outside the runs untouched) in one
// pass: bitwise the same as one call per run. Runs in increasing order, not overlapping.
void adamw_update_runs(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                       const AdamWParams& hp, const std::vector<AdamWRun>& runs, const Tensor& param_bf16 = Tensor());

// Σ g² over a span (fp64 accumulation in fixed chunks: same value for any thread count), for
// global-norm clipping.
double sum_squares(const Tensor& t);

}  // namespace goat::ops
