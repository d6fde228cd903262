// Host SIMT emulation, part 1: the CUDA language surface that plain C++ lacks.
// Function qualifiers become nothing (or `inline`), the built-in vector types and dim3 are
// plain structs with CUDA's layout and alignment, and the built-in variables threadIdx /
// blockIdx / blockDim / gridDim are per-OS-thread globals that the fiber scheduler
// (sched.cpp) rewrites before it resumes a fiber, so kernel code reads them unchanged.
//
// `__shared__` becomes `static thread_local` in the TLS section "goat_shared": all fibers of
// a block run on one OS thread and so see one copy (per-block shared memory, one block at a
// time per OS thread), and the scheduler finds the section through the ELF TLS segment to poison
// it at every block start. Included only when the host compiler (not nvcc) builds kernel code.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#error "kernels/simt/emu/*.h is the host emulation; nvcc uses the real CUDA headers"
#endif

// ---- qualifiers (CUDA C++ Programming Guide, "C++ Language Extensions") ----
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
// (__noinline__ is left alone: libstdc++ spells its own attribute __attribute__((__noinline__)).)
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)
#define __constant__
#define __managed__
// Static shared memory: one copy per OS thread, in a TLS section the scheduler can poison.
#define __shared__ __attribute__((section("goat_shared"))) static thread_local

// ---- built-in vector types (same size and alignment as vector_types.h) ----
struct uint3 {
  unsigned int x, y, z;
};
struct int3 {
  int x, y, z;
};
struct alignas(8) int2 {
  int x, y;
};
struct alignas(16) int4 {
  int x, y, z, w;
};
struct alignas(8) uint2 {
  unsigned int x, y;
};
struct alignas(16) uint4 {
  unsigned int x, y, z, w;
};
struct alignas(8) float2 {
  float x, y;
};
struct float3 {
  float x, y, z;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(16) double2 {
  double x, y;
};

struct dim3 {
  unsigned int x = 1, y = 1, z = 1;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};

inline constexpr int2 make_int2(int x, int y) { return int2{x, y}; }
inline constexpr int4 make_int4(int x, int y, int z, int w) { return int4{x, y, z, w}; }
inline constexpr uint2 make_uint2(unsigned x, unsigned y) { return uint2{x, y}; }
inline constexpr uint3 make_uint3(unsigned x, unsigned y, unsigned z) { return uint3{x, y, z}; }
inline constexpr uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }
inline constexpr float2 make_float2(float x, float y) { return float2{x, y}; }
inline constexpr float3 make_float3(float x, float y, float z) { return float3{x, y, z}; }
inline constexpr float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }

// ---- built-in variables: set by the scheduler for the fiber it is about to resume ----
extern thread_local uint3 threadIdx;
extern thread_local uint3 blockIdx;
extern thread_local dim3 blockDim;
extern thread_local dim3 gridDim;
inline constexpr int warpSize = 32;
