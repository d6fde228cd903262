// Helpers shared by goatlm's CUDA kernels: fp32 <-> storage-type conversion (f32 or bf16; the
// math is always fp32), block reductions over a caller-provided shared scratch (32 floats), and
// grid sizing. Framework-free; includes only simt/simt.cuh, so it builds under nvcc and emulated.
#pragma once

#include <cstdint>

#include "kernel_math.h"
#include "simt/simt.cuh"

namespace goat::kernels {

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T>
__device__ __forceinline__ T from_f(float x);
template <>
__device__ __forceinline__ float from_f<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) {
  return __float2bfloat16(x);
}

constexpr unsigned kFullMask = 0xffffffffu;

// Sum of v over the block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
// scratch: 32 floats of shared memory; the leading barrier makes back-to-back calls safe.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
  const int warps = static_cast<int>(blockDim.x) >> 5;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float t = lane < warps ? scratch[lane] : 0.f;
  for (int o = 16; o > 0; o >>= 1) t += __shfl_xor_sync(kFullMask, t, o);
  return t;
}

// Max of v over the block; same contract as block_sum.
__device__ __forceinline__ float block_max(float v, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, o));
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
  const int warps = static_cast<int>(blockDim.x) >> 5;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float t = lane < warps ? scratch[lane] : -INFINITY;
  for (int o = 16; o > 0; o >>= 1) t = fmaxf(t, __shfl_xor_sync(kFullMask, t, o));
  return t;
}

// Blocks for a grid-stride loop over n elements with `threads` per block (capped: the loop covers
// the rest).
inline unsigned grid_for(int64_t n, int threads, int64_t max_blocks = 4096) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > max_blocks) b = max_blocks;
  return static_cast<unsigned>(b);
}

}  // namespace goat::kernels
