// Test kernels for block barriers and shared memory (run by tests/emu/test_barrier.cpp under the
// emulation; compiled for sm_80/sm_90 by the nvcc check).
#pragma once

#include "simt/simt.cuh"

namespace goat::emu_test {

// out[b] = sum of in[b * 256 .. b * 256 + 255]; the classic shared-memory tree reduction.
// Launch with 256 threads per block.  in: (blocks * 256), out: (blocks)
__global__ void block_sum_kernel(const float* in, float* out) {
  __shared__ float s[256];
  const unsigned t = threadIdx.x;
  s[t] = in[blockIdx.x * 256 + t];
  __syncthreads();
  for (unsigned stride = 128; stride > 0; stride >>= 1) {
    if (t < stride) s[t] += s[t + stride];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = s[0];
}

// out = in^T through a padded 32x32 shared tile; block (32, 8), grid (ceil(cols/32), ceil(rows/32)).
// in: (rows, cols) row-major, out: (cols, rows)
__global__ void transpose_kernel(const float* in, float* out, int rows, int cols) {
  __shared__ float tile[32][33];
  const int x = static_cast<int>(blockIdx.x * 32 + threadIdx.x);
  const int y0 = static_cast<int>(blockIdx.y * 32);
  for (int j = static_cast<int>(threadIdx.y); j < 32; j += 8)
    if (x < cols && y0 + j < rows) tile[j][threadIdx.x] = in[(y0 + j) * cols + x];
  __syncthreads();
  const int ox = static_cast<int>(blockIdx.y * 32 + threadIdx.x);
  const int oy0 = static_cast<int>(blockIdx.x * 32);
  for (int j = static_cast<int>(threadIdx.y); j < 32; j += 8)
    if (ox < rows && oy0 + j < cols) out[(oy0 + j) * rows + ox] = tile[threadIdx.x][j];
}

// out[3 * b + {0,1,2}] = __syncthreads_count / _and / _or of pred over block b.
__global__ void sync_vote_kernel(const int* pred, int* out) {
  const int p = pred[blockIdx.x * blockDim.x + threadIdx.x];
  const int c = __syncthreads_count(p);
  const int a = __syncthreads_and(p);
  const int o = __syncthreads_or(p);
  if (threadIdx.x == 0) {
    out[3 * blockIdx.x] = c;
    out[3 * blockIdx.x + 1] = a;
    out[3 * blockIdx.x + 2] = o;
  }
}

}  // namespace goat::emu_test
