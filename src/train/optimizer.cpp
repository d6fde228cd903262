// AdamW, schedule and clipping.
#include "train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <tuple>

#include "ops/adamw.h"

namespace goat {

double lr_at(const TrainConfig& t, int64_t step) {
  if (step < t.warmup_steps) return t.lr * static_cast<double>(step + 1) / static_cast<double>(t.warmup_steps);
  const int64_t decay_steps = t.steps - t.warmup_steps;
  if (decay_steps <= 1) return t.lr;
  const double progress = std::min(1.0, static_cast<double>(step - t.warmup_steps) / static_cast<double>(decay_steps - 1));
  return t.min_lr + 0.5 * (t.lr - t.min_lr) * (1.0 + std::cos(std::numbers::pi * progress));
}

Tensor arena_range(const Arena& a, int64_t offset, int64_t n) {
  GOAT_CHECK(offset >= 0 && n >= 0 && offset + n <= a.numel(), "arena", "range [{}, {}) outside an arena of {}", offset,
             offset + n, a.numel());
  const Tensor flat = a.flat();
  return Tensor(flat.f32() + offset, Shape{n}, DType::f32, flat.device);
}

namespace {

Arena flat_arena(int64_t n, Device device) {
  Arena a(DType::f32, device);
  a.add("shard", Shape{n});
  a.allocate();
  return a;
}

}  // namespace

AdamW::AdamW(const Arena& params, std::vector<bool> decay_mask, const TrainConfig& t, int64_t begin, int64_t end)
    : decay_(std::move(decay_mask)), t_(t), begin_(begin), end_(end < 0 ? params.numel() : end), numel_(params.numel()) {
  GOAT_CHECK(decay_.size() == params.entries().size(), "adamw", "decay mask has {} entries for {} parameters",
             decay_.size(), params.entries().size());
  GOAT_CHECK(begin_ >= 0 && begin_ <= end_ && end_ <= params.numel(), "adamw",
             "owned range [{}, {}) outside the {} parameters", begin_, end_, params.numel());
  m_ = owns_all() ? params.clone_layout() : flat_arena(end_ - begin_, params.device());
  v_ = owns_all() ? params.clone_layout() : flat_arena(end_ - begin_, params.device());
}

void AdamW::load_moments(const Arena& m_full, const Arena& v_full) {
  for (const auto& [full, own, name] : {std::tuple{&m_full, &m_, "m"}, std::tuple{&v_full, &v_, "v"}}) {
    GOAT_CHECK(full->numel() == numel_, "adamw", "moment arena {} has {} elements, the parameters {}", name,
               full->numel(), numel_);
    copy_bytes(own->data(), own->device(), static_cast<const float*>(full->data()) + begin_, full->device(),
               static_cast<size_t>(end_ - begin_) * sizeof(float));
  }
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
  // One pass over the owned range: a run per parameter tensor (its weight decay), the arena's
  // alignment padding between tensors left alone.
  const auto& entries = params.entries();
  std::vector<ops::AdamWRun> runs;
  runs.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const int64_t lo = std::max(begin_, entries[i].offset);
    const int64_t hi = std::min(end_, entries[i].offset + entries[i].shape.numel());
    if (lo < hi) runs.push_back({lo - begin_, hi - lo, decay_[i] ? static_cast<float>(t_.weight_decay) : 0.f});
  }
  if (runs.empty()) return;
  const int64_t n = end_ - begin_;
  Tensor work;  // the same elements of the bf16 working copy
  if (bf16_weights) work = Tensor(bf16_weights->flat().bf() + begin_, Shape{n}, DType::bf16, bf16_weights->device());
  ops::adamw_update_runs(arena_range(params, begin_, n), arena_range(grads, begin_, n), arena_range(m_, 0, n),
                         arena_range(v_, 0, n), hp, runs, work);
}

}  // namespace goat
