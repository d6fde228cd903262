// The one header kernel sources include. Under nvcc it pulls in the CUDA runtime and bf16/fp16
// headers; under a host compiler it pulls in the SIMT emulation (emu/), which provides the same
// names so that one kernel source compiles both ways. On top of either it adds the portable
// helpers: dynamic_smem<T>(), the tensor-core and async-copy wrappers, and launch().
// How to write kernels that run both ways: docs/emulation.md.
#pragma once

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#else
#include "simt/emu/bf16.h"
#include "simt/emu/defs.h"
#include "simt/emu/intrinsics.h"
#include "simt/emu/runtime.h"
#include "simt/emu/sched.h"
#include "simt/emu/testing.h"
#endif

#include <cstdint>

namespace goat::simt {

// The launch's dynamic shared memory (the `extern __shared__` array), 16-byte aligned. Use this
// instead of declaring `extern __shared__ T name[]` yourself: a host compiler cannot give an
// arbitrary extern array the per-launch address.
template <typename T>
__device__ __forceinline__ T* dynamic_smem() {
#if defined(__CUDACC__)
  extern __shared__ __align__(16) unsigned char goat_dynamic_smem_[];
  return reinterpret_cast<T*>(goat_dynamic_smem_);
#else
  return reinterpret_cast<T*>(dynamic_smem_base());
#endif
}

}  // namespace goat::simt

#include "simt/cp_async.cuh"
#include "simt/launch.cuh"
#include "simt/mma.cuh"
