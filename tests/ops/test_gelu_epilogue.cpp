// GELU fused into the bf16 linear forward (backend/cpu/linear.h linear_forward_gelu_bf16, in the
// AMX GEMM's epilogue where it runs: gemm_amx.h GeluEpilogue), every element:
//  - out and gelu_out bitwise what the unfused path gives (the same GEMM, then gelu_forward_bf16);
//  - against fp64: out within the GEMM bound γ_{K+2}·Σ|a||b| (+ |bias|) plus its bf16 rounding
//    u16·|y|; gelu_out = bf16(GELU(out)) within the table's bound u16·|g| + 1e-6·(|x| + 1)
//    (test_gelu_table.cpp);
//  - shapes where the AMX GEMM runs (multiples of 32) and where it does not (the two-pass path),
//    row strides wider than the rows (64-byte aligned or not), padding cells never written.
// And c_proj's backward with GELU's backward fused into its d_in (linear_backward_into_gelu_bf16;
// gemm_amx.h GeluBackwardEpilogue where the AMX GEMM runs), every element:
//  - d_pre bitwise what the unfused path gives (linear_backward_bf16's bf16 d_in, then
//    to_bf16_column_sum with gelu_pre, the pass c_fc's backward ran), c_fc's bias sums pre_bias
//    bitwise that pass's (the same 128-row chunk order), d_w and d_bias bitwise linear_backward_bf16's;
//  - against fp64: d_pre = bf16(x · g) within (u16 + u32)·|x·g| (x the bf16 d_in, g the gelu' table
//    entry for pre), pre_bias = init + Σ_rows x·g within γ_{n+2}·(Σ|x·g| + |init|) (fp32 products, sums);
//  - row blocks that fill no 128-row chunk, a last chunk partly filled, chunks not a multiple of the
//    thread count (1, 2, 3 threads), the model's widths (cin 1024, cout 256), row strides wider than
//    the rows (64-byte aligned or not: padding never written), and a shape where the AMX GEMM does not
//    run (the GEMM, then GELU's backward in place over d_pre).
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "backend/cpu/elementwise.h"
#include "backend/cpu/gelu_table.h"
#include "backend/cpu/gemm_bf16.h"
#include "backend/cpu/linear.h"
#include "core/dtype.h"
#include "core/philox.h"

using namespace goat;

namespace {

constexpr double kU16 = 0.00390625, kU32 = 5.9604644775390625e-08;  // 2^-8, 2^-24

double gamma(int64_t n) { return static_cast<double>(n) * kU32 / (1.0 - static_cast<double>(n) * kU32); }
double val(uint16_t b) { return bf16::from_bits(b).to_float(); }

std::vector<uint16_t> bf16_normal(size_t n, uint64_t stream, float scale) {
  const Rng rng(31, RngPurpose::test, stream);
  std::vector<uint16_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = bf16::from_float(scale * rng.normal(i)).bits;
  return v;
}

// fp64 GELU through σ(2u) = 0.5(1 + tanh u) (no cancellation for u ≪ 0).
double sigma2u64(double u) { return 1.0 / (1.0 + std::exp(-2.0 * u)); }
double gelu64(double x) { return x * sigma2u64(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)); }

void check_forward(int64_t n, int64_t cin, int64_t cout, int64_t pad) {
  SCOPED_TRACE(testing::Message() << "forward n " << n << " cin " << cin << " cout " << cout << " pad " << pad);
  const int64_t ld_in = cin + pad, ld_out = cout + pad;
  const std::vector<uint16_t> in = bf16_normal(static_cast<size_t>(n * ld_in), 1, 1.f),
                              w = bf16_normal(static_cast<size_t>(cout * cin), 2, 0.1f);
  const std::vector<uint16_t> bias16 = bf16_normal(static_cast<size_t>(cout), 3, 0.5f);
  std::vector<float> bias(bias16.size());
  for (size_t i = 0; i < bias.size(); ++i) bias[i] = static_cast<float>(val(bias16[i]));
  const cpu::LinearDims d{n, cin, cout, ld_in, ld_out};
  std::vector<uint16_t> out(static_cast<size_t>(n * ld_out), 0x7fc1), act = out;  // NaN: cells never written
  cpu::linear_forward_gelu_bf16(d, out.data(), act.data(), {in.data(), true}, {w.data(), true}, bias.data());
  // unfused: the same GEMM, then GELU's pass
  std::vector<uint16_t> out2 = out, act2 = act;
  cpu::linear_forward_bf16(d, {out2.data(), true}, {in.data(), true}, {w.data(), true}, bias.data());
  for (int64_t r = 0; r < n; ++r) cpu::gelu_forward_bf16(act2.data() + r * ld_out, out2.data() + r * ld_out, cout);
  const double g = gamma(cin + 2);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < ld_out; ++j) {
      const size_t at = static_cast<size_t>(i * ld_out + j);
      if (j >= cout) {  // row padding: never written
        ASSERT_EQ(out[at], 0x7fc1);
        ASSERT_EQ(act[at], 0x7fc1);
        continue;
      }
      ASSERT_EQ(out[at], out2[at]) << "out at (" << i << ", " << j << ")";
      ASSERT_EQ(act[at], act2[at]) << "gelu_out at (" << i << ", " << j << ")";
      double want = bias[static_cast<size_t>(j)], scale = std::abs(want);
      for (int64_t p = 0; p < cin; ++p) {
        const double t = val(in[static_cast<size_t>(i * ld_in + p)]) * val(w[static_cast<size_t>(j * cin + p)]);
        want += t, scale += std::abs(t);
      }
      const double y = val(out[at]);
      ASSERT_LE(std::abs(y - want), (g * scale + kU32 * std::abs(want)) * (1 + kU16) + kU16 * std::abs(want))
          << "out at (" << i << ", " << j << ")";
      const double ga = gelu64(y);
      ASSERT_LE(std::abs(val(act[at]) - ga), kU16 * std::abs(ga) + 1e-6 * (std::abs(y) + 1.0))
          << "gelu_out at (" << i << ", " << j << ") of " << y;
    }
}

constexpr uint16_t kNaN = 0x7fc1;  // cells never written keep it

std::vector<float> f32_normal(size_t n, uint64_t stream) {
  const Rng rng(43, RngPurpose::test, stream);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = rng.normal(i);
  return v;
}

void check_into_gelu(int64_t n, int64_t cin, int64_t cout, int64_t pad, int threads) {
  SCOPED_TRACE(testing::Message() << "n " << n << " cin " << cin << " cout " << cout << " pad " << pad << " threads "
                                  << threads);
  const int saved_threads = omp_get_max_threads();
  omp_set_num_threads(threads);
  const int64_t ld_in = cin + pad;
  const std::vector<uint16_t> d_out = bf16_normal(static_cast<size_t>(n * cout), 1, 1.f),
                              in = bf16_normal(static_cast<size_t>(n * ld_in), 2, 1.f),
                              w = bf16_normal(static_cast<size_t>(cout * cin), 3, 0.1f),
                              pre = bf16_normal(static_cast<size_t>(n * ld_in), 4, 2.f);
  const std::vector<float> d_w0 = f32_normal(static_cast<size_t>(cout * cin), 5),
                           d_bias0 = f32_normal(static_cast<size_t>(cout), 6),
                           pre_bias0 = f32_normal(static_cast<size_t>(cin), 7);
  const cpu::LinearDims d{n, cin, cout, ld_in, cout};
  // fused
  std::vector<uint16_t> d_pre(static_cast<size_t>(n * ld_in), kNaN);
  std::vector<float> d_w = d_w0, d_bias = d_bias0, pre_bias = pre_bias0;
  cpu::linear_backward_into_gelu_bf16(d, d_pre.data(), d_w.data(), d_bias.data(), {d_out.data(), true},
                                      {in.data(), true}, {w.data(), true}, pre.data(), pre_bias.data());
  // unfused: the bf16 d_in, then the GELU backward pass with its column sums (dense result)
  std::vector<uint16_t> d_in(static_cast<size_t>(n * ld_in), kNaN);
  std::vector<float> d_w2 = d_w0, d_bias2 = d_bias0, pre_bias2 = pre_bias0;
  cpu::linear_backward_bf16(d, {d_in.data(), true}, d_w2.data(), d_bias2.data(), {d_out.data(), true},
                            {in.data(), true}, {w.data(), true}, false);
  const uint16_t* dense = cpu::to_bf16_column_sum(0, d_in.data(), n, cin, ld_in, pre_bias2.data(), pre.data());
  omp_set_num_threads(saved_threads);

  for (size_t i = 0; i < d_w.size(); ++i) ASSERT_EQ(d_w[i], d_w2[i]) << "d_w at " << i;
  for (size_t i = 0; i < d_bias.size(); ++i) ASSERT_EQ(d_bias[i], d_bias2[i]) << "d_bias at " << i;
  const float* const grad = cpu::gelu_bf16_table().grad;
  std::vector<double> sum(static_cast<size_t>(cin), 0.0), scale(static_cast<size_t>(cin), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < ld_in; ++j) {
      const size_t at = static_cast<size_t>(i * ld_in + j);
      if (j >= cin) {  // row padding: never written
        ASSERT_EQ(d_pre[at], kNaN) << "padding at (" << i << ", " << j << ")";
        continue;
      }
      ASSERT_EQ(d_pre[at], dense[i * cin + j]) << "d_pre at (" << i << ", " << j << ")";
      const double v = val(d_in[at]) * static_cast<double>(grad[pre[at]]);  // exact: 8 × 24 bits
      ASSERT_LE(std::abs(val(d_pre[at]) - v), (kU16 + kU32) * std::abs(v)) << "d_pre at (" << i << ", " << j << ")";
      sum[static_cast<size_t>(j)] += v;
      scale[static_cast<size_t>(j)] += std::abs(v);
    }
  for (int64_t j = 0; j < cin; ++j) {
    const size_t c = static_cast<size_t>(j);
    ASSERT_EQ(pre_bias[c], pre_bias2[c]) << "pre_bias at " << j;
    const double want = pre_bias0[c] + sum[c];
    ASSERT_LE(std::abs(pre_bias[c] - want), gamma(n + 2) * (scale[c] + std::abs(pre_bias0[c])))
        << "pre_bias at " << j << ": want " << want;
  }
}

}  // namespace

TEST(GeluEpilogue, ForwardMatchesUnfusedAndFp64) {
  check_forward(96, 64, 512, 0);   // the AMX GEMM (where present): GELU in its epilogue
  check_forward(32, 32, 64, 0);    // one row block, two column blocks
  check_forward(64, 96, 544, 32);  // padded rows of C and GELU's output (64-byte aligned), AMX
  check_forward(64, 32, 512, 3);   // rows not 64-byte aligned: ordinary stores, AMX
  check_forward(50, 40, 96, 1);    // not multiples of 32: oneDNN's GEMM, then GELU's pass
}

TEST(GeluEpilogue, BackwardIntoGeluMatchesUnfusedAndFp64) {
  check_into_gelu(96, 64, 32, 0, 2);      // 3 row blocks: one 128-row chunk, not filled
  check_into_gelu(160, 128, 64, 0, 2);    // 5 row blocks: a full chunk and one block of the next
  check_into_gelu(512, 1024, 256, 0, 3);  // the model's widths, 4 chunks over 3 threads
  check_into_gelu(384, 1024, 256, 0, 1);  // one thread
  check_into_gelu(288, 256, 96, 32, 2);   // padded rows (64-byte aligned), 2¼ chunks
  check_into_gelu(64, 96, 64, 3, 2);      // rows not 64-byte aligned: ordinary stores
  check_into_gelu(50, 40, 24, 1, 2);      // not multiples of 32: oneDNN's GEMM, then the pass in place
}
