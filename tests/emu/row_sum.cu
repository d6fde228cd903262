// A kernel and its host launcher in one .cu file, the way goatlm's CUDA backend is written:
// nvcc compiles it for the GPU (emu_nvcc_compile), and goatlm_simt_sources() compiles the same
// file with the host compiler into test_emu (test_cu_source.cpp runs it).
#include "row_sum.h"
#include "simt/simt.cuh"

namespace goat::emu_test {
namespace {

// x: (rows, cols) row-major, y: (rows) = sum over cols. Block: 256 threads, one row per block.
__global__ void row_sum_kernel(const float* x, float* y, int cols) {
  __shared__ float part[8];
  float s = 0.0f;
  for (int c = static_cast<int>(threadIdx.x); c < cols; c += static_cast<int>(blockDim.x))
    s += x[static_cast<size_t>(blockIdx.x) * cols + c];
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    float t = 0.0f;
    for (int w = 0; w < 8; ++w) t += part[w];
    y[blockIdx.x] = t;
  }
}

}  // namespace

cudaError_t row_sum(const float* x, float* y, int rows, int cols, cudaStream_t stream) {
  return goat::simt::launch(row_sum_kernel, dim3(static_cast<unsigned>(rows)), dim3(256), 0, stream, x, y, cols);
}

}  // namespace goat::emu_test
