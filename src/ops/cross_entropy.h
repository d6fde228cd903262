// Fused softmax cross-entropy over the vocabulary (numerically stable, max-subtracted), with an
// ignore index. Forward returns per-row losses; backward writes d_logits in place of nothing else.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace goat::ops {

constexpr int32_t kIgnoreIndex = -1;

// losses (N) = logsumexp(logits[n]) − logits[n, target[n]]  (0 where target == ignore_index).
// Returns the mean over non-ignored rows (0 if none).
double cross_entropy_forward(const Tensor& losses, const Tensor& logits, const int32_t* targets,
                             int32_t ignore_index = kIgnoreIndex);

// d_logits (N, V) = scale · (softmax(logits) − onehot(target)) (0 rows where ignored).
// d_logits may alias logits (the usual in-place use). scale is typically 1 / (#non-ignored rows).
void cross_entropy_backward(const Tensor& d_logits, const Tensor& logits, const int32_t* targets, float scale,
                            int32_t ignore_index = kIgnoreIndex);

// Both in one pass over the logits (the training step's usual call; 3 passes over (N, V) and one
// exp per logit instead of 5 and two): losses as cross_entropy_forward, and
// d_logits = (d_mean / #non-ignored rows) · (softmax − onehot), the gradient of d_mean · mean loss.
// d_logits may alias logits. Returns the mean loss.
double cross_entropy_forward_backward(const Tensor& losses, const Tensor& d_logits, const Tensor& logits,
                                      const int32_t* targets, float d_mean = 1.f, int32_t ignore_index = kIgnoreIndex);

}  // namespace goat::ops
