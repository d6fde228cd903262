// Position conventions against hand-computed references (extrapolation.md): RoPE's two pairings
// and its base, ALiBi slopes for 8 and 12 heads (and not the common wrong variant), the
// sinusoidal table, and the learned table refusing positions past its end.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/position_alibi.h"
#include "model/position_factory.h"
#include "model/position_rope.h"
#include "tiny_model.h"

using namespace goat;

namespace {

// Hand rotation of one head vector by position t: pairs (i, i + D/2) or (2i, 2i + 1).
std::vector<double> hand_rope(const std::vector<double>& x, double t, double base, bool interleaved) {
  const size_t D = x.size();
  std::vector<double> y = x;
  for (size_t i = 0; i < D / 2; ++i) {
    const size_t a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + D / 2;
    const double th = t * std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(D));
    y[a] = x[a] * std::cos(th) - x[b] * std::sin(th);
    y[b] = x[a] * std::sin(th) + x[b] * std::cos(th);
  }
  return y;
}

void check_rope(bool interleaved, double base) {
  const int64_t B = 2, H = 3, T = 5, D = 8, W = 2 * H * D, pos0 = 37;
  std::vector<float> buf(static_cast<size_t>(B * T * W));
  const Rng rng(3, RngPurpose::test);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = rng.normal(i);
  const std::vector<float> orig = buf;
  RopePosition rope(D, base, interleaved);
  const Tensor q = head_view(buf.data(), B, H, T, D, W, 0);  // a strided view, as in the model
  rope.rotate(q, pos0, 1.f);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < T; ++t) {
        const size_t off = static_cast<size_t>(b * T * W + t * W + h * D);
        std::vector<double> x(orig.begin() + off, orig.begin() + off + D);
        const auto y = hand_rope(x, static_cast<double>(pos0 + t), base, interleaved);
        for (int64_t d = 0; d < D; ++d) EXPECT_NEAR(buf[off + d], y[d], 1e-5 * (1 + std::abs(y[d])));
        // the other half of the row (another head block) is untouched
        for (int64_t d = 0; d < D; ++d) EXPECT_EQ(buf[off + H * D + d], orig[off + H * D + d]);
      }
  // backward is the inverse rotation
  rope.rotate(q, pos0, -1.f);
  for (size_t i = 0; i < buf.size(); ++i) EXPECT_NEAR(buf[i], orig[i], 1e-5);
}

TEST(Rope, HalfPairingMatchesHandRotation) { check_rope(false, 10000.0); }
TEST(Rope, InterleavedPairingMatchesHandRotation) { check_rope(true, 10000.0); }
TEST(Rope, BaseIsHonoured) { check_rope(false, 500.0); }

TEST(Rope, PairingsDiffer) {
  // The two pairings are different functions: a vector with only dim 1 set rotates into dim 0
  // (interleaved) or into dim 1 + D/2 (half).
  const int64_t D = 8;
  std::vector<float> a(D, 0.f), b(D, 0.f);
  a[1] = b[1] = 1.f;
  RopePosition half(D, 10000, false), inter(D, 10000, true);
  half.rotate(Tensor(a.data(), Shape{1, 1, 1, D}), 1, 1.f);
  inter.rotate(Tensor(b.data(), Shape{1, 1, 1, D}), 1, 1.f);
  EXPECT_NEAR(b[0], -std::sin(1.0), 1e-6);  // pair (0, 1), θ_0 = 1
  EXPECT_NEAR(a[1 + D / 2], std::sin(std::pow(10000.0, -2.0 / D)), 1e-6);  // pair (1, 5), θ_1
  EXPECT_EQ(a[0], 0.f);
}

TEST(Alibi, SlopesForEightHeads) {
  const auto s = alibi_slopes(8);
  ASSERT_EQ(s.size(), 8u);
  for (int k = 1; k <= 8; ++k) EXPECT_DOUBLE_EQ(s[k - 1], std::ldexp(1.0, -k));
}

TEST(Alibi, SlopesForTwelveHeadsTakeEveryOtherOfTheNextPower) {
  const auto s = alibi_slopes(12);
  ASSERT_EQ(s.size(), 12u);
  for (int k = 1; k <= 8; ++k) EXPECT_DOUBLE_EQ(s[k - 1], std::ldexp(1.0, -k));
  const double extra[] = {std::pow(2.0, -0.5), std::pow(2.0, -1.5), std::pow(2.0, -2.5), std::pow(2.0, -3.5)};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(s[8 + i], extra[i], 1e-15);
  // The common wrong variant takes the first n − c slopes of 16 heads: 2^-0.5, 2^-1, 2^-1.5, 2^-2.
  EXPECT_GT(std::abs(s[9] - std::pow(2.0, -1.0)), 0.1);
}

TEST(Alibi, SlopesForAPowerOfTwoAndOneHead) {
  const auto s4 = alibi_slopes(4);
  for (int k = 1; k <= 4; ++k) EXPECT_DOUBLE_EQ(s4[k - 1], std::exp2(-2.0 * k));
  EXPECT_DOUBLE_EQ(alibi_slopes(1)[0], std::exp2(-8.0));
}

TEST(Alibi, PriorCarriesSlopesPerKvHeadAndUnscaledScore) {
  AlibiPosition a(16, 8);
  const auto p = a.prior(2, 10, 0);
  ASSERT_NE(p.slope, nullptr);
  EXPECT_FLOAT_EQ(p.slope[0], 0.5f);
  EXPECT_FLOAT_EQ(p.slope[7], 1.f / 256);
  EXPECT_EQ(p.key_bias, nullptr);
  EXPECT_FLOAT_EQ(a.score_scale(), 0.25f);
}

TEST(Sinusoidal, TableMatchesVaswani) {
  const int64_t C = 16, N = 50;
  std::vector<float> pe(static_cast<size_t>(N * C));
  sinusoidal_table(pe.data(), N, C);
  for (int64_t t : {0, 1, 7, 49})
    for (int64_t i = 0; i < C / 2; ++i) {
      const double a = t / std::pow(10000.0, 2.0 * i / C);
      EXPECT_NEAR(pe[t * C + 2 * i], std::sin(a), 1e-6);
      EXPECT_NEAR(pe[t * C + 2 * i + 1], std::cos(a), 1e-6);
    }
  EXPECT_EQ(pe[0], 0.f);
  EXPECT_EQ(pe[1], 1.f);
}

TEST(Sinusoidal, ModelExtendsPastMaxSeqLen) {
  ModelConfig cfg = test::tiny_config("sinusoidal");
  Gpt g(cfg, 8);
  const Tensor t = g.position_table(10, 20);  // past max_seq_len 16: defined for sinusoidal
  EXPECT_NEAR(t.f32()[5 * cfg.d_model + 0], std::sin(15.0), 1e-6);
}

TEST(Learned, RefusesPositionsPastItsTable) {
  ModelConfig cfg = test::tiny_config("learned");
  Gpt g(cfg, 8);
  g.init(1);
  EXPECT_NO_THROW(g.position_table(0, 16));
  try {
    Activations a(cfg, 1, 17);
    g.forward(a, false);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("learned"), std::string::npos) << m;
    EXPECT_NE(m.find("max_seq_len = 16"), std::string::npos) << m;
  }
  auto cache = g.make_cache(20);
  std::vector<int32_t> toks(16, 1);
  std::vector<float> logits(static_cast<size_t>(cfg.vocab_size));
  g.forward_cached(cache, toks.data(), 16, logits.data());
  EXPECT_THROW(g.forward_cached(cache, toks.data(), 1, logits.data()), Error);
}

}  // namespace
