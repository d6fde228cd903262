// The CPU fp32 GELU forward that keeps gelu' (backend/cpu/elementwise.h gelu_forward_keep_grad,
// ops::linear_forward_gelu's keep_grad, the fp32 model's c_fc) and the backward that reads it:
//  - out and the in-place gelu' bitwise what gelu_forward and gelu_grad_f32 (vec_math.h) give, at
//    every bf16 value, a dense sweep of [−12, 12], random normals of three scales, ±0, ±inf, NaN
//    (to a NaN), above the parallel threshold with a vector tail (past |x| ≈ 1e13 the fp32 cube
//    overflows and gelu' is NaN in both, inf·0: the definition, not changed here);
//  - gelu' against fp64 at every element with |x| ≤ 20, bound as in test_gelu_table.cpp:
//    (1e-5 + 16·u32·U)·(|σ| + |2xσ(1−σ)u'|) + 1e-30, U = √(2/π)(|x| + 0.044715|x|³);
//  - gelu_grad_backward_column_sum / gelu_grad_backward bitwise the backward from pre
//    (gelu_backward_column_sum / gelu_backward): d and the column sums;
//  - the op pair: linear_forward_gelu(keep_grad) + linear_backward_gelu(holds_grad) give d_in,
//    d_weight, d_bias and gelu_out bitwise the plain pair's; keep_grad is ignored (out keeps pre)
//    under bf16 GEMM precision, and holds_grad there is refused.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "backend/cpu/elementwise.h"
#include "backend/cpu/gemm_bf16.h"
#include "backend/cpu/vec_math.h"
#include "core/check.h"
#include "core/dtype.h"
#include "core/philox.h"
#include "core/tensor.h"
#include "ops/linear.h"

using namespace goat;

namespace {

std::vector<float> normal(size_t n, uint64_t stream, float scale = 1.f) {
  const Rng rng(31, RngPurpose::test, stream);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * rng.normal(i);
  return v;
}

// Inputs: every bf16 value, [−12, 12] in steps of 2^-10, normals of scale 0.5, 3 and 30, specials.
std::vector<float> sweep() {
  std::vector<float> x;
  for (uint32_t b = 0; b < (1u << 16); ++b) x.push_back(bf16::from_bits(static_cast<uint16_t>(b)).to_float());
  for (int i = -12 * 1024; i <= 12 * 1024; ++i) x.push_back(static_cast<float>(i) / 1024.f);
  for (float s : {0.5f, 3.f, 30.f}) {
    const std::vector<float> v = normal(20000, static_cast<uint64_t>(s * 10), s);
    x.insert(x.end(), v.begin(), v.end());
  }
  for (float v : {0.f, -0.f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                  std::numeric_limits<float>::quiet_NaN()})
    x.push_back(v);
  x.push_back(1.f);  // an odd length: a vector tail
  return x;
}

bool same_bits(float a, float b) { return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b); }
bool same_or_nan(float a, float b) { return same_bits(a, b) || (std::isnan(a) && std::isnan(b)); }

double sigma2u64(double u) { return 1.0 / (1.0 + std::exp(-2.0 * u)); }

}  // namespace

TEST(GeluKeepGrad, BitwiseTheSeparateEvaluations) {
  const std::vector<float> x = sweep();
  const auto n = static_cast<int64_t>(x.size());
  ASSERT_GT(n, cpu::kParallelMin);
  std::vector<float> out(x.size()), grad = x, want_out(x.size()), ones(x.size(), 1.f), want_grad(x.size());
  cpu::gelu_forward_keep_grad(out.data(), grad.data(), n);
  cpu::gelu_forward(want_out.data(), x.data(), n);
  cpu::gelu_backward(want_grad.data(), ones.data(), x.data(), n);  // 1·gelu'(x): the vector kernel's gelu'
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_TRUE(same_or_nan(out[i], want_out[i])) << "gelu at x " << x[i] << ": " << out[i] << " vs " << want_out[i];
    ASSERT_TRUE(same_or_nan(grad[i], want_grad[i])) << "gelu' at x " << x[i] << ": " << grad[i] << " vs " << want_grad[i];
    ASSERT_TRUE(same_or_nan(grad[i], cpu::gelu_grad_f32(x[i]))) << "gelu' (scalar) at x " << x[i];
    if (std::isnan(x[i])) {
      ASSERT_TRUE(std::isnan(out[i]) && std::isnan(grad[i]));
    }
  }
}

TEST(GeluKeepGrad, GradMatchesFp64) {
  const std::vector<float> x = sweep();
  std::vector<float> out(x.size()), grad = x;
  cpu::gelu_forward_keep_grad(out.data(), grad.data(), static_cast<int64_t>(x.size()));
  const double u32 = std::ldexp(1.0, -24), k = std::sqrt(2.0 / M_PI);
  int64_t checked = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    if (!std::isfinite(v) || std::abs(v) > 20.0) continue;
    const double u = k * (v + 0.044715 * v * v * v), du = k * (1 + 3 * 0.044715 * v * v);
    const double s = sigma2u64(u), term = 2 * v * s * (1 - s) * du;
    const double big_u = k * (std::abs(v) + 0.044715 * std::abs(v * v * v));
    ASSERT_LE(std::abs(grad[i] - (s + term)), (1e-5 + 16 * u32 * big_u) * (std::abs(s) + std::abs(term)) + 1e-30)
        << "x " << v;
    ++checked;
  }
  EXPECT_GT(checked, 80000);
}

TEST(GeluKeepGrad, BackwardFromGradBitwiseFromPre) {
  const int64_t rows = 300, cols = 130;  // three 128-row chunks (one partial), above kParallelMin
  const std::vector<float> pre = normal(static_cast<size_t>(rows * cols), 1, 2.f), d0 = normal(pre.size(), 2);
  std::vector<float> out(pre.size()), grad = pre;
  cpu::gelu_forward_keep_grad(out.data(), grad.data(), rows * cols);
  std::vector<float> d_pre = d0, d_grad = d0, sum_pre = normal(static_cast<size_t>(cols), 3), sum_grad = sum_pre;
  cpu::gelu_backward_column_sum(d_pre.data(), pre.data(), rows, cols, sum_pre.data());
  cpu::gelu_grad_backward_column_sum(d_grad.data(), grad.data(), rows, cols, sum_grad.data());
  for (size_t i = 0; i < d0.size(); ++i) ASSERT_TRUE(same_bits(d_pre[i], d_grad[i])) << "d at " << i;
  for (size_t c = 0; c < sum_pre.size(); ++c) ASSERT_TRUE(same_bits(sum_pre[c], sum_grad[c])) << "col_sum " << c;
  std::vector<float> e_pre = d0, e_grad = d0;
  cpu::gelu_backward(e_pre.data(), e_pre.data(), pre.data(), rows * cols);
  cpu::gelu_grad_backward(e_grad.data(), grad.data(), rows * cols);
  for (size_t i = 0; i < d0.size(); ++i) ASSERT_TRUE(same_bits(e_pre[i], e_grad[i])) << "no-sum d at " << i;
}

TEST(GeluKeepGrad, OpPairBitwiseThePlainPair) {
  const int64_t n = 70, cin = 48, cout = 200;
  const std::vector<float> in = normal(static_cast<size_t>(n * cin), 4), w = normal(static_cast<size_t>(cout * cin), 5, 0.3f),
                           b = normal(static_cast<size_t>(cout), 6), d_act0 = normal(static_cast<size_t>(n * cout), 7);
  struct Result {
    std::vector<float> gelu_out, d_in, d_w, d_b;
  };
  const auto run = [&](bool keep) {
    std::vector<float> pre(static_cast<size_t>(n * cout)), d_act = d_act0;
    Result r{std::vector<float>(pre.size()), std::vector<float>(in.size()), std::vector<float>(w.size(), 0.5f),
             std::vector<float>(b.size(), 0.25f)};
    const Tensor tin(const_cast<float*>(in.data()), Shape{n, cin}), tw(const_cast<float*>(w.data()), Shape{cout, cin});
    const Tensor tpre(pre.data(), Shape{n, cout});
    const bool kept = ops::linear_forward_gelu(tpre, Tensor(r.gelu_out.data(), Shape{n, cout}), tin, tw,
                                               Tensor(const_cast<float*>(b.data()), Shape{cout}), keep);
    EXPECT_EQ(kept, keep);
    ops::linear_backward_gelu(Tensor(r.d_in.data(), Shape{n, cin}), Tensor(r.d_w.data(), Shape{cout, cin}),
                              Tensor(r.d_b.data(), Shape{cout}), Tensor(d_act.data(), Shape{n, cout}), tpre, tin, tw,
                              kept);
    return r;
  };
  const Result plain = run(false), kept = run(true);
  const auto expect_same = [](const std::vector<float>& a, const std::vector<float>& e, const char* what) {
    ASSERT_EQ(a.size(), e.size());
    for (size_t i = 0; i < a.size(); ++i) ASSERT_TRUE(same_bits(a[i], e[i])) << what << " at " << i;
  };
  expect_same(kept.gelu_out, plain.gelu_out, "gelu_out");
  expect_same(kept.d_in, plain.d_in, "d_in");
  expect_same(kept.d_w, plain.d_w, "d_weight");
  expect_same(kept.d_b, plain.d_b, "d_bias");

  // bf16 GEMM precision: out keeps pre, and a holds_grad backward is refused.
  const cpu::GemmPrecisionScope bf16_gemms(cpu::GemmPrecision::bf16);
  std::vector<float> pre(static_cast<size_t>(n * cout)), act(pre.size()), d_in(in.size()), d_w(w.size()), d_b(b.size());
  const Tensor tin(const_cast<float*>(in.data()), Shape{n, cin}), tw(const_cast<float*>(w.data()), Shape{cout, cin});
  EXPECT_FALSE(ops::linear_forward_gelu(Tensor(pre.data(), Shape{n, cout}), Tensor(act.data(), Shape{n, cout}), tin,
                                        tw, Tensor(const_cast<float*>(b.data()), Shape{cout}), true));
  std::vector<float> d_act = d_act0;
  EXPECT_THROW(ops::linear_backward_gelu(Tensor(d_in.data(), Shape{n, cin}), Tensor(d_w.data(), Shape{cout, cin}),
                                         Tensor(d_b.data(), Shape{cout}), Tensor(d_act.data(), Shape{n, cout}),
                                         Tensor(pre.data(), Shape{n, cout}), tin, tw, true),
               Error);
}
