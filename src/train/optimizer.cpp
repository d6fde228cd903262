// AdamW, schedule and clipping.
#include "train/optimizer.h"

#include <cmath>
#include <numbers>

#include "ops/adamw.h"

namespace goat {

double lr_at(const TrainConfig& t, int64_t step) {
  if (step < t.warmup_steps) return t.lr * static_cast<double>(step + 1) / static_cast<double>(t.warmup_steps);
  const int64_t decay_steps = t.steps - t.warmup_steps;
  if (decay_steps <= 1) return t.lr;
  const double progress = std::min(1.0, static_cast<double>(step - t.warmup_steps) / static_cast<double>(decay_steps - 1));
  return t.min_lr + 0.5 * (t.lr - t.min_lr) * (1.0 + std::cos(std::numbers::pi * progress));
}

AdamW::AdamW(const Arena& params, std::vector<bool> decay_mask, const TrainConfig& t)
    : m_(params.clone_layout()), v_(params.clone_layout()), decay_(std::move(decay_mask)), t_(t) {
  GOAT_CHECK(decay_.size() == params.entries().size(), "adamw", "decay mask has {} entries for {} parameters",
             decay_.size(), params.entries().size());
}

double AdamW::grad_norm(const Arena& grads) { return std::sqrt(ops::sum_squares(grads.flat())); }

void AdamW::step(const Arena& params, const Arena& grads, int64_t step, double lr, double norm,
                 const Arena* bf16_weights) {
  ops::AdamWParams hp;
  hp.lr = static_cast<float>(lr);
  hp.beta1 = static_cast<float>(t_.beta1);
  hp.beta2 = static_cast<float>(t_.beta2);
  hp.eps = static_cast<float>(t_.eps);
  hp.step = step + 1;
  hp.grad_scale = (t_.grad_clip > 0 && norm > t_.grad_clip) ? static_cast<float>(t_.grad_clip / norm) : 1.f;
  for (size_t i = 0; i < decay_.size(); ++i) {
    const int idx = static_cast<int>(i);
    hp.weight_decay = decay_[i] ? static_cast<float>(t_.weight_decay) : 0.f;
    ops::adamw_update(params.view(idx), grads.view(idx), m_.view(idx), v_.view(idx), hp,
                      bf16_weights ? bf16_weights->view(idx) : Tensor());
  }
}

}  // namespace goat
