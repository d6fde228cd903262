// Kernels with planted bugs that the emulation must catch (tests/emu/test_planted.cpp; also
// compiled for sm_80/sm_90 by the nvcc check, where they are valid CUDA with wrong behaviour).
#pragma once

#include "simt/simt.cuh"

namespace goat::emu_test {

using goat::simt::cp_async;
using goat::simt::cp_async_commit;

// Planted bug: out[i] = in[i - 1] through shared memory (out[0] = in[0]). Without the barrier a
// thread may read its neighbour's slot before the neighbour wrote it. Thread order hides the bug
// (thread t-1 always runs first); a randomised schedule exposes it. Dynamic smem: blockDim floats.
template <bool WithBarrier>
__global__ void shift_kernel(const float* in, float* out) {
  float* s = goat::simt::dynamic_smem<float>();
  const unsigned t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
  s[t] = in[i];
  if constexpr (WithBarrier) __syncthreads();
  out[i] = s[t == 0 ? 0 : t - 1];
}

// Planted bug: reads shared memory nobody wrote. Static tile: only the first half is written.
__global__ void uninit_static_kernel(float* out) {
  __shared__ float tile[64];
  const unsigned t = threadIdx.x;
  if (t < 32) tile[t] = static_cast<float>(t);
  __syncthreads();
  out[t] = tile[t];
}
// Same in a template kernel (its static shared memory is found through the symbol table).
template <int N>
__global__ void uninit_static_template_kernel(float* out) {
  __shared__ float tile[N];
  const unsigned t = threadIdx.x;
  if (t < N / 2) tile[t] = static_cast<float>(t);
  __syncthreads();
  out[t] = tile[t];
}
// Same with dynamic shared memory (blockDim floats, first half written).
__global__ void uninit_dynamic_kernel(float* out) {
  float* s = goat::simt::dynamic_smem<float>();
  const unsigned t = threadIdx.x;
  if (t < blockDim.x / 2) s[t] = static_cast<float>(t);
  __syncthreads();
  out[t] = s[t];
}

// Planted bug: the last thread writes one element past the end of `out` (n elements).
__global__ void oob_write_kernel(float* out, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = 1.0f;
  if (i == n - 1) out[n] = 2.0f;
}

// Planted bug: the last thread writes one element past the block's dynamic shared memory.
__global__ void oob_shared_kernel(float* out) {
  float* s = goat::simt::dynamic_smem<float>();
  const unsigned t = threadIdx.x;
  s[t] = 1.0f;
  if (t == blockDim.x - 1) s[t + 1] = 2.0f;
  __syncthreads();
  out[t] = s[t];
}

// Planted bug: half the block waits at __syncthreads while the other half waits in a shuffle.
__global__ void deadlock_kernel(int* out) {
  int v = static_cast<int>(threadIdx.x);
  if (threadIdx.x < 16) {
    __syncthreads();
  } else {
    v = __shfl_sync(0xffffffffu, v, 0);
  }
  out[threadIdx.x] = v;
}

// Planted bug: the two half-warps pass different masks to the same shuffle.
__global__ void diverged_mask_kernel(int* out) {
  const unsigned lane = threadIdx.x & 31;
  const unsigned mask = lane < 16 ? 0xffffffffu : 0x0000ffffu | (1u << lane);
  out[threadIdx.x] = __shfl_sync(mask, static_cast<int>(lane), 0);
}

// Planted bug: a copy that no wait ever retires (the emulation's strict mode faults at exit).
__global__ void cp_async_unwaited_kernel(const float* src, float* out) {
  __shared__ __align__(16) float s[4];
  cp_async<16>(s, src);
  cp_async_commit();
  out[threadIdx.x] = 0.0f;
}

}  // namespace goat::emu_test
