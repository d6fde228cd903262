// Warp primitives under the emulation against scalar host code written from the CUDA Programming
// Guide's description (not from the PTX formula the emulator uses): every shuffle variant at
// every width, split masks and 64-bit/bf16 payloads, ballot/any/all with partial masks,
// __reduce_add_sync, and __syncwarp ordering of shared-memory traffic.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "emu_util.h"
#include "kernels/warp_kernels.cuh"

namespace goat::emu_test {
namespace {

using goat::simt::launch;

// Source lane per the Programming Guide (lane = thread % 32, segments of `width` lanes).
int reference_source(Shfl mode, int lane, int b, int width) {
  const int seg = lane / width * width;
  switch (mode) {
    case Shfl::idx:
      return seg + b % width;
    case Shfl::up:
      return lane - b < seg ? lane : lane - b;
    case Shfl::down:
      return lane + b >= seg + width ? lane : lane + b;
    case Shfl::bfly:
      return (lane ^ b) >= seg + width ? lane : (lane ^ b);
  }
  return -1;
}

TEST(EmuWarp, EveryShuffleVariantAndWidthMatchesScalarCode) {
  const int n = 64;  // two warps
  std::vector<float> in(n);
  for (int i = 0; i < n; ++i) in[i] = static_cast<float>(1000 + i);
  DevBuf<float> d_in(in), d_out(n);
  ScopedConfig cfg;
  int cases = 0;
  for (uint64_t seed : {0ull, 7ull}) {
    cfg->schedule_seed = seed;
    for (Shfl mode : {Shfl::idx, Shfl::up, Shfl::down, Shfl::bfly}) {
      for (int width : {1, 2, 4, 8, 16, 32}) {
        for (int b : {0, 1, 2, 3, 5, 8, 13, 16, 31}) {
          EXPECT_LAUNCH_OK(launch(shfl_kernel, dim3(1), dim3(n), 0, nullptr, d_in.get(), d_out.get(),
                                  static_cast<int>(mode), b, width));
          const std::vector<float> out = d_out.download();
          for (int t = 0; t < n; ++t) {
            const int src = (t / 32) * 32 + reference_source(mode, t % 32, b, width);
            ASSERT_EQ(out[t], in[src]) << "mode " << static_cast<int>(mode) << " width " << width << " b " << b
                                       << " thread " << t;
          }
          ++cases;
        }
      }
    }
  }
  EXPECT_EQ(cases, 2 * 4 * 6 * 9);
}

TEST(EmuWarp, SplitMasksAndWidePayloads) {
  const int n = 64;
  std::vector<double> in(n);
  for (int i = 0; i < n; ++i) in[i] = 0.25 * i + 1e-12 * i;  // needs all 64 bits
  DevBuf<double> d_in(in), d_out(n);
  DevBuf<__nv_bfloat16> d_h(n);
  EXPECT_LAUNCH_OK(launch(shfl_split_kernel, dim3(1), dim3(n), 0, nullptr, d_in.get(), d_out.get(), d_h.get()));
  const std::vector<double> out = d_out.download();
  const std::vector<__nv_bfloat16> h = d_h.download();
  for (int t = 0; t < n; ++t) {
    const int lane = t % 32, base = t - lane;
    const int src = lane < 16 ? base + (lane + 1) % 16 : base + 16;
    EXPECT_EQ(out[t], in[src]) << t;
    EXPECT_EQ(h[t].__x, __float2bfloat16(static_cast<float>(in[t ^ 1])).__x) << t;
  }
}

TEST(EmuWarp, BallotAnyAllAndReduce) {
  const int n = 96;  // three warps
  std::mt19937 rng(3);
  for (unsigned mask : {0xffffffffu, 0x0000ffffu, 0xaaaaaaaau, 0x00000010u}) {
    for (int density : {0, 1, 2, 4}) {  // all false, all true, ~half, ~quarter
      std::vector<int> pred(n);
      for (auto& p : pred) p = density == 0 ? 0 : density == 1 ? 1 : (rng() % density == 0);
      DevBuf<int> d_pred(pred);
      DevBuf<unsigned> d_out(std::vector<unsigned>(4 * 3, 0u));
      EXPECT_LAUNCH_OK(launch(vote_kernel, dim3(1), dim3(n), 0, nullptr, d_pred.get(), mask, d_out.get()));
      const std::vector<unsigned> out = d_out.download();
      for (int w = 0; w < 3; ++w) {
        unsigned ballot = 0, total = 0;
        for (int l = 0; l < 32; ++l) {
          if ((mask >> l & 1u) && pred[32 * w + l]) ballot |= 1u << l;
          total += static_cast<unsigned>(pred[32 * w + l] != 0);
        }
        EXPECT_EQ(out[4 * w], ballot) << "mask " << mask << " warp " << w;
        EXPECT_EQ(out[4 * w + 1], ballot != 0 ? 1u : 0u);
        EXPECT_EQ(out[4 * w + 2], ballot == mask ? 1u : 0u);
        EXPECT_EQ(out[4 * w + 3], total);
      }
    }
  }
}

TEST(EmuWarp, SyncwarpOrdersSharedMemory) {
  ScopedConfig cfg;
  std::vector<int> in(64);
  for (int i = 0; i < 64; ++i) in[i] = 3 * i + 1;
  for (uint64_t seed : {0ull, 5ull, 6ull}) {
    cfg->schedule_seed = seed;
    DevBuf<int> d_in(in), d_out(64);
    EXPECT_LAUNCH_OK(launch(syncwarp_kernel, dim3(1), dim3(64), 0, nullptr, d_in.get(), d_out.get()));
    const std::vector<int> out = d_out.download();
    for (int t = 0; t < 64; ++t) EXPECT_EQ(out[t], in[(t & ~31) + 31 - (t & 31)]);
  }
}

}  // namespace
}  // namespace goat::emu_test
