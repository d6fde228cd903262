// Atomics from 16384 threads in 64 blocks spread over 4 OS threads: integer and float adds, a
// CAS-loop increment, max/min, 64-bit adds and exchange, against host loops (all exact).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "emu_util.h"
#include "kernels/atomic_kernels.cuh"

namespace goat::emu_test {
namespace {

TEST(EmuAtomics, ManyThreadsInParallelBlocks) {
  const int blocks = 64, threads = 256, n = blocks * threads;
  std::mt19937 rng(5);
  std::vector<int> values(n);
  for (auto& v : values) v = static_cast<int>(rng() % 2000001) - 1000000;
  float fsum = 0.0f;
  unsigned long long usum = 0;
  for (int v : values) {
    fsum += static_cast<float>(v & 7);
    usum += static_cast<unsigned long long>(v) << 20;
  }
  ScopedConfig cfg;
  cfg->threads = 4;
  for (int rep = 0; rep < 3; ++rep) {
    AtomicCounters init{0, 0u, 0.0f, -2000000, 2000000, 0ull, -1};
    DevBuf<AtomicCounters> c(std::vector<AtomicCounters>{init});
    DevBuf<int> d_values(values), prev(n);
    EXPECT_LAUNCH_OK(goat::simt::launch(atomics_kernel, dim3(blocks), dim3(threads), 0, nullptr, d_values.get(),
                                        c.get(), prev.get()));
    const AtomicCounters r = c.download()[0];
    EXPECT_EQ(r.count, n);
    EXPECT_EQ(r.cas_count, static_cast<unsigned>(n));
    EXPECT_EQ(r.fsum, fsum);
    EXPECT_EQ(r.imax, *std::max_element(values.begin(), values.end()));
    EXPECT_EQ(r.imin, *std::min_element(values.begin(), values.end()));
    EXPECT_EQ(r.usum, usum);
    std::vector<int> seen = prev.download();
    seen.push_back(r.last);
    std::sort(seen.begin(), seen.end());
    for (int i = 0; i <= n; ++i) ASSERT_EQ(seen[i], i - 1) << "atomicExch lost or duplicated a value";
  }
}

TEST(EmuAtomics, Bf16AddsAreExactForSmallCounts) {
  ScopedConfig cfg;
  cfg->threads = 4;
  const int blocks = 64, threads = 256;  // every slot gets 64 adds: 64 and 128 are exact in bf16
  DevBuf<__nv_bfloat16> slots(std::vector<__nv_bfloat16>(256, __float2bfloat16(0.0f)));
  DevBuf<__nv_bfloat162> pairs(std::vector<__nv_bfloat162>(256, __floats2bfloat162_rn(0.0f, 0.0f)));
  EXPECT_LAUNCH_OK(
      goat::simt::launch(bf16_atomics_kernel, dim3(blocks), dim3(threads), 0, nullptr, slots.get(), pairs.get()));
  for (const auto& v : slots.download()) EXPECT_EQ(float(v), 64.0f);
  for (const auto& v : pairs.download()) {
    EXPECT_EQ(float(v.x), 64.0f);
    EXPECT_EQ(float(v.y), 128.0f);
  }
}

}  // namespace
}  // namespace goat::emu_test
