// The emulated CUDA runtime: allocation, copies, memset, streams, events, device properties and
// the error codes the real runtime returns for misuse (values from driver_types.h).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "emu_util.h"
#include "kernels/runtime_kernels.cuh"

namespace goat::emu_test {
namespace {

using goat::simt::launch;

TEST(EmuRuntime, ErrorCodesHaveCudaValues) {
  EXPECT_EQ(static_cast<int>(cudaErrorInvalidValue), 1);
  EXPECT_EQ(static_cast<int>(cudaErrorMemoryAllocation), 2);
  EXPECT_EQ(static_cast<int>(cudaErrorInvalidConfiguration), 9);
  EXPECT_EQ(static_cast<int>(cudaErrorInvalidMemcpyDirection), 21);
  EXPECT_EQ(static_cast<int>(cudaErrorInvalidResourceHandle), 400);
  EXPECT_EQ(static_cast<int>(cudaErrorLaunchFailure), 719);
  EXPECT_STREQ(cudaGetErrorName(cudaErrorLaunchFailure), "cudaErrorLaunchFailure");
  EXPECT_STREQ(cudaGetErrorString(cudaErrorInvalidValue), "invalid argument");
}

TEST(EmuRuntime, MemoryRoundTripAndMisuse) {
  float* d = nullptr;
  ASSERT_EQ(cudaMalloc(&d, 64 * sizeof(float)), cudaSuccess);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(d) % 256, 0u);
  std::vector<float> h(64), back(64);
  for (int i = 0; i < 64; ++i) h[i] = static_cast<float>(i);
  EXPECT_EQ(cudaMemcpy(d, h.data(), 64 * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(back.data(), d, 64 * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(back, h);
  EXPECT_EQ(cudaMemset(d, 0, 32 * sizeof(float)), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(back.data(), d, 64 * sizeof(float), cudaMemcpyDefault), cudaSuccess);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(back[i], i < 32 ? 0.0f : h[i]);

  // Misuse returns CUDA's codes and sets the last error, which cudaGetLastError then clears.
  EXPECT_EQ(cudaMemcpy(d, h.data(), 65 * sizeof(float), cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(d, h.data(), 4, static_cast<cudaMemcpyKind>(7)), cudaErrorInvalidMemcpyDirection);
  EXPECT_EQ(cudaMemset(h.data(), 0, 4), cudaErrorInvalidValue);
  EXPECT_EQ(cudaFree(h.data()), cudaErrorInvalidValue);
  EXPECT_EQ(cudaPeekAtLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(cudaFree(d), cudaSuccess);
  EXPECT_EQ(cudaFree(d), cudaErrorInvalidValue);  // double free
  EXPECT_EQ(cudaFree(nullptr), cudaSuccess);
  cudaGetLastError();
}

TEST(EmuRuntime, StreamsEventsAndProperties) {
  cudaStream_t s = nullptr;
  cudaEvent_t a = nullptr, b = nullptr;
  ASSERT_EQ(cudaStreamCreate(&s), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&a), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&b), cudaSuccess);
  EXPECT_EQ(cudaEventRecord(a, s), cudaSuccess);
  DevBuf<float> out(100);
  EXPECT_LAUNCH_OK(launch(fill_kernel, dim3(4), dim3(32), 0, s, out.get(), 2.5f, 100));
  EXPECT_EQ(cudaEventRecord(b, s), cudaSuccess);
  EXPECT_EQ(cudaStreamWaitEvent(nullptr, b), cudaSuccess);
  EXPECT_EQ(cudaEventSynchronize(b), cudaSuccess);
  float ms = -1.0f;
  EXPECT_EQ(cudaEventElapsedTime(&ms, a, b), cudaSuccess);
  EXPECT_GE(ms, 0.0f);
  EXPECT_EQ(out.download(), std::vector<float>(100, 2.5f));
  EXPECT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(s), cudaSuccess);
  EXPECT_EQ(launch(fill_kernel, dim3(1), dim3(32), 0, s, out.get(), 1.0f, 100), cudaErrorInvalidResourceHandle);
  EXPECT_EQ(cudaEventDestroy(a), cudaSuccess);
  EXPECT_EQ(cudaEventDestroy(b), cudaSuccess);
  EXPECT_EQ(cudaEventDestroy(b), cudaErrorInvalidResourceHandle);
  cudaDeviceProp p;
  EXPECT_EQ(cudaGetDeviceProperties(&p, 0), cudaSuccess);
  EXPECT_EQ(p.warpSize, 32);
  EXPECT_EQ(p.major, 8);
  EXPECT_EQ(cudaGetDeviceProperties(&p, 1), cudaErrorInvalidDevice);
  cudaGetLastError();
}

TEST(EmuRuntime, LaunchConfigurationIsValidated) {
  DevBuf<float> out(64);
  EXPECT_EQ(launch(fill_kernel, dim3(1), dim3(2048), 0, nullptr, out.get(), 1.0f, 64), cudaErrorInvalidConfiguration);
  EXPECT_EQ(launch(fill_kernel, dim3(0), dim3(32), 0, nullptr, out.get(), 1.0f, 64), cudaErrorInvalidConfiguration);
  EXPECT_EQ(launch(fill_kernel, dim3(1), dim3(32, 1, 65), 0, nullptr, out.get(), 1.0f, 64),
            cudaErrorInvalidConfiguration);
  // More than 48 KiB of dynamic shared memory needs cudaFuncSetAttribute first, as on the GPU.
  const size_t big = 64 * 1024;
  EXPECT_EQ(launch(dyn_smem_kernel, dim3(1), dim3(64), big, nullptr, out.get()), cudaErrorInvalidValue);
  EXPECT_EQ(cudaFuncSetAttribute(dyn_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(big)),
            cudaSuccess);
  EXPECT_LAUNCH_OK(launch(dyn_smem_kernel, dim3(1), dim3(64), big, nullptr, out.get()));
  const std::vector<float> v = out.download();
  for (int i = 0; i < 64; ++i) EXPECT_EQ(v[i], static_cast<float>(i));
  EXPECT_EQ(cudaFuncSetAttribute(dyn_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 1 << 20),
            cudaErrorInvalidValue);
  cudaGetLastError();
}

TEST(EmuRuntime, ConstantMemoryAttributesAndAsyncAllocation) {
  const float scale[4] = {1.0f, -2.0f, 0.5f, 3.0f};
  ASSERT_EQ(cudaMemcpyToSymbol(kScale, scale, sizeof scale), cudaSuccess);
  float back[4];
  ASSERT_EQ(cudaMemcpyFromSymbol(back, kScale, sizeof back), cudaSuccess);
  EXPECT_EQ(std::memcmp(back, scale, sizeof back), 0);
  EXPECT_EQ(cudaMemcpyToSymbol(kScale, scale, sizeof scale, 4), cudaErrorInvalidValue);  // past the end
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  float* d = nullptr;
  ASSERT_EQ(cudaMallocAsync(&d, 37 * sizeof(float), s), cudaSuccess);
  EXPECT_LAUNCH_OK(launch(scale_kernel, dim3(2), dim3(32), 0, s, d, 37));
  std::vector<float> out(37);
  ASSERT_EQ(cudaMemcpyAsync(out.data(), d, 37 * sizeof(float), cudaMemcpyDeviceToHost, s), cudaSuccess);
  for (int i = 0; i < 37; ++i) EXPECT_EQ(out[i], scale[i % 4] * static_cast<float>(i));
  EXPECT_EQ(cudaFreeAsync(d, s), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(s), cudaSuccess);
  int v = 0;
  EXPECT_EQ(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0), cudaSuccess);
  EXPECT_EQ(v, 163 * 1024);
  EXPECT_EQ(cudaDeviceGetAttribute(&v, cudaDevAttrComputeCapabilityMajor, 0), cudaSuccess);
  EXPECT_EQ(v, 8);
  size_t free_b = 0, total_b = 0;
  EXPECT_EQ(cudaMemGetInfo(&free_b, &total_b), cudaSuccess);
  EXPECT_LE(free_b, total_b);
  cudaEvent_t e = nullptr;
  EXPECT_EQ(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), cudaSuccess);
  EXPECT_EQ(cudaEventDestroy(e), cudaSuccess);
  cudaGetLastError();
}

}  // namespace
}  // namespace goat::emu_test
