// The SIMD exp of backend/cpu/vec_math.h (used by softmax/cross-entropy and GELU) against
// std::exp in fp64: within 2 ulp over the whole normal range, and saturating sanely outside it.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "backend/cpu/vec_math.h"

TEST(VecMath, ExpWithinTwoUlpOverNormalRange) {
  double worst = 0, worst_x = 0;
  for (double xd = -87.0; xd < 88.5; xd += 7.31e-4) {  // ~240k points, not aligned to ln2 steps
    const float x = static_cast<float>(xd);
    const double want = std::exp(static_cast<double>(x));
    const double ulp = std::ldexp(1.0, std::ilogb(want) - 23);
    const double err = std::abs(static_cast<double>(goat::cpu::exp_f32(x)) - want) / ulp;
    if (err > worst) worst = err, worst_x = x;
  }
  EXPECT_LE(worst, 2.0) << "at x = " << worst_x;
}

TEST(VecMath, ExpAndSigmoidSaturate) {
  EXPECT_LT(goat::cpu::exp_f32(-1000.f), 1.3e-38f);  // clamped to the smallest normal range
  EXPECT_GE(goat::cpu::exp_f32(-1000.f), 0.f);
  EXPECT_TRUE(std::isfinite(goat::cpu::exp_f32(1000.f)));
  EXPECT_EQ(goat::cpu::sigmoid_f32(100.f), 1.f);
  EXPECT_LT(goat::cpu::sigmoid_f32(-100.f), 1e-38f);
  EXPECT_EQ(goat::cpu::exp_f32(0.f), 1.f);
}

// NaN propagates (the non-finite step check relies on it) without the undefined float-to-int
// conversion of NaN that UBSan reported from cross_entropy's row_stats.
TEST(VecMath, ExpPropagatesNan) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(goat::cpu::exp_f32(nan)));
  EXPECT_TRUE(std::isnan(goat::cpu::exp_f32(-nan)));
  EXPECT_TRUE(std::isnan(goat::cpu::sigmoid_f32(nan)));
}
