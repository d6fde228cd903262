// bf16 conversion kernel for tests/emu/test_bf16.cpp (and the nvcc compile check).
#pragma once

#include "simt/simt.cuh"

namespace goat::emu_test {

// bf16 round trips on the device path: out[i] = bf16(in[i]), back[i] = float(out[i]).
__global__ void bf16_convert_kernel(const float* in, __nv_bfloat16* out, float* back, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i >= n) return;
  out[i] = __float2bfloat16(in[i]);
  back[i] = __bfloat162float(out[i]);
}

}  // namespace goat::emu_test
