// Shared fixtures for the extrapolation tests: a tiny trained GPT, its validation stream, and an
// exact induction oracle (a "model" that copies: after the last m tokens it predicts the token
// that followed their most recent earlier occurrence) — the retrieval probes' known answer.
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "config/config.h"
#include "data/loader.h"
#include "eval/eval_model.h"
#include "train/trainer.h"

namespace goat::test {

inline Config tiny_config(const std::string& position, int64_t steps, std::vector<std::string> sets = {}) {
  const std::string json = R"({"model": {"vocab_size": 256, "n_layer": 1, "n_head": 2, "d_model": 16, "max_seq_len": 16},
    "train": {"steps": )" + std::to_string(steps) +
                           R"(, "batch_size": 4, "seq_len": 16, "lr": 3e-3, "warmup_steps": 2, "eval_every": 0,
              "eval_batches": 1, "log_every": 1000, "seed": 3},
    "data": {"source": "synthetic", "synthetic": {"task": "repeat", "train_tokens": 8192, "val_tokens": 8192}}})";
  sets.push_back("model.position.type=" + position);
  return parse_config(json, "test", sets);
}

// A GPT trained for `steps` steps (0: random init) with its config. GOAT's prior lanes need a
// wider head: pass {"model.n_head=1"}.
struct TinyRun {
  Config cfg;
  std::unique_ptr<Trainer> trainer;
  TinyRun(const std::string& position, int64_t steps, std::vector<std::string> sets = {})
      : cfg(tiny_config(position, std::max<int64_t>(1, steps), std::move(sets))) {
    trainer = std::make_unique<Trainer>(cfg, "", false);
    for (int64_t s = 0; s < steps; ++s) trainer->step(s);
  }
  Gpt& model() { return trainer->model(); }
};

// Exact induction copier over a vocabulary of V: logit 1 on the predicted token, 0 elsewhere
// (uniform when the context has no earlier occurrence of its last m tokens).
class InductionOracle final : public eval::EvalModel {
 public:
  InductionOracle(int64_t V, int64_t m) : V_(V), m_(m) {}
  int64_t vocab_size() const override { return V_; }
  void run(const int32_t* in, const int32_t* tg, int64_t B, int64_t L) override {
    logits_.assign(static_cast<size_t>(B * L * V_), 0.f);
    losses_.assign(static_cast<size_t>(B * L), 0.f);
    for (int64_t b = 0; b < B; ++b) {
      const int32_t* x = in + b * L;
      for (int64_t p = 0; p < L; ++p) {
        float* lg = logits_.data() + (b * L + p) * V_;
        for (int64_t j = p - 1; j >= m_ - 1 && p >= m_ - 1; --j) {
          bool match = true;
          for (int64_t k = 0; k < m_ && match; ++k) match = x[j - k] == x[p - k];
          if (match) {
            lg[x[j + 1]] = 1.f;
            break;
          }
        }
        double z = 0;
        for (int64_t v = 0; v < V_; ++v) z += std::exp(static_cast<double>(lg[v]));
        losses_[static_cast<size_t>(b * L + p)] = static_cast<float>(std::log(z) - lg[tg[b * L + p]]);
      }
    }
  }
  const float* losses() const override { return losses_.data(); }
  const float* logits() const override { return logits_.data(); }

 private:
  int64_t V_, m_;
  std::vector<float> logits_, losses_;
};

}  // namespace goat::test
