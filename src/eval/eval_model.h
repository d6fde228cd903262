// The model seen by the extrapolation suite: a batch of windows in, per-token losses and logits
// out. GptEvalModel wraps a trained Gpt (one forward-only Activations sized for the current (B, L):
// the residual stream x per layer, one shared slot for the other activations, no backward scratch,
// the (B, L, V) logits; attention runs in the tiled kernel, never a T×T tensor). Tests plug in
// exact oracles (e.g. a perfect induction copier) through the same interface, so the scoring
// logic of every mode is checked against a known answer independent of training.
//
//   run: inputs (B, L), targets (B, L) → losses (B, L) nats, logits (B, L, V)
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <vector>

#include "model/gpt.h"

namespace goat::eval {

class EvalModel {
 public:
  virtual ~EvalModel() = default;
  virtual int64_t vocab_size() const = 0;
  // Longest window the model is defined for (learned positions: its table), else "unbounded".
  virtual int64_t max_len() const { return std::numeric_limits<int64_t>::max(); }
  // Scores B windows of L tokens; the returned pointers stay valid until the next call.
  virtual void run(const int32_t* inputs, const int32_t* targets, int64_t B, int64_t L) = 0;
  virtual const float* losses() const = 0;  // (B, L)
  virtual const float* logits() const = 0;  // (B, L, V)
  // The underlying GPT when there is one (the sinks mode reads attention diagnostics from it).
  virtual Gpt* gpt() { return nullptr; }
  virtual const Activations* activations() const { return nullptr; }
};

class GptEvalModel final : public EvalModel {
 public:
  explicit GptEvalModel(Gpt& model) : model_(model) {}
  int64_t vocab_size() const override { return model_.config().vocab_size; }
  int64_t max_len() const override;
  void run(const int32_t* inputs, const int32_t* targets, int64_t B, int64_t L) override;
  const float* losses() const override { return acts_->get("losses").f32(); }
  const float* logits() const override { return acts_->get("logits").f32(); }
  Gpt* gpt() override { return &model_; }
  const Activations* activations() const override { return acts_.get(); }

 private:
  Gpt& model_;
  std::unique_ptr<Activations> acts_;  // resized when (B, L) changes: one at a time
};

// Runs n windows of L tokens through the model in batches of max(1, batch_tokens / L) (the last
// batch padded by repeating its last window). fill(i, inputs, targets) writes window i (L tokens
// each); consume(i, losses, logits) reads its (L) losses and (L, V) logits; done(L) after each batch.
using FillFn = std::function<void(int64_t, int32_t*, int32_t*)>;
using ConsumeFn = std::function<void(int64_t, const float*, const float*)>;
void run_windows(EvalModel& m, int64_t n, int64_t L, int64_t batch_tokens, const FillFn& fill, const ConsumeFn& consume,
                 const std::function<void(int64_t)>& done = {});

// Index of the largest of n logits (first on ties).
int32_t argmax(const float* logits, int64_t n);

}  // namespace goat::eval
