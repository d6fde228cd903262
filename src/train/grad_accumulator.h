// Gradient accumulation over micro-batches in a fixed association: g = ((g_0 + g_1) + g_2) + ...,
// where each micro-batch's gradient g_k is computed from zero, not added into the running sum by
// the backward pass. That is the association of the data-parallel all-reduce (rank-ordered sum of
// per-rank gradients), so one process with batch B/N × grad_accum N and N ranks with batch B/N
// each produce bitwise identical gradients (the 1/N averaging is a power-of-two scale when N is a
// power of two, exact in fp32). Costs one extra gradient-sized buffer and two passes over it per
// micro-batch after the first; with grad_accum = 1 it does nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "core/arena.h"

namespace goat {

class GradAccumulator {
 public:
  // Call before micro-batch k's backward: k = 0 zeroes the gradients; k > 0 moves the running sum
  // aside and zeroes the gradients so the backward computes g_k alone.
  void before_backward(const Arena& grads, int64_t micro);
  // Call after micro-batch k's backward: k > 0 adds the running sum back (sum + g_k).
  void after_backward(const Arena& grads, int64_t micro) { after_backward(grads, micro, 0, grads.numel()); }
  // The same for the elements [begin, end) only, once the backward has finished them (the
  // overlapped all-reduce adds bucket by bucket, train/overlapped_allreduce.h).
  void after_backward(const Arena& grads, int64_t micro, int64_t begin, int64_t end);

 private:
  std::vector<float> sum_;  // host gradients
  Arena device_sum_;        // device gradients (the model on cuda)
};

}  // namespace goat
