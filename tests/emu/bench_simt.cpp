// Emulator throughput (a benchmark, not a test): host time per emulated thread for a kernel
// without waits, a 9-barrier shared-memory reduction, a 5-shuffle warp reduction, and the
// mma/ldmatrix/cp.async GEMM of the tests, at 1 and N OS threads. Run: build/tests/emu/bench_simt
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "kernels/barrier_kernels.cuh"
#include "kernels/mma_kernels.cuh"
#include "simt/simt.cuh"

namespace goat::emu_test {
namespace {

__global__ void touch_kernel(float* out, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = 2.0f * static_cast<float>(i);
}

__global__ void warp_sum_kernel(const float* in, float* out) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = in[i];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  out[i] = v;
}

template <typename F>
double time_ms(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

int run() {
  using goat::simt::launch;
  const int n = 1 << 20;
  float *a = nullptr, *b = nullptr;
  cudaMalloc(&a, n * sizeof(float));
  cudaMalloc(&b, n * sizeof(float));
  const int M = 256, N = 256, K = 256;
  __nv_bfloat16 *ga = nullptr, *gb = nullptr;
  float* gc = nullptr;
  cudaMalloc(&ga, M * K * 2);
  cudaMalloc(&gb, N * K * 2);
  cudaMalloc(&gc, M * N * 4);
  cudaMemset(ga, 0, M * K * 2);
  cudaMemset(gb, 0, N * K * 2);
  std::printf("%-8s %14s %14s %14s %16s\n", "threads", "no-wait ns/thr", "9-barrier ns", "5-shuffle ns",
              "mma GEMM GFLOP/s");
  const int hw = static_cast<int>(std::thread::hardware_concurrency());
  for (int threads : {1, hw}) {
    goat::simt::config().threads = threads;
    const double t0 = time_ms([&] { launch(touch_kernel, dim3(n / 256), dim3(256), 0, nullptr, a, n); });
    const double t1 = time_ms([&] { launch(block_sum_kernel, dim3(n / 256), dim3(256), 0, nullptr, a, b); });
    const double t2 = time_ms([&] { launch(warp_sum_kernel, dim3(n / 256), dim3(256), 0, nullptr, a, b); });
    const double t3 = time_ms(
        [&] { launch(gemm_bf16_kernel<false>, dim3(N / 32, M / 32), dim3(128), 0, nullptr, ga, gb, gc, M, N, K); });
    std::printf("%-8d %14.1f %14.1f %14.1f %16.3f\n", threads, t0 * 1e6 / n, t1 * 1e6 / n, t2 * 1e6 / n,
                2.0 * M * N * K / (t3 * 1e6));
    if (hw == 1) break;
  }
  cudaFree(a);
  cudaFree(b);
  cudaFree(ga);
  cudaFree(gb);
  cudaFree(gc);
  return 0;
}

}  // namespace
}  // namespace goat::emu_test

int main() { return goat::emu_test::run(); }
