// bf16 / half conversions of the emulation, bit-exact against a reference built from the
// definition: the nearest representable value found by comparing exact fp64 distances, ties to the
// even encoding, overflow to inf, NaN -> CUDA's canonical 0x7fff. Covers every rounding tie at every
// exponent (subnormals included), specials, all 2^16 encodings back to float, random patterns,
// the arithmetic operators, and one conversion kernel run through launch().
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "emu_util.h"
#include "kernels/convert_kernels.cuh"

namespace goat::emu_test {
namespace {

// Value of a bf16 / half encoding computed from its fields (sign, exponent, mantissa).
double bf16_value(uint32_t b) {
  const int e = static_cast<int>((b >> 7) & 0xff), m = static_cast<int>(b & 0x7f);
  const double mag = e == 0 ? std::ldexp(m, -133) : std::ldexp(128 + m, e - 134);
  return (b & 0x8000) ? -mag : mag;
}
double half_value(uint32_t b) {
  const int e = static_cast<int>((b >> 10) & 0x1f), m = static_cast<int>(b & 0x3ff);
  const double mag = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
  return (b & 0x8000) ? -mag : mag;
}

// Nearest encoding among magnitudes 0..max_finite (+ inf at max_finite + 1, valued as the next
// power-of-two step), ties to even; `value` gives an encoding's magnitude.
template <typename V>
uint16_t nearest(double v, uint32_t max_finite, uint32_t sign_bit, V value, double inf_value) {
  if (std::isnan(v)) return 0x7fff;
  const double x = std::fabs(v);
  const uint32_t sign = std::signbit(v) ? sign_bit : 0;
  if (std::isinf(x)) return static_cast<uint16_t>(sign | (max_finite + 1));
  uint32_t lo = 0, hi = max_finite + 1;  // largest encoding with value <= x, by bisection
  while (hi - lo > 1) {
    const uint32_t mid = (lo + hi) / 2;
    (value(mid) <= x ? lo : hi) = mid;
  }
  if (lo == max_finite + 1 || value(lo) == x) return static_cast<uint16_t>(sign | lo);
  const double up = lo + 1 == max_finite + 1 ? inf_value : value(lo + 1);
  const double dl = x - value(lo), du = up - x;
  const uint32_t r = dl < du ? lo : du < dl ? lo + 1 : ((lo & 1) ? lo + 1 : lo);
  return static_cast<uint16_t>(sign | r);
}
uint16_t ref_bf16(double f) { return nearest(f, 0x7f7f, 0x8000, bf16_value, std::ldexp(1.0, 128)); }
uint16_t ref_half(double f) { return nearest(f, 0x7bff, 0x8000, half_value, 65536.0); }

std::vector<float> test_floats(int low_bits) {
  std::vector<float> v;
  // Every upper pattern with low parts around the rounding point: exact ties, one below, one above.
  const uint32_t half_step = 1u << (low_bits - 1), step_mask = (1u << low_bits) - 1;
  for (uint32_t hi = 0; hi < (1u << (32 - low_bits)); hi += (low_bits == 16 ? 1 : 7))
    for (uint32_t lo : {0u, 1u, half_step - 1, half_step, half_step + 1, step_mask})
      v.push_back(std::bit_cast<float>((hi << low_bits) | lo));
  std::mt19937 rng(9);
  for (int i = 0; i < (1 << 18); ++i) v.push_back(std::bit_cast<float>(static_cast<uint32_t>(rng())));
  for (float s : {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 3.4028235e38f, -3.4028235e38f, 1e-45f, -1e-45f, 65504.0f,
                  65519.99f, 65520.0f, 6.1035156e-05f, 5.9604645e-08f, 2.9802322e-08f, 2.9802326e-08f})
    v.push_back(s);
  v.push_back(std::bit_cast<float>(0x7fc12345u));  // NaN payloads
  v.push_back(std::bit_cast<float>(0xff812345u));
  return v;
}

TEST(EmuBf16, FloatToBf16IsRneBitExact) {
  int checked = 0;
  for (float f : test_floats(16)) {
    ASSERT_EQ(__float2bfloat16(f).__x, ref_bf16(f)) << "float bits 0x" << std::hex << std::bit_cast<uint32_t>(f);
    ASSERT_EQ(__float2bfloat16_rn(f).__x, ref_bf16(f));
    ++checked;
  }
  EXPECT_GT(checked, 6 * 65536);
}

TEST(EmuBf16, Bf16ToFloatIsExactForAllEncodings) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = __bfloat162float(__ushort_as_bfloat16(static_cast<unsigned short>(b)));
    if (((b >> 7) & 0xff) == 0xff) {
      EXPECT_EQ(std::bit_cast<uint32_t>(f), b << 16);  // inf and NaN keep their bits
    } else {
      ASSERT_EQ(static_cast<double>(f), bf16_value(b)) << b;
    }
  }
}

TEST(EmuBf16, TruncatingConversion) {
  EXPECT_EQ(__float2bfloat16_rz(std::bit_cast<float>(0x3f80ffffu)).__x, 0x3f80);
  EXPECT_EQ(__float2bfloat16_rz(std::bit_cast<float>(0xbf80ffffu)).__x, 0xbf80);
  EXPECT_EQ(__float2bfloat16_rz(NAN).__x, 0x7fff);
}

TEST(EmuBf16, FloatToHalfIsRneBitExact) {
  for (float f : test_floats(13))
    ASSERT_EQ(__float2half(f).__x, ref_half(f)) << "float bits 0x" << std::hex << std::bit_cast<uint32_t>(f);
}

TEST(EmuBf16, HalfToFloatIsExactForAllEncodings) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = __half2float(__ushort_as_half(static_cast<unsigned short>(b)));
    if (((b >> 10) & 0x1f) == 0x1f) {
      EXPECT_TRUE(std::isinf(f) == ((b & 0x3ff) == 0) && (std::isnan(f) == ((b & 0x3ff) != 0))) << b;
    } else {
      ASSERT_EQ(static_cast<double>(f), half_value(b)) << b;
    }
  }
}

TEST(EmuBf16, OperatorsRoundOnceFromTheExactResult) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-4.0f, 4.0f);
  for (int i = 0; i < 100000; ++i) {
    const __nv_bfloat16 a = __float2bfloat16(u(rng)), b = __float2bfloat16(u(rng) * 1e-2f);
    const double x = float(a), y = float(b);
    // Exact results are representable in fp64 here (8-bit significands, exponents within 60);
    // the reference rounds them once, the emulation goes through fp32 first.
    ASSERT_EQ((a * b).__x, ref_bf16(x * y));
    ASSERT_EQ((a + b).__x, ref_bf16(x + y));
    ASSERT_EQ((a - b).__x, ref_bf16(x - y));
  }
}

TEST(EmuBf16, ConversionKernelMatchesHost) {
  std::vector<float> in = {0.0f, 1.0f, -1.00390625f, 1.00390625f, 1.01171875f, 3.4e38f, 1e-40f, NAN, INFINITY};
  const int n = static_cast<int>(in.size());
  DevBuf<float> d_in(in), d_back(n);
  DevBuf<__nv_bfloat16> d_out(n);
  EXPECT_LAUNCH_OK(
      goat::simt::launch(bf16_convert_kernel, dim3(1), dim3(32), 0, nullptr, d_in.get(), d_out.get(), d_back.get(), n));
  const auto out = d_out.download();
  const auto back = d_back.download();
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(out[i].__x, ref_bf16(in[i])) << i;
    EXPECT_EQ(std::bit_cast<uint32_t>(back[i]), uint32_t{ref_bf16(in[i])} << 16) << i;
  }
}

}  // namespace
}  // namespace goat::emu_test
