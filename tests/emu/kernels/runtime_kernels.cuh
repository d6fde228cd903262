// Small kernels for the runtime tests (tests/emu/test_runtime.cpp).
#pragma once

#include "simt/simt.cuh"

namespace goat::emu_test {

// out[i] = v for i < n.
__global__ void fill_kernel(float* out, float v, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = v;
}

// out[t] = t through dynamic shared memory (blockDim floats or more).
__global__ void dyn_smem_kernel(float* out) {
  float* s = goat::simt::dynamic_smem<float>();
  s[threadIdx.x] = static_cast<float>(threadIdx.x);
  __syncthreads();
  out[threadIdx.x] = s[threadIdx.x];
}

// Constant memory: a plain host global under the emulation, set with cudaMemcpyToSymbol.
__constant__ float kScale[4];

// out[i] = kScale[i % 4] * i for i < n.
__global__ void scale_kernel(float* out, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = kScale[i % 4] * static_cast<float>(i);
}

}  // namespace goat::emu_test
