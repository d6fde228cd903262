// Test kernels for warp-level primitives: shuffles, votes, reductions, __syncwarp
// (run by tests/emu/test_warp.cpp; compiled for sm_80/sm_90 by the nvcc check).
#pragma once

#include "simt/simt.cuh"

namespace goat::emu_test {

enum class Shfl : int { idx = 0, up = 1, down = 2, bfly = 3 };

// out[i] = the shuffle `mode` of in[i] with parameter `b` (srcLane, delta or laneMask) and `width`,
// full warp mask. One block of any multiple of 32 threads.  in, out: (blockDim.x)
__global__ void shfl_kernel(const float* in, float* out, int mode, int b, int width) {
  const unsigned t = threadIdx.x;
  const float v = in[t];
  float r = 0.0f;
  switch (static_cast<Shfl>(mode)) {
    case Shfl::idx:
      r = __shfl_sync(0xffffffffu, v, b, width);
      break;
    case Shfl::up:
      r = __shfl_up_sync(0xffffffffu, v, static_cast<unsigned>(b), width);
      break;
    case Shfl::down:
      r = __shfl_down_sync(0xffffffffu, v, static_cast<unsigned>(b), width);
      break;
    case Shfl::bfly:
      r = __shfl_xor_sync(0xffffffffu, v, b, width);
      break;
  }
  out[t] = r;
}

// Two half-warps shuffle independently with disjoint masks (lanes 0-15 rotate down by one, lanes
// 16-31 broadcast lane 16); 64-bit and bf16 payloads exercise non-float types.
__global__ void shfl_split_kernel(const double* in, double* out, __nv_bfloat16* out_bf16) {
  const unsigned lane = threadIdx.x & 31;
  const double v = in[threadIdx.x];
  double r;
  if (lane < 16) {
    r = __shfl_sync(0x0000ffffu, v, static_cast<int>((lane + 1) & 15));
  } else {
    r = __shfl_sync(0xffff0000u, v, 16);
  }
  out[threadIdx.x] = r;
  const __nv_bfloat16 h = __float2bfloat16(static_cast<float>(v));
  out_bf16[threadIdx.x] = __shfl_xor_sync(0xffffffffu, h, 1);
}

// Per warp w: out[4w..4w+3] = ballot, any, all, and the butterfly sum; pred[i] and mask per lane.
// Lanes outside `mask` skip the votes. in: (blockDim.x) ints, out: (4 * warps)
__global__ void vote_kernel(const int* pred, unsigned mask, unsigned* out) {
  const unsigned t = threadIdx.x, lane = t & 31, w = t >> 5;
  const int p = pred[t];
  if (mask >> lane & 1u) {
    const unsigned bal = __ballot_sync(mask, p);
    const int any = __any_sync(mask, p);
    const int all = __all_sync(mask, p);
    if (lane == static_cast<unsigned>(__ffs(static_cast<int>(mask)) - 1)) {
      out[4 * w] = bal;
      out[4 * w + 1] = static_cast<unsigned>(any);
      out[4 * w + 2] = static_cast<unsigned>(all);
    }
  }
  int sum = p;
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  const unsigned red = __reduce_add_sync(0xffffffffu, static_cast<unsigned>(p));
  if (lane == 0) out[4 * w + 3] = static_cast<unsigned>(sum) == red ? red : 0xdeadbeefu;
}

// Warp-synchronous exchange through shared memory: lane l writes, __syncwarp, reads lane 31 - l.
__global__ void syncwarp_kernel(const int* in, int* out) {
  __shared__ int buf[64];
  const unsigned t = threadIdx.x;
  buf[t] = in[t];
  __syncwarp();
  out[t] = buf[(t & ~31u) + 31 - (t & 31)];
}

}  // namespace goat::emu_test
