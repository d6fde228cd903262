// AdamW over the model's arenas, the learning-rate schedule and global-norm clipping.
//
// Moments m, v are arenas with the parameter layout. Weight decay applies only to the entries
// the model marks (matrices and embeddings), never to biases, LayerNorm or position/prior
// parameters. The schedule is a linear warmup to lr over warmup_steps, then a cosine decay to
// min_lr at the last step.
#pragma once

#include <cstdint>
#include <vector>

#include "config/config.h"
#include "core/arena.h"

namespace goat {

// Learning rate for optimizer step `step` (0-based) of `total`.
double lr_at(const TrainConfig& t, int64_t step);

class AdamW {
 public:
  AdamW(const Arena& params, std::vector<bool> decay_mask, const TrainConfig& t);

  // Global L2 norm of the gradients (fp64 accumulation).
  static double grad_norm(const Arena& grads);
  // One update at 0-based step `step`: clips to t.grad_clip (if > 0) using `norm`, then AdamW.
  // bf16_weights (CUDA bf16 models, Gpt::bf16_weights()): the working copy refreshed in the same pass.
  void step(const Arena& params, const Arena& grads, int64_t step, double lr, double norm,
            const Arena* bf16_weights = nullptr);

  const Arena& m() const { return m_; }
  const Arena& v() const { return v_; }

 private:
  Arena m_, v_;
  std::vector<bool> decay_;
  TrainConfig t_;
};

}  // namespace goat
