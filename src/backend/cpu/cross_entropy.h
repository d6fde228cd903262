// CPU fused softmax cross-entropy over (n, v) logits with an ignore index.
#pragma once

#include <cstdint>

namespace goat::cpu {

// losses[r] = logsumexp(logits[r]) − logits[r, target[r]], or 0 where target == ignore.
// Returns Σ losses over non-ignored rows (fp64) and writes their count to *counted.
double cross_entropy_forward(float* losses, const float* logits, const int32_t* targets, int64_t n, int64_t v,
                             int32_t ignore, int64_t* counted);

// d_logits[r] = scale·(softmax(logits[r]) − onehot(target[r])), zero rows where ignored.
// d_logits may alias logits.
void cross_entropy_backward(float* d_logits, const float* logits, const int32_t* targets, int64_t n, int64_t v,
                            float scale, int32_t ignore);

// Both at once with scale = d_mean / (#non-ignored rows): losses and d_logits as above, one exp per
// logit (stored in d_logits, then scaled). d_logits may alias logits. Returns the mean loss.
double cross_entropy_forward_backward(float* losses, float* d_logits, const float* logits, const int32_t* targets,
                                      int64_t n, int64_t v, float d_mean, int32_t ignore);

}  // namespace goat::cpu
