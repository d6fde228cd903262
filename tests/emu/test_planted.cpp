// Planted bugs the emulation must catch: a missing __syncthreads (wrong answers under a random
// schedule), uninitialised shared memory and fresh allocations (NaN poison), deadlock, diverged
// warp masks, never-retired cp.async copies, and out-of-bounds writes (AddressSanitizer build only:
// scripts/test.sh configures build-asan with -DGOATLM_ASAN=ON and runs these there).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "emu_util.h"
#include "kernels/planted_kernels.cuh"

namespace goat::emu_test {
namespace {

using goat::simt::launch;

// Runs shift_kernel<WithBarrier> over 4 blocks of 128 threads; true when out[i] == in[i - 1].
template <bool WithBarrier>
bool shift_is_correct(uint64_t seed) {
  ScopedConfig cfg;
  cfg->schedule_seed = seed;
  const int n = 4 * 128;
  std::vector<float> in(n);
  for (int i = 0; i < n; ++i) in[i] = static_cast<float>(i + 1);
  DevBuf<float> d_in(in), d_out(n);
  EXPECT_LAUNCH_OK(
      launch(shift_kernel<WithBarrier>, dim3(4), dim3(128), 128 * sizeof(float), nullptr, d_in.get(), d_out.get()));
  const std::vector<float> out = d_out.download();
  for (int i = 0; i < n; ++i) {
    const int src = (i % 128 == 0) ? i : i - 1;
    if (!(out[i] == in[src])) return false;
  }
  return true;
}

TEST(EmuPlanted, MissingSyncthreadsIsCaughtByRandomSchedule) {
  // Thread order runs thread t-1 before t, which hides this bug ...
  EXPECT_TRUE(shift_is_correct<false>(0));
  // ... every randomised schedule exposes it, and the fixed kernel passes under all of them.
  for (uint64_t seed : {1ull, 2ull, 3ull, 99ull}) {
    EXPECT_FALSE(shift_is_correct<false>(seed)) << "seed " << seed << " did not expose the missing barrier";
    EXPECT_TRUE(shift_is_correct<true>(seed)) << "seed " << seed;
  }
}

TEST(EmuPlanted, ScheduleDependenceHelperFlagsTheRace) {
  const int n = 2 * 128;
  std::vector<float> in(n);
  for (int i = 0; i < n; ++i) in[i] = static_cast<float>(i + 1);
  DevBuf<float> d_in(in), d_out(n);
  auto run = [&](auto kernel) {
    return [&, kernel] {
      EXPECT_LAUNCH_OK(launch(kernel, dim3(2), dim3(128), 128 * sizeof(float), nullptr, d_in.get(), d_out.get()));
      std::vector<uint32_t> bits;
      for (float f : d_out.download()) bits.push_back(bits_of(f));
      return bits;
    };
  };
  EXPECT_NE(goat::simt::first_schedule_dependence(run(shift_kernel<false>)), 0u);
  EXPECT_EQ(goat::simt::first_schedule_dependence(run(shift_kernel<true>)), 0u);
}

TEST(EmuPlanted, UninitialisedStaticSharedReadsNaN) {
  DevBuf<float> out(64);
  EXPECT_LAUNCH_OK(launch(uninit_static_kernel, dim3(1), dim3(64), 0, nullptr, out.get()));
  const std::vector<float> v = out.download();
  for (int i = 0; i < 32; ++i) EXPECT_EQ(v[i], static_cast<float>(i));
  for (int i = 32; i < 64; ++i) EXPECT_TRUE(std::isnan(v[i])) << i;
}

TEST(EmuPlanted, UninitialisedStaticSharedInTemplateKernelReadsNaN) {
  DevBuf<float> out(64);
  for (int rep = 0; rep < 2; ++rep) {  // the second launch must not see the first one's values
    EXPECT_LAUNCH_OK(launch(uninit_static_template_kernel<64>, dim3(1), dim3(64), 0, nullptr, out.get()));
    const std::vector<float> v = out.download();
    for (int i = 0; i < 32; ++i) EXPECT_EQ(v[i], static_cast<float>(i));
    for (int i = 32; i < 64; ++i) EXPECT_TRUE(std::isnan(v[i])) << i;
  }
}

TEST(EmuPlanted, UninitialisedDynamicSharedReadsNaN) {
  DevBuf<float> out(64);
  EXPECT_LAUNCH_OK(launch(uninit_dynamic_kernel, dim3(1), dim3(64), 64 * sizeof(float), nullptr, out.get()));
  const std::vector<float> v = out.download();
  for (int i = 0; i < 32; ++i) EXPECT_EQ(v[i], static_cast<float>(i));
  for (int i = 32; i < 64; ++i) EXPECT_TRUE(std::isnan(v[i])) << i;
}

TEST(EmuPlanted, FreshAllocationReadsNaN) {
  DevBuf<float> buf(100);
  for (float f : buf.download()) EXPECT_TRUE(std::isnan(f));
}

// Expects the launch to fail with cudaErrorLaunchFailure and a fault message containing `what`.
template <typename... A>
void expect_fault(const std::string& what, A&&... launch_args) {
  EXPECT_EQ(launch(std::forward<A>(launch_args)...), cudaErrorLaunchFailure);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  EXPECT_NE(goat::simt::last_fault_message().find(what), std::string::npos) << goat::simt::last_fault_message();
}

TEST(EmuPlanted, DeadlockIsReported) {
  DevBuf<int> out(32);
  expect_fault("deadlock", deadlock_kernel, dim3(1), dim3(32), 0, nullptr, out.get());
  // The emulator recovers: the next launch works.
  DevBuf<float> in(std::vector<float>(128, 1.0f)), good(128);
  EXPECT_LAUNCH_OK(launch(shift_kernel<true>, dim3(1), dim3(128), 128 * sizeof(float), nullptr, in.get(), good.get()));
  EXPECT_EQ(good.download(), std::vector<float>(128, 1.0f));
}

TEST(EmuPlanted, DivergedWarpMaskIsReported) {
  DevBuf<int> out(32);
  expect_fault("diverged", diverged_mask_kernel, dim3(1), dim3(32), 0, nullptr, out.get());
}

TEST(EmuPlanted, UnretiredCpAsyncIsReported) {
  DevBuf<float> src(std::vector<float>(4, 1.0f)), out(32);
  expect_fault("never retired", cp_async_unwaited_kernel, dim3(1), dim3(32), 0, nullptr, src.get(), out.get());
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif

TEST(EmuPlantedDeathTest, OutOfBoundsGlobalWriteAbortsUnderAsan) {
  if (!kAsan) GTEST_SKIP() << "needs an AddressSanitizer build (-DGOATLM_ASAN=ON; scripts/test.sh runs it)";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        float* out = nullptr;
        cudaMalloc(&out, 100 * sizeof(float));
        launch(oob_write_kernel, dim3(4), dim3(32), 0, nullptr, out, 100);
      },
      "AddressSanitizer: heap-buffer-overflow");
}

TEST(EmuPlantedDeathTest, OutOfBoundsSharedWriteAbortsUnderAsan) {
  if (!kAsan) GTEST_SKIP() << "needs an AddressSanitizer build (-DGOATLM_ASAN=ON; scripts/test.sh runs it)";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        float* out = nullptr;
        cudaMalloc(&out, 64 * sizeof(float));
        launch(oob_shared_kernel, dim3(1), dim3(64), 64 * sizeof(float), nullptr, out);
      },
      "AddressSanitizer: heap-buffer-overflow");
}

}  // namespace
}  // namespace goat::emu_test
