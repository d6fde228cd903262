// Tensor-core and async-copy wrappers under the emulation: the published fragment test vectors
// (ptx-fragments.md section 5, from the PTX ISA layouts), ldmatrix x1/x2/x4 (.trans) lane maps,
// a tiled GEMM kernel (cp.async double buffering + ldmatrix + mma, both B layouts) and one
// FlashAttention-2 step against fp64 naive matmuls with computed tolerances, and cp.async group
// semantics in strict and synchronous modes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "emu_util.h"
#include "kernels/mma_kernels.cuh"

namespace goat::emu_test {
namespace {

using goat::simt::launch;

std::vector<__nv_bfloat16> to_bf16(const std::vector<float>& v) {
  std::vector<__nv_bfloat16> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = __float2bfloat16(v[i]);
  return r;
}
std::vector<double> to_double(const std::vector<__nv_bfloat16>& v) {
  std::vector<double> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = static_cast<double>(float(v[i]));
  return r;
}

TEST(EmuMma, FragmentTestVectors) {
  std::vector<float> a(256), b(128);
  for (int m = 0; m < 16; ++m)
    for (int k = 0; k < 16; ++k) a[m * 16 + k] = static_cast<float>(16 * m + k);
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 8; ++n) b[k * 8 + n] = static_cast<float>(8 * k + n);
  DevBuf<__nv_bfloat16> d_a(to_bf16(a)), d_b(to_bf16(b));
  DevBuf<uint32_t> a_out(128), b_out(64), bt_out(64);
  DevBuf<float> d_out(128);
  EXPECT_LAUNCH_OK(launch(fragment_probe_kernel, dim3(1), dim3(32), 0, nullptr, d_a.get(), d_b.get(), a_out.get(),
                          b_out.get(), bt_out.get(), d_out.get()));
  const auto ra = a_out.download(), rb = b_out.download(), rbt = bt_out.download();
  const auto rd = d_out.download();
  // Published vectors: lane, A regs 0..3, B regs 0..1, d0..d3.
  struct Row {
    int lane;
    uint32_t a[4], b[2];
    float d[4];
  };
  const Row rows[] = {
      {0, {0x3f800000, 0x43014300, 0x41104100, 0x43094308}, {0x41000000, 0x42904280}, {9920, 10040, 132800, 134968}},
      {1, {0x40404000, 0x43034302, 0x41304120, 0x430b430a}, {0x41c04180, 0x42b042a0}, {10160, 10280, 137136, 139304}},
      {4, {0x41884180, 0x43114310, 0x41c841c0, 0x43194318}, {0x41103f80, 0x42924282}, {25280, 25656, 148160, 150584}},
      {5, {0x41984190, 0x43134312, 0x41d841d0, 0x431b431a}, {0x41c84188, 0x42b242a2}, {26032, 26408, 153008, 155432}},
      {31,
       {0x42ee42ec, 0x43774376, 0x42fe42fc, 0x437f437e},
       {0x427c425c, 0x42fe42ee},
       {128912, 130824, 264080, 268040}},
  };
  for (const Row& r : rows) {
    for (int i = 0; i < 4; ++i) EXPECT_EQ(ra[4 * r.lane + i], r.a[i]) << "lane " << r.lane << " A reg " << i;
    for (int i = 0; i < 2; ++i) EXPECT_EQ(rb[2 * r.lane + i], r.b[i]) << "lane " << r.lane << " B reg " << i;
    for (int i = 0; i < 4; ++i) EXPECT_EQ(rd[4 * r.lane + i], r.d[i]) << "lane " << r.lane << " d" << i;
  }
  // B from B^T (N x K) with .x2 equals B from K x N with .x2.trans, for every lane; every d is the
  // naive product D = A B (exact: integer data) at the C-fragment position of its lane.
  EXPECT_EQ(rb, rbt);
  for (int lane = 0; lane < 32; ++lane)
    for (int i = 0; i < 4; ++i) {
      const int m = lane / 4 + 8 * (i >> 1), n = 2 * (lane % 4) + (i & 1);
      double ref = 0;
      for (int k = 0; k < 16; ++k) ref += static_cast<double>(a[m * 16 + k]) * b[k * 8 + n];
      EXPECT_EQ(rd[4 * lane + i], ref) << "lane " << lane << " d" << i;
    }
}

TEST(EmuMma, LdmatrixTestVectors) {
  DevBuf<uint32_t> out(32 * 16);
  EXPECT_LAUNCH_OK(launch(ldmatrix_probe_kernel, dim3(1), dim3(32), 0, nullptr, out.get()));
  const auto o = out.download();
  auto pair = [](uint32_t lo, uint32_t hi) { return lo | hi << 16; };
  struct Row {
    int lane;
    uint32_t x4[4], x4t[4];
  };
  const Row rows[] = {
      {0,
       {pair(0, 1), pair(128, 129), pair(8, 9), pair(136, 137)},
       {pair(0, 16), pair(128, 144), pair(8, 24), pair(136, 152)}},
      {5,
       {pair(18, 19), pair(146, 147), pair(26, 27), pair(154, 155)},
       {pair(33, 49), pair(161, 177), pair(41, 57), pair(169, 185)}},
      {31,
       {pair(118, 119), pair(246, 247), pair(126, 127), pair(254, 255)},
       {pair(103, 119), pair(231, 247), pair(111, 127), pair(239, 255)}},
  };
  for (const Row& r : rows)
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(o[16 * r.lane + i], r.x4[i]) << "lane " << r.lane << " x4 d" << i;
      EXPECT_EQ(o[16 * r.lane + 4 + i], r.x4t[i]) << "lane " << r.lane << " x4.trans d" << i;
    }
  for (int l = 0; l < 32; ++l) {
    EXPECT_EQ(o[16 * l + 8], o[16 * l + 0]) << "x1 lane " << l;
    EXPECT_EQ(o[16 * l + 9], o[16 * l + 0]) << "x2 d0 lane " << l;
    EXPECT_EQ(o[16 * l + 10], o[16 * l + 1]) << "x2 d1 lane " << l;
    EXPECT_EQ(o[16 * l + 11], o[16 * l + 4]) << "x1.trans lane " << l;
  }
}

// C = A B through gemm_bf16_kernel<BKN> vs fp64 over the same bf16 inputs. Tolerance: each mma
// rounds its 16-term partial sum into the fp32 accumulator, so |error| <= (K / 16) 2^-24 sum|a b|.
template <bool BKN>
void check_gemm(int M, int N, int K, uint64_t seed) {
  ScopedConfig cfg;
  cfg->schedule_seed = seed;
  std::mt19937 rng(static_cast<unsigned>(M * 131 + N * 7 + K));
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> a(M * K), b(K * N);  // b is B (K x N)
  for (auto& v : a) v = u(rng);
  for (auto& v : b) v = u(rng);
  const auto ab = to_bf16(a), bb = to_bf16(b);
  std::vector<__nv_bfloat16> b_dev(K * N);  // BKN: K x N, else B^T: N x K
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < N; ++n) b_dev[BKN ? k * N + n : n * K + k] = bb[k * N + n];
  DevBuf<__nv_bfloat16> d_a(ab), d_b(b_dev);
  DevBuf<float> d_c(M * N);
  EXPECT_LAUNCH_OK(launch(gemm_bf16_kernel<BKN>, dim3((N + 31) / 32, (M + 31) / 32), dim3(128), 0, nullptr, d_a.get(),
                          d_b.get(), d_c.get(), M, N, K));
  const auto c = d_c.download();
  const auto ad = to_double(ab), bd = to_double(bb);
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double ref = 0, mag = 0;
      for (int k = 0; k < K; ++k) {
        ref += ad[m * K + k] * bd[k * N + n];
        mag += std::fabs(ad[m * K + k] * bd[k * N + n]);
      }
      const double tol = (K / 16.0 + 1.0) * std::ldexp(mag, -24);
      ASSERT_NEAR(c[m * N + n], ref, tol) << "C[" << m << "][" << n << "] BKN=" << BKN;
    }
}

TEST(EmuMma, TiledGemmBTransposedMatchesNaive) {
  check_gemm<false>(48, 40, 64, 0);
  check_gemm<false>(33, 17, 40, 21);
}
TEST(EmuMma, TiledGemmBRowMajorMatchesNaive) {
  check_gemm<true>(40, 48, 96, 0);
  check_gemm<true>(16, 32, 32, 8);
}

TEST(EmuMma, AttentionStepMatchesReference) {
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> q(16 * 32), k(16 * 32), v(16 * 16);
  for (auto& x : q) x = u(rng);
  for (auto& x : k) x = u(rng);
  for (auto& x : v) x = u(rng);
  const auto qb = to_bf16(q), kb = to_bf16(k), vb = to_bf16(v);
  DevBuf<__nv_bfloat16> d_q(qb), d_k(kb), d_v(vb);
  DevBuf<float> d_o(256);
  EXPECT_LAUNCH_OK(
      launch(attention_step_kernel, dim3(1), dim3(32), 0, nullptr, d_q.get(), d_k.get(), d_v.get(), d_o.get()));
  const auto o = d_o.download();
  const auto qd = to_double(qb), kd = to_double(kb), vd = to_double(vb);
  for (int i = 0; i < 16; ++i) {
    double s[16], mx = -1e300, sum = 0;
    for (int j = 0; j < 16; ++j) {
      s[j] = 0;
      for (int d = 0; d < 32; ++d) s[j] += qd[i * 32 + d] * kd[j * 32 + d];
      mx = std::max(mx, s[j]);
    }
    for (int j = 0; j < 16; ++j) sum += (s[j] = std::exp(s[j] - mx));
    for (int c = 0; c < 16; ++c) {
      double ref = 0, mag = 0;
      for (int j = 0; j < 16; ++j) {
        ref += static_cast<double>(float(__float2bfloat16(static_cast<float>(s[j])))) * vd[j * 16 + c];
        mag += s[j] * std::fabs(vd[j * 16 + c]);
      }
      // P is rounded to bf16 from a slightly different fp32 S: at most one bf16 ulp (2^-8 relative)
      // per term apart, plus fp32 rounding of S, exp and the sums.
      const double tol = (std::ldexp(1.0, -8) + 1e-5) * mag / sum;
      ASSERT_NEAR(o[i * 16 + c], ref / sum, tol) << "O[" << i << "][" << c << "]";
    }
  }
}

TEST(EmuCpAsync, GroupsZeroFillAndStrictPoison) {
  std::vector<float> src(16);
  for (int i = 0; i < 16; ++i) src[i] = static_cast<float>(i + 1);
  for (bool strict : {true, false}) {
    ScopedConfig cfg;
    cfg->poison = strict;
    DevBuf<float> d_src(src), d_out(30);
    EXPECT_LAUNCH_OK(launch(cp_async_probe_kernel, dim3(1), dim3(32), 0, nullptr, d_src.get(), d_out.get()));
    const auto out = d_out.download();
    for (int i = 0; i < 8; ++i) EXPECT_EQ(out[i], src[i]) << "G1/G2 retired by wait_group 1";
    for (int i = 8; i < 12; ++i) {
      if (strict)
        EXPECT_EQ(bits_of(out[i]), 0xffffffffu) << "G3 still pending reads as poison";
      else
        EXPECT_EQ(out[i], src[i]) << "synchronous mode copies at issue";
    }
    for (int i = 0; i < 12; ++i) EXPECT_EQ(out[12 + i], src[i]) << "after wait_all";
    // src-size 6 of 16: bytes 0-5 copied, 6-15 zero.
    unsigned char expect[16] = {};
    std::memcpy(expect, &src[12], 6);
    EXPECT_EQ(std::memcmp(&out[24], expect, 16), 0);
    EXPECT_EQ(bits_of(out[28]), 0u);
    EXPECT_EQ(bits_of(out[29]), 0u);
  }
}

}  // namespace
}  // namespace goat::emu_test
