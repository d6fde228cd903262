// CUDA backend runtime behaviour: errors name the op (a trapped kernel, mixed devices), the
// caching allocator reuses freed blocks, and the stub/real/emulated status line.
// Skipped where the build has no CUDA backend or device.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend/cuda/cuda_ops.h"
#include "core/check.h"
#include "core/device_info.h"
#include "ops/attention.h"
#include "ops/embedding.h"
#include "ops/elementwise.h"

namespace goat::cuda_test {
namespace {

#define REQUIRE_DEVICE()                                                                     \
  if (!cuda::built() || cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device: " << cuda_status()

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CudaRuntime, StatusLineMatchesBuild) {
  const std::string s = cuda_status();
  if (cuda::emulated())
    EXPECT_NE(s.find("emulated"), std::string::npos) << s;
  else if (cuda::built())
    EXPECT_NE(s.find("built with CUDA"), std::string::npos) << s;
  else
    EXPECT_NE(s.find("not built"), std::string::npos) << s;
}

TEST(CudaRuntime, AllocatorReusesFreedBlocks) {
  REQUIRE_DEVICE();
  cuda::release_cached();
  void* a = cuda::alloc(1000);
  cuda::free(a);
  EXPECT_EQ(cuda::cached_bytes(), 1024u);  // rounded to 512 bytes
  void* b = cuda::alloc(900);              // same bucket: the same block comes back
  EXPECT_EQ(a, b);
  EXPECT_EQ(cuda::cached_bytes(), 0u);
  cuda::free(b);
  cuda::release_cached();
  EXPECT_EQ(cuda::cached_bytes(), 0u);
  EXPECT_NE(error_of([] { cuda::free(reinterpret_cast<void*>(0x1000)); }).find("[cuda alloc]"), std::string::npos);
}

TEST(CudaRuntime, TrappedKernelIsAnErrorNamingTheOp) {
  REQUIRE_DEVICE();
  const int64_t c = 4, v = 3;
  void* out = cuda::alloc(2 * c * 4);
  void* wte = cuda::alloc(v * c * 4);
  auto* tok = static_cast<int32_t*>(cuda::alloc(2 * 4));
  const int32_t bad[2] = {1, 7};
  cuda::copy_to_device(tok, bad, sizeof bad);
  const std::string msg = error_of([&] {
    ops::embedding_forward(Tensor(out, {1, 2, c}, DType::f32, Device::cuda), tok,
                           Tensor(wte, {v, c}, DType::f32, Device::cuda), Tensor());
  });
  EXPECT_NE(msg.find("[cuda embedding] forward kernel"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cudaErrorLaunchFailure"), std::string::npos) << msg;
  cuda::free(out), cuda::free(wte), cuda::free(tok);
}

TEST(CudaRuntime, MixedDevicesAreErrors) {
  std::vector<float> host(8);
  Tensor cpu_t(host.data(), {8});
  Tensor fake_cuda(host.data(), {8}, DType::f32, Device::cuda);  // never dereferenced: checks fail first
  EXPECT_NE(error_of([&] { ops::add_forward(cpu_t, cpu_t, fake_cuda); }).find("[add] device cuda not supported together"),
            std::string::npos);
}

}  // namespace
}  // namespace goat::cuda_test
