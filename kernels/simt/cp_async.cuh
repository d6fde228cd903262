// Async global->shared copies (sm_80 cp.async) with commit groups. Device: one PTX instruction
// each (PTX ISA "Data Movement and Conversion Instructions: cp.async", cp.async.commit_group,
// cp.async.wait_group, cp.async.wait_all). Emulation (sched.cpp): with poisoning on ("strict"),
// the destination reads as 0xFF from issue until a wait retires its group, so a missing wait shows
// up as NaN, and a thread that exits with unretired copies faults; with poisoning off the copy
// happens at issue (valid: completion may happen any time before the wait).
#pragma once

#include <cstdint>

namespace goat::simt {

// Copies Bytes (4, 8 or 16) from global `src` to shared `dst`, both aligned to Bytes; only the
// first src_bytes (0..Bytes) are read, the rest of dst is zero-filled (src_bytes = 0: all zeros,
// the usual way to pad a tile past the end of a tensor).
template <int Bytes>
__device__ __forceinline__ void cp_async(void* dst, const void* src, int src_bytes = Bytes) {
  static_assert(Bytes == 4 || Bytes == 8 || Bytes == 16, "cp.async copies 4, 8 or 16 bytes");
#if defined(__CUDA_ARCH__)
  const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(dst));
  if constexpr (Bytes == 16)
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(src_bytes));
  else
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(s), "l"(src), "n"(Bytes), "r"(src_bytes));
#elif !defined(__CUDACC__)
  emu_cp_async_issue(dst, src, Bytes, src_bytes);
#endif
}

// Seals this thread's copies issued since the last commit into one group.
__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__)
  asm volatile("cp.async.commit_group;\n" ::);
#elif !defined(__CUDACC__)
  emu_cp_async_commit();
#endif
}

// Waits until at most N of this thread's groups are pending. Other threads see the data only after
// a __syncthreads that follows their own waits.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__)
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#elif !defined(__CUDACC__)
  emu_cp_async_wait(N);
#endif
}

__device__ __forceinline__ void cp_async_wait_all() {
#if defined(__CUDA_ARCH__)
  asm volatile("cp.async.wait_all;\n" ::);
#elif !defined(__CUDACC__)
  emu_cp_async_commit();
  emu_cp_async_wait(0);
#endif
}

}  // namespace goat::simt
