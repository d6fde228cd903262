// Test kernels for atomics under many threads in many blocks (tests/emu/test_atomics.cpp).
#pragma once

#include "simt/simt.cuh"

namespace goat::emu_test {

struct AtomicCounters {
  int count;                // atomicAdd(int) of 1 per thread
  unsigned cas_count;       // incremented through an atomicCAS loop
  float fsum;               // atomicAdd(float) of small integers (exact below 2^24)
  int imax;                 // atomicMax(int)
  int imin;                 // atomicMin(int)
  unsigned long long usum;  // atomicAdd(unsigned long long)
  int last;                 // atomicExch(int) of the thread index (starts at -1)
};

// Every thread of every block updates c; values[i] feeds max/min/fsum; prev[i] gets the value
// atomicExch returned, so prev plus the final c->last is a permutation of {-1, 0..n-1}.
// values, prev: (grid * block)
__global__ void atomics_kernel(const int* values, AtomicCounters* c, int* prev) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  const int v = values[i];
  atomicAdd(&c->count, 1);
  unsigned old = c->cas_count, seen;
  do {
    seen = old;
    old = atomicCAS(&c->cas_count, seen, seen + 1u);
  } while (old != seen);
  atomicAdd(&c->fsum, static_cast<float>(v & 7));
  atomicMax(&c->imax, v);
  atomicMin(&c->imin, v);
  atomicAdd(&c->usum, static_cast<unsigned long long>(v) << 20);
  prev[i] = atomicExch(&c->last, static_cast<int>(i));
}

// 16-bit float atomics: thread i adds 1 to slots[i % 256] and (1, 2) to pairs[i % 256].
__global__ void bf16_atomics_kernel(__nv_bfloat16* slots, __nv_bfloat162* pairs) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  atomicAdd(&slots[i % 256], __float2bfloat16(1.0f));
  atomicAdd(&pairs[i % 256], __floats2bfloat162_rn(1.0f, 2.0f));
}

}  // namespace goat::emu_test
