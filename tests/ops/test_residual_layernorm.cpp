// The fused residual LayerNorm (backend/cpu/layernorm.h residual_layernorm_forward[_bf16]) is
// bitwise the unfused pair it replaces, residual = a + b (add_forward) then layernorm_forward
// [_bf16] of it, at every element of residual, out, mean and rstd: with the residual 64-byte
// aligned and C a multiple of 16 (its rows streamed out with non-temporal stores) and without
// (a misaligned residual, or C = 130), above and below the parallel threshold. The
// op-case table (test_op_cases.cpp) checks the values against fp64.
// The forward normalises rows in pairs (norm_row_pair, layernorm.cpp) and an odd last row alone:
// every row of an n-row call is bitwise the same call on that row alone (n = 1, the single-row
// path), for fp32 and bf16 out, odd and even n, C with and without a tail past the 16-lane blocks.
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <utility>
#include <vector>

#include "backend/cpu/elementwise.h"
#include "backend/cpu/layernorm.h"
#include "core/philox.h"

using namespace goat;

namespace {

struct Free {
  void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float[], Free>;
Buffer aligned(int64_t n) {
  return Buffer(static_cast<float*>(std::aligned_alloc(64, static_cast<size_t>((n + 16 + 15) / 16 * 64))));
}

void fill(float* p, int64_t n, uint64_t stream, float scale, float shift) {
  const Rng rng(41, RngPurpose::test, stream);
  for (int64_t i = 0; i < n; ++i) p[i] = shift + scale * rng.normal(static_cast<uint64_t>(i));
}

bool same_bits(float a, float b) { return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b); }

// offset: elements the residual is moved off its 64-byte boundary.
template <typename Out>
void check(int64_t n, int64_t c, int64_t offset) {
  const int64_t nc = n * c;
  Buffer a = aligned(nc), b = aligned(nc), w = aligned(c), bias = aligned(c), res = aligned(nc + offset),
         want_res = aligned(nc);
  fill(a.get(), nc, 1, 2.f, 3.f);  // |mean| > std: the two-pass variance matters
  fill(b.get(), nc, 2, 1.f, 0.f);
  fill(w.get(), c, 3, 0.5f, 1.f);
  fill(bias.get(), c, 4, 0.2f, 0.f);
  std::vector<Out> out(static_cast<size_t>(nc)), want_out(out.size());
  std::vector<float> mean(static_cast<size_t>(n)), rstd(mean.size()), want_mean(mean.size()), want_rstd(mean.size());
  float* r = res.get() + offset;
  cpu::add_forward(want_res.get(), a.get(), b.get(), nc);
  if constexpr (sizeof(Out) == 4) {
    cpu::residual_layernorm_forward(r, out.data(), mean.data(), rstd.data(), a.get(), b.get(), w.get(), bias.get(), n,
                                    c, 1e-5f);
    cpu::layernorm_forward(want_out.data(), want_mean.data(), want_rstd.data(), want_res.get(), w.get(), bias.get(), n,
                           c, 1e-5f);
  } else {
    cpu::residual_layernorm_forward_bf16(r, out.data(), mean.data(), rstd.data(), a.get(), b.get(), w.get(), bias.get(),
                                         n, c, 1e-5f);
    cpu::layernorm_forward_bf16(want_out.data(), want_mean.data(), want_rstd.data(), want_res.get(), w.get(),
                                bias.get(), n, c, 1e-5f);
  }
  for (int64_t i = 0; i < nc; ++i) ASSERT_TRUE(same_bits(r[i], want_res[i])) << "residual at " << i;
  for (int64_t i = 0; i < nc; ++i) ASSERT_EQ(out[static_cast<size_t>(i)], want_out[static_cast<size_t>(i)]) << "out at " << i;
  for (size_t i = 0; i < mean.size(); ++i) {
    ASSERT_TRUE(same_bits(mean[i], want_mean[i])) << "mean at row " << i;
    ASSERT_TRUE(same_bits(rstd[i], want_rstd[i])) << "rstd at row " << i;
  }
}

}  // namespace

TEST(ResidualLayerNorm, BitwiseAddThenLayerNorm) {
  for (int64_t offset : {0, 4}) {
    SCOPED_TRACE(offset);
    check<float>(300, 256, offset);  // 76,800 elements: parallel
    check<float>(7, 208, offset);    // serial
    check<float>(150, 130, offset);  // C not a multiple of 16
    check<uint16_t>(300, 256, offset);
    check<uint16_t>(150, 130, offset);
  }
}

namespace {
template <typename Out>
void check_rows_alone(int64_t n, int64_t c) {
  const int64_t nc = n * c;
  Buffer x = aligned(nc), w = aligned(c), bias = aligned(c);
  fill(x.get(), nc, 5, 2.f, 3.f);
  fill(w.get(), c, 6, 0.5f, 1.f);
  fill(bias.get(), c, 7, 0.2f, 0.f);
  std::vector<Out> out(static_cast<size_t>(nc)), row_out(static_cast<size_t>(c));
  std::vector<float> mean(static_cast<size_t>(n)), rstd(mean.size());
  const auto forward = [&](Out* o, float* m, float* r, const float* in, int64_t rows) {
    if constexpr (sizeof(Out) == 4)
      cpu::layernorm_forward(o, m, r, in, w.get(), bias.get(), rows, c, 1e-5f);
    else
      cpu::layernorm_forward_bf16(o, m, r, in, w.get(), bias.get(), rows, c, 1e-5f);
  };
  forward(out.data(), mean.data(), rstd.data(), x.get(), n);
  for (int64_t r = 0; r < n; ++r) {
    float m = 0, rs = 0;
    forward(row_out.data(), &m, &rs, x.get() + r * c, 1);
    ASSERT_TRUE(same_bits(mean[static_cast<size_t>(r)], m)) << "mean at row " << r;
    ASSERT_TRUE(same_bits(rstd[static_cast<size_t>(r)], rs)) << "rstd at row " << r;
    for (int64_t j = 0; j < c; ++j)
      ASSERT_EQ(out[static_cast<size_t>(r * c + j)], row_out[static_cast<size_t>(j)]) << "row " << r << " col " << j;
  }
}
}  // namespace

TEST(ResidualLayerNorm, PairedRowsBitwiseEachRowAlone) {
  for (const auto& [n, c] : {std::pair<int64_t, int64_t>{301, 256}, {300, 256}, {7, 130}, {150, 33}, {9, 8}}) {
    SCOPED_TRACE(testing::Message() << n << " x " << c);
    check_rows_alone<float>(n, c);
    check_rows_alone<uint16_t>(n, c);
  }
}
