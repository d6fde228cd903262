// Core types against independent references: Philox against the Random123 known-answer vectors,
// bf16 rounding against an fp64 nearest-even rule, arena layout, tensor views and error text.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "core/arena.h"
#include "core/philox.h"
#include "core/tensor.h"

using namespace goat;

TEST(Philox, Random123KnownAnswers) {
  // kat_vectors from Random123 1.09: philox4x32 10 rounds.
  EXPECT_EQ(Philox::block({0, 0, 0, 0}, 0, 0), (Philox::Block{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(Philox::block({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, 0xffffffff, 0xffffffff),
            (Philox::Block{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(Philox::block({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, 0xa4093822, 0x299f31d0),
            (Philox::Block{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(Philox, NormalMomentsAndStreamIndependence) {
  Rng r(1234, RngPurpose::test);
  const int n = 200000;
  double s = 0, s2 = 0;
  for (int i = 0; i < n; ++i) {
    const double x = r.normal(i);
    s += x;
    s2 += x * x;
  }
  // Standard errors: mean 1/sqrt(n) ≈ 0.0022, variance sqrt(2/n) ≈ 0.0032; allow 5 sigma.
  EXPECT_NEAR(s / n, 0.0, 5.0 / std::sqrt(n));
  EXPECT_NEAR(s2 / n, 1.0, 5.0 * std::sqrt(2.0 / n));
  Rng other(1234, RngPurpose::data);
  EXPECT_NE(r.u64(0), other.u64(0));
  EXPECT_EQ(r.u64(77), Rng(1234, RngPurpose::test).u64(77));
}

// Reference RNE rounding to bf16 in fp64: pick the nearer of the two bf16 neighbours, ties to even.
static uint16_t ref_bf16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if (std::isnan(f)) return static_cast<uint16_t>((u >> 16) | 0x40);
  const uint16_t lo = static_cast<uint16_t>(u >> 16);
  const uint16_t hi = static_cast<uint16_t>(lo + 1);
  auto val = [](uint16_t b) {
    uint32_t w = static_cast<uint32_t>(b) << 16;
    float g;
    std::memcpy(&g, &w, 4);
    return static_cast<double>(g);
  };
  if (std::isinf(f)) return lo;
  const double dl = std::abs(static_cast<double>(f) - val(lo));
  if ((u & 0xffff) == 0) return lo;
  if ((u & 0xffff) == 0x8000) return (lo & 1) ? hi : lo;  // exact tie
  if (std::isinf(val(hi))) return (u & 0xffff) > 0x8000 ? hi : lo;
  const double dh = std::abs(val(hi) - static_cast<double>(f));
  return dl < dh ? lo : hi;
}

TEST(BF16, RoundToNearestEvenMatchesReference) {
  Rng r(7, RngPurpose::test);
  for (uint64_t i = 0; i < 200000; ++i) {
    uint32_t u = static_cast<uint32_t>(r.u64(i));
    float f;
    std::memcpy(&f, &u, 4);
    ASSERT_EQ(bf16::from_float(f).bits, ref_bf16_bits(f)) << std::hex << u;
  }
  EXPECT_EQ(bf16::from_float(1.0f).bits, 0x3f80);
  EXPECT_EQ(bf16_round(1.00390625f), 1.0f);              // tie 1 + 2^-8 -> even (1.0)
  EXPECT_EQ(bf16_round(1.01171875f), 1.015625f);         // tie 1 + 3*2^-8 -> even (1 + 2^-6)
  EXPECT_TRUE(std::isinf(bf16_round(std::numeric_limits<float>::max())));  // rounds up to inf
  EXPECT_TRUE(std::isnan(bf16_round(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(bf16::from_float(-std::numeric_limits<float>::infinity()).bits, 0xff80);
  EXPECT_EQ(bf16::from_float(1e-40f).bits, 0x0001);  // subnormal 1e-40 ≈ 0x000116c2 -> 0x0001
}

TEST(Arena, NamedViewsAreAlignedAndDisjoint) {
  Arena a;
  a.add("w", Shape{3, 5});
  a.add("b", Shape{7});
  a.allocate();
  Tensor w = a.view("w"), b = a.view("b");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w.data) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data) % 64, 0u);
  EXPECT_GE(static_cast<float*>(b.data) - static_cast<float*>(w.data), 15);
  EXPECT_EQ(w.f32()[14], 0.f);
  EXPECT_THROW(a.view("missing"), Error);
  Arena c = a.clone_layout();
  EXPECT_EQ(c.numel(), a.numel());
  EXPECT_NE(c.data(), a.data());
}

TEST(Tensor, ShapeErrorsNameTheOp) {
  float x[24];
  Tensor t(x, Shape{2, 3, 4});
  EXPECT_TRUE(t.contiguous());
  EXPECT_EQ(t.strides[0], 12);
  try {
    check_shape("layernorm", "x", t, Shape{2, 3, 5});
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "[layernorm] expected x to be (2, 3, 5), got (2, 3, 4)");
  }
  EXPECT_THROW(t.reshape(Shape{5, 5}), Error);
  EXPECT_EQ(t.reshape(Shape{6, 4}).size(0), 6);
}
