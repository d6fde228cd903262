// Barrier semantics under the emulation: a shared-memory tree reduction, a padded tiled
// transpose and __syncthreads_count/and/or, each in thread order and under seeded random
// schedules, with blocks on one or several OS threads. References are plain host loops.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "emu_util.h"
#include "kernels/barrier_kernels.cuh"

namespace goat::emu_test {
namespace {

using goat::simt::launch;

struct Schedule {
  uint64_t seed;
  int threads;
};
const Schedule kSchedules[] = {{0, 1}, {0, 3}, {11, 1}, {12345, 2}};

TEST(EmuBarrier, BlockReductionMatchesHostSum) {
  const int blocks = 8;
  std::mt19937 rng(1);
  std::vector<float> in(blocks * 256);
  for (auto& v : in) v = static_cast<float>(static_cast<int>(rng() % 201) - 100);  // exact sums
  std::vector<float> ref(blocks, 0.0f);
  for (int b = 0; b < blocks; ++b)
    for (int i = 0; i < 256; ++i) ref[b] += in[b * 256 + i];
  for (const Schedule& s : kSchedules) {
    ScopedConfig cfg;
    cfg->schedule_seed = s.seed;
    cfg->threads = s.threads;
    DevBuf<float> d_in(in), d_out(blocks);
    EXPECT_LAUNCH_OK(launch(block_sum_kernel, dim3(blocks), dim3(256), 0, nullptr, d_in.get(), d_out.get()));
    EXPECT_EQ(d_out.download(), ref) << "seed " << s.seed << " threads " << s.threads;
  }
}

TEST(EmuBarrier, TiledTransposeIsExact) {
  const int rows = 70, cols = 45;
  std::vector<float> in(rows * cols), ref(rows * cols);
  for (int i = 0; i < rows * cols; ++i) in[i] = static_cast<float>(i) * 0.5f;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) ref[c * rows + r] = in[r * cols + c];
  for (const Schedule& s : kSchedules) {
    ScopedConfig cfg;
    cfg->schedule_seed = s.seed;
    cfg->threads = s.threads;
    DevBuf<float> d_in(in), d_out(rows * cols);
    EXPECT_LAUNCH_OK(launch(transpose_kernel, dim3((cols + 31) / 32, (rows + 31) / 32), dim3(32, 8), 0, nullptr,
                            d_in.get(), d_out.get(), rows, cols));
    EXPECT_EQ(d_out.download(), ref) << "seed " << s.seed;
  }
}

TEST(EmuBarrier, SyncthreadsCountAndOr) {
  const int blocks = 3, threads = 96;
  std::vector<int> pred(blocks * threads, 0);
  for (int t = 0; t < threads; ++t) {
    pred[t] = 1;                         // block 0: all true
    pred[2 * threads + t] = t % 7 == 0;  // block 2: some
  }                                      // block 1: none
  std::vector<int> ref;
  for (int b = 0; b < blocks; ++b) {
    int c = 0;
    for (int t = 0; t < threads; ++t) c += pred[b * threads + t] != 0;
    ref.insert(ref.end(), {c, c == threads, c != 0});
  }
  for (const Schedule& s : kSchedules) {
    ScopedConfig cfg;
    cfg->schedule_seed = s.seed;
    DevBuf<int> d_pred(pred), d_out(3 * blocks);
    EXPECT_LAUNCH_OK(launch(sync_vote_kernel, dim3(blocks), dim3(threads), 0, nullptr, d_pred.get(), d_out.get()));
    EXPECT_EQ(d_out.download(), ref);
  }
}

}  // namespace
}  // namespace goat::emu_test
