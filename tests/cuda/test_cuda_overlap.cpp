// The overlapped gradient all-reduce on device cuda (the comm stream and its events; in the EMU
// build the emulated device, where every stream operation completes in program order, so the
// data a bucket's all-reduce reads is exactly what the event recorded before it covers).
// What is checked: tests/dist/overlap_check.h.
#include "../dist/overlap_check.h"
#include "backend/cuda/cuda_ops.h"
#include "core/device_info.h"

namespace goat {
namespace {

TEST(CudaOverlap, BucketsLaunchOnceWhenComplete) {
  if (!cuda::built() || cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device: " << cuda_status();
  test::check_overlapped_allreduce(Device::cuda, 1);
}
TEST(CudaOverlap, BucketsLaunchOnceWhenCompleteGradAccum2) {
  if (!cuda::built() || cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device: " << cuda_status();
  test::check_overlapped_allreduce(Device::cuda, 2);
}

}  // namespace
}  // namespace goat
