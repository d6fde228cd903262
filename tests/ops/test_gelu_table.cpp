// The bf16 GELU table (backend/cpu/gelu_table.h) at every one of the 2^16 bf16 inputs:
//  - against fp64 GELU: forward ≤ u16·|y| + 1e-6·(|x| + 1) (one bf16 rounding plus the fp32 tanh
//    form's evaluation error, as for the evaluated kernel); gelu' ≤ (1e-5 + 16·u32·U) of the magnitude
//    of its two terms |σ| + |2xσ(1−σ)u'|, U = √(2/π)(|x| + 0.044715|x|³) ≥ |u| (a few fp32 roundings
//    of u, each ≤ u32·U, scaled by 2 in σ(2u) = 1/(1 + e^{−2u})), plus 1e-30 (exp_f32 clamps, so σ
//    never goes below ~3e-39 where the true value underflows); for |x| ≤ 20 (only the identity below
//    past that, where the fp32 cube overflows);
//  - bitwise equal to the evaluation it replaces (gelu_f32 / gelu_grad_f32, vec_math.h), NaN to a
//    NaN (its sign and payload are the compiler's), so bf16 training results do not depend on the table;
//  - the bf16 kernel that reads it (gelu_forward_bf16) gives the table's entries;
//  - c_fc's GELU backward row (gelu_backward_row.h), gathered and scalar, at every pre value with x
//    of every kind (NaN, ±inf, subnormal, ±0): bitwise the fp32 evaluation x·gelu_grad_f32(pre),
//    rounded once (NaN to a NaN), and its sum added to acc.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <random>
#include <vector>

#include "backend/cpu/elementwise.h"
#include "backend/cpu/gelu_backward_row.h"
#include "backend/cpu/gelu_table.h"
#include "backend/cpu/vec_math.h"
#include "core/dtype.h"

using namespace goat;

namespace {

// The references use σ(2u) = 1/(1 + e^{−2u}) for 0.5(1 + tanh u): the same value without fp64's
// cancellation in 1 + tanh u for u ≪ 0 (relative error ~1e-4 there at u = −14).
double sigma2u64(double u) { return 1.0 / (1.0 + std::exp(-2.0 * u)); }
double gelu64(double x) { return x * sigma2u64(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)); }

}  // namespace

TEST(GeluTable, EveryBf16InputMatchesFp64) {
  const cpu::GeluBf16Table& t = cpu::gelu_bf16_table();
  const double u16 = std::ldexp(1.0, -8), u32 = std::ldexp(1.0, -24), k = std::sqrt(2.0 / M_PI);
  int64_t checked_grad = 0;
  for (uint32_t b = 0; b < (1u << 16); ++b) {
    const double x = bf16::from_bits(static_cast<uint16_t>(b)).to_float();
    if (!std::isfinite(x)) continue;
    const double want = gelu64(x), got = bf16::from_bits(t.forward[b]).to_float();
    ASSERT_LE(std::abs(got - want), u16 * std::abs(want) + 1e-6 * (std::abs(x) + 1.0)) << "x " << x << " bits " << b;
    if (std::abs(x) > 20.0) continue;
    const double u = k * (x + 0.044715 * x * x * x), du = k * (1 + 3 * 0.044715 * x * x);
    const double s = sigma2u64(u), term = 2 * x * s * (1 - s) * du;
    const double big_u = k * (std::abs(x) + 0.044715 * std::abs(x * x * x));
    ASSERT_LE(std::abs(t.grad[b] - (s + term)), (1e-5 + 16 * u32 * big_u) * (std::abs(s) + std::abs(term)) + 1e-30)
        << "x " << x << " bits " << b;
    ++checked_grad;
  }
  EXPECT_GT(checked_grad, 30000);  // every bf16 below 20 in magnitude: 2·(127 + 5)·128 − …
}

TEST(GeluTable, BitwiseTheFp32Evaluation) {
  const cpu::GeluBf16Table& t = cpu::gelu_bf16_table();
  for (uint32_t b = 0; b < (1u << 16); ++b) {
    const float x = bf16::from_bits(static_cast<uint16_t>(b)).to_float();
    if (std::isnan(x)) {
      ASSERT_TRUE(std::isnan(bf16::from_bits(t.forward[b]).to_float()) && std::isnan(t.grad[b])) << "bits " << b;
      continue;
    }
    ASSERT_EQ(t.forward[b], bf16::from_float(cpu::gelu_f32(x)).bits) << "bits " << b;
    ASSERT_EQ(std::bit_cast<uint32_t>(t.grad[b]), std::bit_cast<uint32_t>(cpu::gelu_grad_f32(x))) << "bits " << b;
  }
}

TEST(GeluTable, Bf16KernelReadsTheTable) {
  std::vector<uint16_t> in(1 << 16), out(in.size());  // every input once: above the parallel threshold
  for (uint32_t b = 0; b < (1u << 16); ++b) in[b] = static_cast<uint16_t>((b * 40503u) & 0xffffu);  // a permutation
  cpu::gelu_forward_bf16(out.data(), in.data(), static_cast<int64_t>(in.size()));
  const cpu::GeluBf16Table& t = cpu::gelu_bf16_table();
  for (size_t i = 0; i < in.size(); ++i) ASSERT_EQ(out[i], t.forward[in[i]]) << "element " << i;
}

TEST(GeluTable, BackwardRowGatherAndScalarMatchTheEvaluation) {
  // Rows of an odd length (the gather's 16-lane body and its tail); pre runs through every bf16
  // value; x: random normals of mixed scales plus specials every few elements.
  constexpr int64_t n = (1 << 16) + 13;
  std::vector<uint16_t> x(n), pre(n);
  std::vector<float> acc0(n);
  std::mt19937 rng(12);
  std::normal_distribution<float> normal(0.f, 1.f);
  const uint16_t specials[] = {0x7fc0, 0xffc1, 0x7f80, 0xff80, 0x0001, 0x8003, 0x0000, 0x8000, 0x7f7f, 0x0080};
  for (int64_t i = 0; i < n; ++i) {
    pre[i] = static_cast<uint16_t>((i * 40503) & 0xffff);
    x[i] = i % 7 == 3 ? specials[(i / 7) % 10] : bf16::from_float(normal(rng) * std::ldexp(1.f, (i % 41) - 20)).bits;
    acc0[i] = normal(rng);
  }
  std::vector<uint16_t> out_gather(n), out_scalar(n);
  std::vector<float> acc_gather = acc0, acc_scalar = acc0;
  cpu::gelu_backward_row(x.data(), pre.data(), n, out_gather.data(), acc_gather.data());
  cpu::gelu_backward_row_scalar(x.data(), pre.data(), n, out_scalar.data(), acc_scalar.data());
  for (int64_t i = 0; i < n; ++i) {
    const float v = bf16::from_bits(x[i]).to_float() * cpu::gelu_grad_f32(bf16::from_bits(pre[i]).to_float());
    const float sum = acc0[i] + v;
    for (const auto& [out, acc, name] : {std::tuple{&out_gather, &acc_gather, "gather"},
                                         std::tuple{&out_scalar, &acc_scalar, "scalar"}}) {
      if (std::isnan(v)) {
        ASSERT_TRUE(std::isnan(bf16::from_bits((*out)[i]).to_float()) && std::isnan((*acc)[i])) << name << " " << i;
        continue;
      }
      ASSERT_EQ((*out)[i], bf16::from_float(v).bits) << name << " element " << i << " x bits " << x[i] << " pre " << pre[i];
      ASSERT_EQ(std::bit_cast<uint32_t>((*acc)[i]), std::bit_cast<uint32_t>(sum)) << name << " element " << i;
    }
  }
  // The two implementations agree bit for bit, NaNs included.
  EXPECT_EQ(out_gather, out_scalar);
  EXPECT_EQ(0, std::memcmp(acc_gather.data(), acc_scalar.data(), n * sizeof(float)));
}
