// amx_matmul (our AMX bf16 GEMM, gemm_amx.h) against an fp64 reference of the same bf16 operands,
// every element, with a computed tolerance: the only error left is the fp32 accumulation, bounded
// by γ_{K+2} · (Σ|a||b| + |bias| + |C_in|) (u32 = 2^-24), plus, for a bf16 C, the final rounding
// u16 · |C| (u16 = 2^-8). Covers both B layouts (the forward's wᵀ and d_in's w), row strides
// wider than the matrices, the bias epilogue (with and without accumulation into C), accumulation
// into C, a bf16 C, single-step and long K, odd row/column block counts, A read in place and A
// packed (amx_reads_a_in_place: row stride, alignment), the forward's B packed by the word
// transpose (even ldb) and by the scalar loop (odd ldb) and the dispatch from matmul_bf16.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "backend/cpu/aligned_scratch.h"
#include "backend/cpu/gemm_amx.h"
#include "backend/cpu/gemm_bf16.h"
#include "core/dtype.h"
#include "core/philox.h"

using namespace goat;

namespace {

struct AmxCase {
  bool tb;
  int64_t m, n, k, pad;
  bool bias, accumulate, c_bf16;
  int64_t a_shift = 0;  // A starts this many elements past a 64-byte boundary
};

// Runs the case; counts in *in_place / *packed which path amx_matmul took for A (amx_reads_a_in_place).
// (ASSERT_* needs a void function.)
void run_amx_case(const AmxCase& t, bool through_matmul_bf16, int* in_place = nullptr, int* packed = nullptr) {
  const int64_t br = t.tb ? t.n : t.k, bc = t.tb ? t.k : t.n;
  const int64_t lda = t.k + t.pad, ldb = bc + t.pad, ldc = t.n + t.pad;
  cpu::AlignedScratch a_store;  // A's placement decides the AMX GEMM's path: 64-byte aligned here
  const std::span<uint16_t> a(a_store.get<uint16_t>(t.m * lda + t.a_shift) + t.a_shift, static_cast<size_t>(t.m * lda));
  std::vector<uint16_t> b(static_cast<size_t>(br * ldb));
  std::vector<float> bias(static_cast<size_t>(t.n)), c0(static_cast<size_t>(t.m * ldc));
  const Rng rng(5, RngPurpose::test, static_cast<uint64_t>(t.m * 7 + t.n * 3 + t.k));
  for (size_t i = 0; i < a.size(); ++i) a[i] = bf16::from_float(rng.normal(i)).bits;
  for (size_t i = 0; i < b.size(); ++i) b[i] = bf16::from_float(rng.normal(1000000 + i)).bits;
  for (size_t i = 0; i < bias.size(); ++i) bias[i] = rng.normal(2000000 + i);
  for (size_t i = 0; i < c0.size(); ++i) c0[i] = rng.normal(3000000 + i);
  std::vector<float> out_f = c0;
  std::vector<uint16_t> out_h(c0.size(), 0x7fc1);  // a NaN pattern: cells not written stay it
  const cpu::Bf16Out out = t.c_bf16 ? cpu::Bf16Out{out_h.data(), ldc, true} : cpu::Bf16Out{out_f.data(), ldc, false};
  const float* bp = t.bias ? bias.data() : nullptr;
  if (through_matmul_bf16)
    cpu::matmul_bf16(false, t.tb, t.m, t.n, t.k, 1.f, a.data(), lda, b.data(), ldb, t.accumulate ? 1.f : 0.f, out, bp);
  else
    cpu::amx_matmul(t.tb, t.m, t.n, t.k, a.data(), lda, b.data(), ldb, t.accumulate, out, bp);
  if (in_place) ++*(cpu::amx_reads_a_in_place(a.data(), lda) ? in_place : packed);
  const double u32 = std::ldexp(1.0, -24), u16 = std::ldexp(1.0, -8);
  const double gamma = static_cast<double>(t.k + 2) * u32 / (1.0 - static_cast<double>(t.k + 2) * u32);
  const auto A = [&](int64_t i, int64_t p) { return bf16::from_bits(a[static_cast<size_t>(i * lda + p)]).to_float(); };
  const auto B = [&](int64_t p, int64_t j) {
    return bf16::from_bits(b[static_cast<size_t>(t.tb ? j * ldb + p : p * ldb + j)]).to_float();
  };
  for (int64_t i = 0; i < t.m; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      const size_t at = static_cast<size_t>(i * ldc + j);
      if (j >= t.n) {  // row padding: never written
        if (t.c_bf16)
          ASSERT_EQ(out_h[at], 0x7fc1);
        else
          ASSERT_EQ(out_f[at], c0[at]);
        continue;
      }
      double want = 0, scale = 0;
      for (int64_t p = 0; p < t.k; ++p) {
        want += static_cast<double>(A(i, p)) * B(p, j);
        scale += std::abs(static_cast<double>(A(i, p)) * B(p, j));
      }
      if (t.bias) want += bias[static_cast<size_t>(j)], scale += std::abs(bias[static_cast<size_t>(j)]);
      if (t.accumulate) want += c0[at], scale += std::abs(c0[at]);
      double tol = gamma * scale + u32 * std::abs(want);
      if (t.c_bf16) tol = tol * (1 + u16) + u16 * std::abs(want);
      const double got = t.c_bf16 ? bf16::from_bits(out_h[at]).to_float() : out_f[at];
      ASSERT_LE(std::abs(got - want), tol)
          << "at (" << i << ", " << j << ") m=" << t.m << " n=" << t.n << " k=" << t.k << " trans_b=" << t.tb
          << " bias=" << t.bias << " acc=" << t.accumulate << " bf16 C=" << t.c_bf16;
    }
}

bool amx_available() { return cpu::amx_matmul_applies(false, 32, 32, 32, 1.f, 0.f, false); }

}  // namespace

TEST(GemmAmx, MatchesFp64OfBf16Operands) {
  if (!amx_available()) GTEST_SKIP() << "no AMX-BF16 in this build or on this CPU";
  const AmxCase cases[] = {
      {true, 64, 96, 320, 0, true, false, false},       // forward: in · wᵀ + bias, K over two chunks
      {true, 96, 64, 64, 3, true, false, true},         // forward, bf16 C (c_fc's output), padded rows
      {false, 64, 32, 544, 5, false, false, false},     // d_in = d_out · w, three chunks
      {false, 32, 128, 96, 0, false, true, false},      // d_in accumulated into
      {false, 128, 64, 256, 2, false, false, true},     // d_in, bf16 C (c_proj's d_in)
      {true, 32, 32, 32, 0, false, true, false},        // one block, one step
      {true, 32, 64, 32, 0, true, true, false},         // bias and accumulation together, one step
      {false, 96, 160, 32, 7, true, false, true},       // d_in layout with a bias, bf16 C, odd block counts
      {true, 160, 32, 1056, 1, false, false, false},    // 5 row blocks, one column block, 33 K steps
      {true, 64, 96, 1024, 0, true, false, false},      // the longest rows A is read in place at
      {false, 64, 64, 256, 0, false, false, true, 16},  // A 32 bytes off a cache line: packed
      {true, 64, 64, 1056, 0, true, false, true},       // rows past 2 KiB, aligned: packed
  };
  int in_place = 0, packed = 0;
  for (const AmxCase& c : cases) run_amx_case(c, false, &in_place, &packed);
  EXPECT_GE(in_place, 4);  // both A paths (amx_reads_a_in_place) are covered
  EXPECT_GE(packed, 4);
}

TEST(GemmAmx, MatmulBf16DispatchesAndMatches) {
  // Without AMX matmul_bf16 runs oneDNN: the same bound holds, so the test runs everywhere.
  // matmul_bf16 takes the AMX GEMM wherever it applies (A not transposed), else oneDNN.
  run_amx_case({true, 64, 512, 288, 1, true, false, false}, true);
  run_amx_case({false, 32, 544, 64, 0, false, false, true}, true);
  run_amx_case({false, 64, 256, 96, 2, false, true, false}, true);
  run_amx_case({true, 64, 256, 64, 0, true, false, false}, true);
  run_amx_case({false, 64, 96, 64, 0, false, true, false}, true);
  EXPECT_EQ(cpu::amx_matmul_applies(true, 64, 64, 64, 1.f, 0.f, false), false);   // transposed A: oneDNN
  EXPECT_EQ(cpu::amx_matmul_applies(false, 48, 64, 64, 1.f, 0.f, false), false);  // m not a multiple of 32
  EXPECT_EQ(cpu::amx_matmul_applies(false, 64, 64, 64, 1.f, 1.f, true), false);   // accumulate into bf16
  EXPECT_EQ(cpu::amx_matmul_applies(false, 64, 64, 64, 2.f, 0.f, false), false);  // alpha
}

TEST(GemmAmx, PackedScratchIs64ByteAligned) {
  // The packed tile operands must start on a cache line (aligned_scratch.h); grown, they stay so.
  cpu::AlignedScratch scratch;
  for (const int64_t count : {1, 33, 1000, 70000, 300000, 20}) {
    uint16_t* p = scratch.get<uint16_t>(count);
    ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u) << count;
    p[count - 1] = 7;  // the whole range is writable (ASan checks it)
    p[0] = 1;
  }
  ASSERT_EQ(reinterpret_cast<uintptr_t>(scratch.get<float>(12345)) % 64, 0u);
}
