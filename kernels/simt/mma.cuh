// Tensor-core wrappers: mma.sync m16n8k16 (bf16 in, fp32 accumulate) and ldmatrix m8n8 (x1/x2/x4,
// optionally .trans), plus bf16x2 packing. On the device each is one inline-PTX instruction; under
// the emulation each is a warp exchange whose combine step rebuilds the whole tile from the 32
// lanes' registers through the fragment layouts of the PTX ISA and hands every lane its part.
// References (PTX ISA, cited by anchor because section numbers move between versions):
//   mma:      "Matrix Fragments for mma.m16n8k16 with floating point type"
//             (#warp-level-matrix-fragment-mma-16816-float), figures for A (.bf16), B, C/D.
//   ldmatrix: "Warp-level matrix load instruction: ldmatrix" (#warp-level-matrix-instructions-ldmatrix).
// Both are tabulated with test vectors in docs (ptx-fragments.md, shared docs) and tested in
// tests/emu/test_mma.cpp. Notation: lane l, group g = l >> 2, thread-in-group t = l & 3; a .b32
// register holding two 16-bit values keeps the lower-numbered element in bits 0-15.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>

#if !defined(__CUDACC__)
#include "core/check.h"
#endif

namespace goat::simt {

#if !defined(__CUDACC__)
namespace detail {

struct MmaIn {
  uint32_t a[4];
  uint32_t b[2];
  float c[4];
};

inline double bf16_half(uint32_t reg, int half) {
  return static_cast<double>(std::bit_cast<float>((half ? (reg >> 16) : (reg & 0xffffu)) << 16));
}

// D = A * B + C for the 16x8x16 tile; the sum is formed in fp64 and rounded to fp32 once (the
// hardware's internal order is unspecified; bf16 products are exact in either precision).
inline void mma_combine(const ExchangeView& x) {
  // NaN-filled first, so a hole in the fragment maps would show up as NaN rather than garbage.
  double A[16][16], B[16][8], C[16][8];
  std::fill(&A[0][0], &A[0][0] + 256, __builtin_nan(""));
  std::fill(&B[0][0], &B[0][0] + 128, __builtin_nan(""));
  std::fill(&C[0][0], &C[0][0] + 128, __builtin_nan(""));
  for (uint32_t lane = 0; lane < 32; ++lane) {
    MmaIn in;
    std::memcpy(&in, x.in + lane * kExchangeBytes, sizeof in);
    const int g = static_cast<int>(lane >> 2), t = static_cast<int>(lane & 3);
    for (int i = 0; i < 8; ++i)  // A: row = g + 8*((i>>1)&1), col = 2t + (i&1) + 8*(i>>2)
      A[g + 8 * ((i >> 1) & 1)][2 * t + (i & 1) + 8 * (i >> 2)] = bf16_half(in.a[i >> 1], i & 1);
    for (int i = 0; i < 4; ++i)  // B: k = 2t + (i&1) + 8*(i>>1), n = g
      B[2 * t + (i & 1) + 8 * (i >> 1)][g] = bf16_half(in.b[i >> 1], i & 1);
    for (int i = 0; i < 4; ++i)  // C: row = g + 8*(i>>1), col = 2t + (i&1)
      C[g + 8 * (i >> 1)][2 * t + (i & 1)] = static_cast<double>(in.c[i]);
  }
  for (uint32_t lane = 0; lane < 32; ++lane) {
    const int g = static_cast<int>(lane >> 2), t = static_cast<int>(lane & 3);
    float d[4];
    for (int i = 0; i < 4; ++i) {
      const int m = g + 8 * (i >> 1), n = 2 * t + (i & 1);
      double acc = C[m][n];
      for (int k = 0; k < 16; ++k) acc += A[m][k] * B[k][n];
      d[i] = static_cast<float>(acc);
    }
    std::memcpy(x.out + lane * kExchangeBytes, d, sizeof d);
  }
}

// Matrix j's row r comes from lane 8j + r (16 contiguous bytes, 16-byte aligned, in shared memory).
// Register j of lane l gets M_j[g][2t], M_j[g][2t+1] (plain) or M_j[2t][g], M_j[2t+1][g] (.trans).
template <int N, bool Trans>
void ldmatrix_combine(const ExchangeView& x) {
  const unsigned char* rows[4][8];
  for (int j = 0; j < N; ++j) {
    for (int r = 0; r < 8; ++r) {
      const unsigned char* p;
      std::memcpy(&p, x.in + static_cast<size_t>(8 * j + r) * kExchangeBytes, sizeof p);
      if (reinterpret_cast<uintptr_t>(p) % 16 != 0 || !in_shared(p, 16))
        fault(fmt::format("ldmatrix: lane {} row address {} is not 16-byte aligned shared memory (warp {})", 8 * j + r,
                          static_cast<const void*>(p), x.warp));
      rows[j][r] = p;
    }
  }
  auto at = [&](int j, int r, int c) {
    uint16_t v;
    std::memcpy(&v, rows[j][r] + 2 * c, 2);
    return uint32_t{v};
  };
  for (uint32_t lane = 0; lane < 32; ++lane) {
    const int g = static_cast<int>(lane >> 2), t = static_cast<int>(lane & 3);
    uint32_t d[4] = {0, 0, 0, 0};
    for (int j = 0; j < N; ++j)
      d[j] = Trans ? (at(j, 2 * t, g) | at(j, 2 * t + 1, g) << 16) : (at(j, g, 2 * t) | at(j, g, 2 * t + 1) << 16);
    std::memcpy(x.out + lane * kExchangeBytes, d, sizeof d);
  }
}

}  // namespace detail
#endif

// d = a * b + c: a holds A regs 0..3 (16x16, row-major fragment), b holds B regs 0..1 (16x8, "col"),
// c and d the four fp32 accumulators of the 16x8 tile. All 32 lanes must call it together.
__device__ __forceinline__ void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2],
                                                  const float (&c)[4]) {
#if defined(__CUDA_ARCH__)
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%10,%11,%12,%13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
#elif !defined(__CUDACC__)
  detail::MmaIn in;
  std::memcpy(in.a, a, sizeof in.a);
  std::memcpy(in.b, b, sizeof in.b);
  std::memcpy(in.c, c, sizeof in.c);
  float out[4];
  warp_exchange(0xffffffffu, "mma.m16n8k16.bf16", &detail::mma_combine, &in, sizeof in, out, sizeof out);
  std::memcpy(d, out, sizeof out);
#endif
}

// ldmatrix.sync.aligned.m8n8.x{N}[.trans].shared.b16: `row` is this lane's row address (lanes
// 0..8N-1 supply matrix rows, the others' addresses are ignored).
template <int N, bool Trans = false>
__device__ __forceinline__ void ldmatrix(uint32_t (&d)[N], const void* row) {
  static_assert(N == 1 || N == 2 || N == 4, "ldmatrix loads 1, 2 or 4 matrices");
#if defined(__CUDA_ARCH__)
  const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(row));
  if constexpr (N == 1 && !Trans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\n" : "=r"(d[0]) : "r"(s));
  else if constexpr (N == 1)
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];\n" : "=r"(d[0]) : "r"(s));
  else if constexpr (N == 2 && !Trans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n" : "=r"(d[0]), "=r"(d[1]) : "r"(s));
  else if constexpr (N == 2)
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n" : "=r"(d[0]), "=r"(d[1]) : "r"(s));
  else if constexpr (!Trans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
                 : "r"(s));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
                 : "r"(s));
#elif !defined(__CUDACC__)
  uint32_t out[4];
  warp_exchange(0xffffffffu, Trans ? "ldmatrix.trans" : "ldmatrix", &detail::ldmatrix_combine<N, Trans>, &row,
                sizeof row, out, sizeof out);
  std::memcpy(d, out, sizeof d);
#endif
}

__device__ __forceinline__ void ldmatrix_x1(uint32_t (&d)[1], const void* row) { ldmatrix<1>(d, row); }
__device__ __forceinline__ void ldmatrix_x2(uint32_t (&d)[2], const void* row) { ldmatrix<2>(d, row); }
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&d)[4], const void* row) { ldmatrix<4>(d, row); }
__device__ __forceinline__ void ldmatrix_x1_trans(uint32_t (&d)[1], const void* row) { ldmatrix<1, true>(d, row); }
__device__ __forceinline__ void ldmatrix_x2_trans(uint32_t (&d)[2], const void* row) { ldmatrix<2, true>(d, row); }
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&d)[4], const void* row) { ldmatrix<4, true>(d, row); }

// Two floats as a bf16x2 register, `lo` in bits 0-15 (round to nearest even). This is the packing
// that turns two adjacent fp32 accumulator tiles into an A fragment (FlashAttention's P*V).
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  uint32_t r;
  std::memcpy(&r, &v, sizeof r);
  return r;
}
__device__ __forceinline__ float bf16x2_lo(uint32_t r) {
  return __bfloat162float(__ushort_as_bfloat16(static_cast<unsigned short>(r & 0xffffu)));
}
__device__ __forceinline__ float bf16x2_hi(uint32_t r) {
  return __bfloat162float(__ushort_as_bfloat16(static_cast<unsigned short>(r >> 16)));
}

}  // namespace goat::simt
