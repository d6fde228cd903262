// KV-cached decoding equals recomputing the whole sequence: for each position variant, greedy
// decoding with the cache (a multi-token prompt chunk, then single tokens, then a 3-token chunk)
// gives the logits of a full forward pass over the same prefix, within fp32 rounding.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "tiny_model.h"

using namespace goat;

namespace {

class Decode : public ::testing::TestWithParam<std::string> {};

std::vector<float> full_logits(Gpt& g, const std::vector<int32_t>& seq) {
  const int64_t T = static_cast<int64_t>(seq.size()), V = g.config().vocab_size;
  Activations a(g.config(), 1, T);
  a.inputs = seq;
  g.forward(a, false);
  const float* l = a.get("logits").f32() + (T - 1) * V;
  return {l, l + V};
}

TEST_P(Decode, CachedEqualsRecompute) {
  ModelConfig cfg = test::tiny_config(GetParam(), 32);
  cfg.max_seq_len = 24;
  Gpt g(cfg, 12);
  test::randomize(g, 21, 0.1f);
  std::vector<int32_t> seq(5);
  test::random_tokens(seq, cfg.vocab_size, 9);
  auto cache = g.make_cache(24);
  std::vector<float> logits(static_cast<size_t>(cfg.vocab_size));
  g.forward_cached(cache, seq.data(), static_cast<int64_t>(seq.size()), logits.data());
  const double eps = std::numeric_limits<float>::epsilon();
  for (int step = 0; step < 16; ++step) {
    const auto ref = full_logits(g, seq);
    double scale = 0;
    for (float x : ref) scale = std::max(scale, static_cast<double>(std::abs(x)));
    // Summation order differs (different GEMM shapes): allow a few hundred ulps of the scale.
    const double tol = 512 * eps * (1 + scale);
    for (size_t v = 0; v < ref.size(); ++v) ASSERT_NEAR(logits[v], ref[v], tol) << "step " << step << " v " << v;
    const int32_t next = static_cast<int32_t>(std::max_element(ref.begin(), ref.end()) - ref.begin());
    if (step == 10) {  // a chunk of three tokens at once
      const int32_t chunk[3] = {next, (next + 1) % 32, (next + 5) % 32};
      seq.insert(seq.end(), chunk, chunk + 3);
      g.forward_cached(cache, chunk, 3, logits.data());
    } else {
      seq.push_back(next);
      g.forward_cached(cache, &next, 1, logits.data());
    }
  }
  EXPECT_EQ(cache.len, static_cast<int64_t>(seq.size()));
}

INSTANTIATE_TEST_SUITE_P(Positions, Decode, ::testing::Values("learned", "sinusoidal", "rope", "alibi", "none", "goat"),
                         [](const auto& info) { return info.param; });

}  // namespace
