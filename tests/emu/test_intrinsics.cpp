// Math and bit intrinsics of the emulation against their CUDA-documented edge cases and libm.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "simt/simt.cuh"

namespace goat::emu_test {
namespace {

TEST(EmuIntrinsics, BitOperations) {
  EXPECT_EQ(__popc(0xf0f0f0f0u), 16);
  EXPECT_EQ(__popcll(~0ull), 64);
  EXPECT_EQ(__clz(0), 32);
  EXPECT_EQ(__clz(1), 31);
  EXPECT_EQ(__clz(-1), 0);
  EXPECT_EQ(__ffs(0), 0);
  EXPECT_EQ(__ffs(0x80), 8);
  EXPECT_EQ(__brev(1u), 0x80000000u);
  EXPECT_EQ(__brev(0x12345678u), 0x1e6a2c48u);
  EXPECT_EQ(__umulhi(0xffffffffu, 0xffffffffu), 0xfffffffeu);
  EXPECT_EQ(__float_as_uint(1.0f), 0x3f800000u);
  EXPECT_EQ(__uint_as_float(0x40000000u), 2.0f);
}

TEST(EmuIntrinsics, RoundingAndSaturation) {
  EXPECT_EQ(__float2int_rn(2.5f), 2);  // round half to even
  EXPECT_EQ(__float2int_rn(3.5f), 4);
  EXPECT_EQ(__float2int_rn(-2.5f), -2);
  EXPECT_EQ(__float2int_rz(-2.7f), -2);
  EXPECT_EQ(__saturatef(std::numeric_limits<float>::quiet_NaN()), 0.0f);
  EXPECT_EQ(__saturatef(-1.0f), 0.0f);
  EXPECT_EQ(__saturatef(1.5f), 1.0f);
  EXPECT_EQ(__saturatef(0.25f), 0.25f);
}

TEST(EmuIntrinsics, FastMathIsCloseToLibm) {
  for (float x : {-10.0f, -1.0f, -0.1f, 0.0f, 0.3f, 1.0f, 5.0f, 20.0f}) {
    EXPECT_FLOAT_EQ(__expf(x), std::exp(x));
    EXPECT_FLOAT_EQ(exp2f(x), std::exp2(x));
    if (x > 0) {
      EXPECT_FLOAT_EQ(__logf(x), std::log(x));
      EXPECT_FLOAT_EQ(rsqrtf(x), 1.0f / std::sqrt(x));
      EXPECT_FLOAT_EQ(__fdividef(1.0f, x), 1.0f / x);
    }
  }
  EXPECT_EQ(min(3, -4), -4);
  EXPECT_EQ(max(3u, 4u), 4u);
  EXPECT_EQ(min(5u, 3), 3u);            // mixed: unsigned result, as CUDA
  EXPECT_EQ(max(-1, 1u), 0xffffffffu);  // (-1 converts to UINT_MAX)
  EXPECT_EQ(min(size_t{7}, size_t{9}), size_t{7});
  EXPECT_EQ(max(1.5f, 2.0), 2.0);
  EXPECT_EQ(max(1.0f, std::numeric_limits<float>::quiet_NaN()), 1.0f);  // fmaxf semantics
}

}  // namespace
}  // namespace goat::emu_test
