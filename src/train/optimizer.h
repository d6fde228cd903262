// AdamW over the model's arenas, the learning-rate schedule and global-norm clipping.
//
// Moments m, v are arenas with the parameter layout, or, when the optimizer owns only the element
// range [begin, end) of the flat parameter arena (a ZeRO-1 shard, train/data_parallel.h), one flat
// arena of end − begin elements. Element i's update is the same in both cases, so a sharded step
// equals the full one bitwise. Weight decay applies only to the entries
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
  // Owns the whole arena (end < 0) or its elements [begin, end).
  AdamW(const Arena& params, std::vector<bool> decay_mask, const TrainConfig& t, int64_t begin = 0, int64_t end = -1);

  // Global L2 norm of the gradients (fp64 accumulation).
  static double grad_norm(const Arena& grads);
  // One update at 0-based step `step` of the owned elements: clips to t.grad_clip (if > 0) using
  // `norm` (the global norm), then AdamW. bf16_weights (CUDA bf16 models, Gpt::bf16_weights()):
  // the working copy, rewritten from the updated weights in the same pass.
  void step(const Arena& params, const Arena& grads, int64_t step, double lr, double norm,
            const Arena* bf16_weights = nullptr);

  // Moments of the owned elements: the parameter layout (whole arena) or one flat entry (range).
  const Arena& m() const { return m_; }
  const Arena& v() const { return v_; }
  int64_t begin() const { return begin_; }
  int64_t end() const { return end_; }
  bool owns_all() const { return begin_ == 0 && end_ == numel_; }
  // Sets the owned moments from full parameter-layout arenas (a checkpoint on any world size; any
  // devices).
  void load_moments(const Arena& m_full, const Arena& v_full);

 private:
  Arena m_, v_;
  std::vector<bool> decay_;
  TrainConfig t_;
  int64_t begin_, end_, numel_;
};

// Elements [offset, offset + n) of an f32 arena as a 1-D view.
Tensor arena_range(const Arena& a, int64_t offset, int64_t n);

}  // namespace goat
