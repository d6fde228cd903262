// Helpers for the model tests: a tiny GPT config per position variant, weights drawn large enough
// that every parameter gets a gradient well above fp32 noise, and random token batches.
#pragma once

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/philox.h"
#include "model/gpt.h"

namespace goat::test {

inline ModelConfig tiny_config(const std::string& position, int64_t vocab = 16) {
  ModelConfig m;
  m.vocab_size = vocab;
  m.n_layer = 2;
  m.n_head = 2;
  m.d_model = 24;  // head dim 12: room for GOAT's prior lanes (2R + 1 = 5 with R = 2)
  m.max_seq_len = 16;
  m.position.type = position;
  m.position.pos_rank = 2;
  m.position.abs_rank = 2;
  return m;
}

// Replaces every parameter by init + N(0, sigma) noise (LayerNorm weights stay near 1).
inline void randomize(Gpt& g, uint64_t seed, float sigma = 0.2f) {
  g.init(seed);
  const Arena& p = g.params();
  for (size_t i = 0; i < p.entries().size(); ++i) {
    const Tensor t = p.view(static_cast<int>(i));
    const Rng rng(seed, RngPurpose::test, 100 + i);
    for (int64_t j = 0; j < t.numel(); ++j) t.f32()[j] += sigma * rng.normal(static_cast<uint64_t>(j));
  }
}

inline void random_tokens(std::vector<int32_t>& v, int64_t vocab, uint64_t seed) {
  const Rng rng(seed, RngPurpose::test, 7);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int32_t>(rng.u64(i) % static_cast<uint64_t>(vocab));
}

// The tiny config with head dim 32 (d_model 64, 2 heads, T ≤ 40): the CPU attention's AMX
// products under bf16 GEMMs.
inline ModelConfig tiny_config_hd32(const std::string& position) {
  ModelConfig cfg = tiny_config(position);
  cfg.d_model = 64, cfg.n_head = 2, cfg.max_seq_len = 40;
  return cfg;
}

// One forward + backward (B = 3, fixed weights and tokens) of tiny_config_hd32 under the thread's
// GEMM precision: the loss, every gradient, and the bf16 choices the Activations made.
struct TinyStep {
  double loss = 0;
  std::vector<float> grads;
  bool qkv_bf16 = false, atty_bf16_only = false;
};
inline TinyStep tiny_step_hd32(const std::string& position, int64_t T, Recompute recompute) {
  const ModelConfig cfg = tiny_config_hd32(position);
  Gpt g(cfg, T);
  randomize(g, 5);
  const int64_t B = 3;
  Activations a(cfg, B, T, Placement{}, ActivationPlan{recompute, true});
  random_tokens(a.inputs, cfg.vocab_size, 1);
  random_tokens(a.targets, cfg.vocab_size, 2);
  const Arena& gr = g.grads();
  std::memset(gr.data(), 0, static_cast<size_t>(gr.numel()) * sizeof(float));
  TinyStep r;
  r.loss = g.forward(a, true);
  g.backward(a, 1.f / static_cast<float>(B * T));
  r.qkv_bf16 = a.qkv_bf16, r.atty_bf16_only = a.atty_bf16_only;
  r.grads.assign(static_cast<float*>(gr.data()), static_cast<float*>(gr.data()) + gr.numel());
  return r;
}

inline std::string recompute_name(Recompute r) {
  return r == Recompute::none ? "none" : r == Recompute::attention ? "attention" : "block";
}

}  // namespace goat::test
