// gemm_bf16 (dtype "bf16" GEMMs) against fp64 references, with computed tolerances:
//  - exact recipe: fp64 product of the bf16-rounded operands (round-to-nearest-even, computed
//    here independently of oneDNN); the only remaining error is fp32 accumulation, bounded by
//    γ_K = K·u32/(1 − K·u32) · Σ|a||b| per element (u32 = 2^-24; AMX accumulates in fp32);
//  - against the unrounded fp32 operands: each product carries relative error ≤ 2·u16 + u16²
//    (u16 = 2^-8, bf16's unit roundoff), so |C − C64| ≤ (2·u16 + u16² + γ_K)·Σ|a||b|.
// Covers both transpositions, row strides larger than the width, alpha and beta (the sum post-op
// and the output scale), the GemmPrecisionScope dispatch used by the linear layers, the bf16
// linear forward with the bias in the GEMM epilogue, and the bf16 linear backward that rounds d_out
// once for both of its GEMMs and sums its columns for d_bias in the same pass.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

#include "backend/cpu/gemm.h"
#include "backend/cpu/gemm_bf16.h"
#include "backend/cpu/linear.h"
#include "core/philox.h"

using namespace goat;

namespace {

float round_bf16(float x) {
  uint32_t u = std::bit_cast<uint32_t>(x);
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
  return std::bit_cast<float>(u & 0xffff0000u);
}

struct Case {
  bool ta, tb;
  int64_t m, n, k, pad;
  float alpha, beta;
};

void run_case(const Case& c) {
  const int64_t ar = c.ta ? c.k : c.m, ac = c.ta ? c.m : c.k, br = c.tb ? c.n : c.k, bc = c.tb ? c.k : c.n;
  const int64_t lda = ac + c.pad, ldb = bc + c.pad, ldc = c.n + c.pad;
  std::vector<float> a(static_cast<size_t>(ar * lda)), b(static_cast<size_t>(br * ldb)), c0(static_cast<size_t>(c.m * ldc));
  const Rng rng(7, RngPurpose::test, static_cast<uint64_t>(c.m * 131 + c.n * 17 + c.k));
  for (size_t i = 0; i < a.size(); ++i) a[i] = rng.normal(i);
  for (size_t i = 0; i < b.size(); ++i) b[i] = rng.normal(1000000 + i);
  for (size_t i = 0; i < c0.size(); ++i) c0[i] = rng.normal(2000000 + i);
  std::vector<float> out = c0;
  cpu::gemm_bf16(c.ta, c.tb, c.m, c.n, c.k, c.alpha, a.data(), lda, b.data(), ldb, c.beta, out.data(), ldc);
  const double u32 = std::ldexp(1.0, -24), u16 = std::ldexp(1.0, -8);
  const double gamma = static_cast<double>(c.k + 2) * u32 / (1.0 - static_cast<double>(c.k + 2) * u32);
  const auto A = [&](int64_t i, int64_t p) { return c.ta ? a[p * lda + i] : a[i * lda + p]; };
  const auto B = [&](int64_t p, int64_t j) { return c.tb ? b[j * ldb + p] : b[p * ldb + j]; };
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < c.n; ++j) {
      double exact = 0, rounded = 0, mag = 0;
      for (int64_t p = 0; p < c.k; ++p) {
        exact += static_cast<double>(A(i, p)) * B(p, j);
        rounded += static_cast<double>(round_bf16(A(i, p))) * round_bf16(B(p, j));
        mag += std::abs(static_cast<double>(A(i, p)) * B(p, j));
      }
      const double cin = c0[static_cast<size_t>(i * ldc + j)];
      const double got = out[static_cast<size_t>(i * ldc + j)];
      const double scale = std::abs(c.alpha) * mag * 1.01 + std::abs(c.beta * cin);  // 1.01: bf16 rounding of |a||b|
      const double want_rounded = c.alpha * rounded + c.beta * cin, want_exact = c.alpha * exact + c.beta * cin;
      ASSERT_LE(std::abs(got - want_rounded), gamma * scale + u32 * std::abs(want_rounded))
          << "recipe mismatch at (" << i << ", " << j << ") m=" << c.m << " n=" << c.n << " k=" << c.k;
      ASSERT_LE(std::abs(got - want_exact), (2 * u16 + u16 * u16 + gamma) * scale + u32 * std::abs(want_exact))
          << "bf16 bound exceeded at (" << i << ", " << j << ")";
    }
  // Cells of C outside the n columns (the row padding) are never written.
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = c.n; j < ldc; ++j)
      ASSERT_EQ(out[static_cast<size_t>(i * ldc + j)], c0[static_cast<size_t>(i * ldc + j)]);
}

}  // namespace

TEST(GemmBf16, MatchesFp64OfRoundedOperands) {
  const Case cases[] = {
      {false, true, 37, 29, 53, 0, 1.f, 0.f},   // linear forward: in · wᵀ
      {false, false, 64, 48, 96, 5, 1.f, 1.f},  // linear d_in, accumulated
      {true, false, 24, 40, 130, 3, 1.f, 1.f},  // linear d_w += d_outᵀ · in
      {true, true, 17, 9, 33, 0, 0.5f, -2.f},   // alpha and beta
      {false, true, 1, 1, 1, 0, 1.f, 0.f},
      {false, true, 256, 192, 512, 0, 1.f, 1.f},
  };
  for (const Case& c : cases) run_case(c);
}

TEST(GemmBf16, PrecisionScopeSelectsTheGemm) {
  // A value whose bf16 rounding is visible: 1 + 2^-10 rounds to 1 in bf16.
  const float a = 1.f + std::ldexp(1.f, -10), b = 1.f;
  float c = 0;
  cpu::gemm(false, false, 1, 1, 1, 1.f, &a, 1, &b, 1, 0.f, &c, 1);
  EXPECT_EQ(c, a);
  EXPECT_EQ(cpu::gemm_precision(), cpu::GemmPrecision::fp32);
  {
    const cpu::GemmPrecisionScope scope(cpu::GemmPrecision::bf16);
    cpu::gemm(false, false, 1, 1, 1, 1.f, &a, 1, &b, 1, 0.f, &c, 1);
    EXPECT_EQ(c, 1.f);
  }
  EXPECT_EQ(cpu::gemm_precision(), cpu::GemmPrecision::fp32);
  cpu::gemm(false, false, 1, 1, 1, 1.f, &a, 1, &b, 1, 0.f, &c, 1);
  EXPECT_EQ(c, a);
}

TEST(GemmBf16, LinearBackwardMatchesFp64OfRoundedOperands) {
  const int64_t n = 45, cin = 37, cout = 29, ld_in = 40, ld_out = 33;
  std::vector<float> in(static_cast<size_t>(n * ld_in)), w(static_cast<size_t>(cout * cin)),
      d_out(static_cast<size_t>(n * ld_out)), d_in(in.size()), d_w(w.size()), d_b(static_cast<size_t>(cout));
  const Rng rng(11, RngPurpose::test);
  for (size_t i = 0; i < in.size(); ++i) in[i] = rng.normal(i);
  for (size_t i = 0; i < w.size(); ++i) w[i] = rng.normal(100000 + i);
  for (size_t i = 0; i < d_out.size(); ++i) d_out[i] = rng.normal(200000 + i);
  for (size_t i = 0; i < d_in.size(); ++i) d_in[i] = rng.normal(300000 + i);  // accumulated into
  for (size_t i = 0; i < d_w.size(); ++i) d_w[i] = rng.normal(400000 + i);
  for (size_t i = 0; i < d_b.size(); ++i) d_b[i] = rng.normal(500000 + i);  // accumulated into
  const std::vector<float> d_in0 = d_in, d_w0 = d_w, d_b0 = d_b;
  {
    const cpu::GemmPrecisionScope scope(cpu::GemmPrecision::bf16);
    cpu::linear_backward(cpu::LinearDims{n, cin, cout, ld_in, ld_out}, d_in.data(), d_w.data(), d_b.data(),
                         d_out.data(), in.data(), w.data(), true);
  }
  const double u32 = std::ldexp(1.0, -24);
  const auto check = [&](double got, double acc0, double rounded, double mag, int64_t k, const char* what) {
    const double gamma = static_cast<double>(k + 2) * u32 / (1.0 - static_cast<double>(k + 2) * u32);
    const double want = acc0 + rounded;
    ASSERT_LE(std::abs(got - want), gamma * (1.01 * mag + std::abs(acc0)) + u32 * std::abs(want)) << what;
  };
  for (int64_t r = 0; r < n; ++r)  // d_in = d_in0 + d_out · w
    for (int64_t c = 0; c < cin; ++c) {
      double acc = 0, mag = 0;
      for (int64_t o = 0; o < cout; ++o) {
        acc += static_cast<double>(round_bf16(d_out[r * ld_out + o])) * round_bf16(w[o * cin + c]);
        mag += std::abs(static_cast<double>(d_out[r * ld_out + o]) * w[o * cin + c]);
      }
      check(d_in[r * ld_in + c], d_in0[r * ld_in + c], acc, mag, cout, "d_in");
    }
  for (int64_t o = 0; o < cout; ++o)  // d_w = d_w0 + d_outᵀ · in
    for (int64_t c = 0; c < cin; ++c) {
      double acc = 0, mag = 0;
      for (int64_t r = 0; r < n; ++r) {
        acc += static_cast<double>(round_bf16(d_out[r * ld_out + o])) * round_bf16(in[r * ld_in + c]);
        mag += std::abs(static_cast<double>(d_out[r * ld_out + o]) * in[r * ld_in + c]);
      }
      check(d_w[o * cin + c], d_w0[o * cin + c], acc, mag, n, "d_w");
    }
  for (int64_t o = 0; o < cout; ++o) {  // d_b = d_b0 + Σ_r d_out (unrounded, summed in fp32)
    double sum = 0, mag = 0;
    for (int64_t r = 0; r < n; ++r) {
      sum += d_out[r * ld_out + o];
      mag += std::abs(static_cast<double>(d_out[r * ld_out + o]));
    }
    check(d_b[o], d_b0[o], sum, mag, n, "d_b");
  }
  // Padding columns of d_in (cin .. ld_in) are never written.
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = cin; c < ld_in; ++c) ASSERT_EQ(d_in[r * ld_in + c], d_in0[r * ld_in + c]);
}

// The bf16 linear forward adds the bias in the GEMM's epilogue (oneDNN matmul bias argument):
// out = bf16(in) · bf16(w)ᵀ + bias against fp64, row strides wider than the widths, padding kept.
TEST(GemmBf16, LinearForwardWithBiasMatchesFp64OfRoundedOperands) {
  const int64_t n = 70, cin = 48, cout = 35, ld_in = 53, ld_out = 40;
  std::vector<float> in(static_cast<size_t>(n * ld_in)), w(static_cast<size_t>(cout * cin)), bias(static_cast<size_t>(cout)),
      out(static_cast<size_t>(n * ld_out));
  const Rng rng(13, RngPurpose::test);
  for (size_t i = 0; i < in.size(); ++i) in[i] = rng.normal(i);
  for (size_t i = 0; i < w.size(); ++i) w[i] = rng.normal(100000 + i);
  for (size_t i = 0; i < bias.size(); ++i) bias[i] = 3.f * rng.normal(200000 + i);
  for (size_t i = 0; i < out.size(); ++i) out[i] = rng.normal(300000 + i);  // overwritten
  const std::vector<float> out0 = out;
  for (const bool with_bias : {true, false}) {
    {
      const cpu::GemmPrecisionScope scope(cpu::GemmPrecision::bf16);
      cpu::linear_forward(cpu::LinearDims{n, cin, cout, ld_in, ld_out}, out.data(), in.data(), w.data(),
                          with_bias ? bias.data() : nullptr);
    }
    const double u32 = std::ldexp(1.0, -24);
    const double gamma = static_cast<double>(cin + 2) * u32 / (1.0 - static_cast<double>(cin + 2) * u32);
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t o = 0; o < cout; ++o) {
        double acc = with_bias ? bias[o] : 0.0, mag = with_bias ? std::abs(bias[o]) : 0.0;
        for (int64_t c = 0; c < cin; ++c) {
          acc += static_cast<double>(round_bf16(in[r * ld_in + c])) * round_bf16(w[o * cin + c]);
          mag += 1.01 * std::abs(static_cast<double>(in[r * ld_in + c]) * w[o * cin + c]);
        }
        ASSERT_LE(std::abs(out[r * ld_out + o] - acc), gamma * mag + u32 * std::abs(acc))
            << "(" << r << ", " << o << ") bias " << with_bias;
      }
      for (int64_t o = cout; o < ld_out; ++o) ASSERT_EQ(out[r * ld_out + o], out0[r * ld_out + o]);
    }
  }
}

// GELU's backward fused into the linear backward (the MLP's c_fc): the gradient used is
// d_act ∘ gelu'(pre), formed inside the bf16 rounding pass (bf16) or in a scratch matrix (fp32).
// Reference: fp64 GELU derivative (tanh form, written out here) and fp64 products. Tolerance per
// output: the GEMM bound (bf16: 2·u16 + u16² + γ_K; fp32: γ_K) on Σ|g||b| plus the fp32
// evaluation error of gelu' (≤ 1e-5 relative to the magnitude of its two terms, |σ| + |2xσ(1−σ)u'|).
TEST(GemmBf16, LinearBackwardWithFusedGeluMatchesFp64) {
  const int64_t n = 300, cin = 24, cout = 40, ld_out = 45;  // n > 128: several row chunks in the column sums
  std::vector<float> in(static_cast<size_t>(n * cin)), w(static_cast<size_t>(cout * cin)),
      d_act(static_cast<size_t>(n * ld_out)), pre(d_act.size());
  const Rng rng(17, RngPurpose::test);
  for (size_t i = 0; i < in.size(); ++i) in[i] = rng.normal(i);
  for (size_t i = 0; i < w.size(); ++i) w[i] = rng.normal(100000 + i);
  for (size_t i = 0; i < d_act.size(); ++i) d_act[i] = rng.normal(200000 + i);
  for (size_t i = 0; i < pre.size(); ++i) pre[i] = 2.5f * rng.normal(300000 + i);
  // fp64 g = d_act ∘ gelu'(pre) and the magnitude bound of its evaluation error.
  std::vector<double> g(d_act.size()), g_err(d_act.size());
  for (size_t i = 0; i < g.size(); ++i) {
    const double x = pre[i], k = std::sqrt(2.0 / M_PI), u = k * (x + 0.044715 * x * x * x);
    const double du = k * (1 + 3 * 0.044715 * x * x), s = 0.5 * (1 + std::tanh(u));
    const double t = 2 * x * s * (1 - s) * du;  // 0.5·sech²(u) = 2σ(2u)(1 − σ(2u))
    g[i] = d_act[i] * (s + t);
    g_err[i] = 1e-5 * std::abs(static_cast<double>(d_act[i])) * (std::abs(s) + std::abs(t));
  }
  const double u32 = std::ldexp(1.0, -24), u16 = std::ldexp(1.0, -8);
  for (const bool bf16 : {true, false}) {
    std::vector<float> d_in(in.size()), d_w(w.size(), 0.f), d_b(static_cast<size_t>(cout), 0.f);
    {
      const cpu::GemmPrecisionScope scope(bf16 ? cpu::GemmPrecision::bf16 : cpu::GemmPrecision::fp32);
      cpu::linear_backward(cpu::LinearDims{n, cin, cout, cin, ld_out}, d_in.data(), d_w.data(), d_b.data(),
                           d_act.data(), in.data(), w.data(), false, pre.data());
    }
    const auto bound = [&](double mag, double err, int64_t k) {
      const double gamma = static_cast<double>(k + 2) * u32 / (1.0 - static_cast<double>(k + 2) * u32);
      return (bf16 ? 2 * u16 + u16 * u16 + gamma : gamma) * 1.01 * mag + err;
    };
    // Σ_s g(s)·x(s) over `len` terms in fp64 with Σ|g·x| and the g-error term Σ g_err·|x|;
    // gi(s) indexes g, xv(s) is the other operand.
    struct Dot {
      double acc = 0, mag = 0, err = 0;
    };
    const auto dot = [&](int64_t len, auto gi, auto xv) {
      Dot d;
      for (int64_t s = 0; s < len; ++s) {
        const size_t i = gi(s);
        const double x = xv(s);
        d.acc += g[i] * x;
        d.mag += std::abs(g[i] * x);
        d.err += g_err[i] * std::abs(x);
      }
      return d;
    };
    for (int64_t r = 0; r < n; ++r)  // d_in = g · w
      for (int64_t c = 0; c < cin; ++c) {
        const Dot d = dot(
            cout, [&](int64_t o) { return static_cast<size_t>(r * ld_out + o); },
            [&](int64_t o) { return static_cast<double>(w[o * cin + c]); });
        ASSERT_LE(std::abs(d_in[r * cin + c] - d.acc), bound(d.mag, d.err, cout) + u32 * std::abs(d.acc))
            << "d_in " << bf16;
      }
    for (int64_t o = 0; o < cout; ++o) {
      for (int64_t c = 0; c < cin; ++c) {  // d_w = gᵀ · in
        const Dot d = dot(
            n, [&](int64_t r) { return static_cast<size_t>(r * ld_out + o); },
            [&](int64_t r) { return static_cast<double>(in[r * cin + c]); });
        ASSERT_LE(std::abs(d_w[o * cin + c] - d.acc), bound(d.mag, d.err, n) + u32 * std::abs(d.acc))
            << "d_w " << bf16;
      }
      double sum = 0, mag = 0, err = 0;  // d_b = Σ_r g, unrounded, fp32 sums
      for (int64_t r = 0; r < n; ++r) {
        const size_t i = static_cast<size_t>(r * ld_out + o);
        sum += g[i];
        mag += std::abs(g[i]);
        err += g_err[i];
      }
      const double gamma = static_cast<double>(n + 2) * u32 / (1.0 - static_cast<double>(n + 2) * u32);
      ASSERT_LE(std::abs(d_b[o] - sum), gamma * mag + err + u32 * std::abs(sum)) << "d_b " << bf16;
    }
  }
}
