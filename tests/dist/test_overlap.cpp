// The overlapped gradient all-reduce on the CPU (dist/overlap_check.h says what is checked);
// test_cuda runs the same check on device cuda.
#include "dist/overlap_check.h"

namespace goat {
namespace {

TEST(OverlappedAllReduce, BucketsLaunchOnceWhenCompleteCpu) { test::check_overlapped_allreduce(Device::cpu, 1); }
TEST(OverlappedAllReduce, BucketsLaunchOnceWhenCompleteCpuGradAccum3) {
  test::check_overlapped_allreduce(Device::cpu, 3);
}

}  // namespace
}  // namespace goat
