// Helpers for the model tests: a tiny GPT config per position variant, weights drawn large enough
// that every parameter gets a gradient well above fp32 noise, and random token batches.
#pragma once

#include <cmath>
#include <string>

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

}  // namespace goat::test
