// fp32 → bf16 rounding of 16-lane vectors for the AMX operands of the CPU attention kernel
// (attention_amx.cpp, attention_short_amx.cpp): round to nearest even, NaN stays NaN, one
// VCVTNEPS2BF16 where AVX512-BF16 is compiled in, integer arithmetic elsewhere (the widening load
// of bf16 rows, load_lanes, is in attention_kernel.h).
#pragma once

#include <cstdint>
#include <cstring>

#include "backend/cpu/attention_amx.h"
#include "backend/cpu/attention_kernel.h"

// See attention_kernel.h: 64-byte vectors in a non-AVX-512 build.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

namespace goat::cpu::attn {

#if GOATLM_AMX_BUILD && defined(__AVX512BF16__) && defined(__AVX512BW__)
// VCVTNEPS2BF16: round to nearest even in one instruction (denormal inputs read as zero, as under
// the kernel's FTZ/DAZ).
inline __m256i bf16_of(v16 x) { return reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(reinterpret_cast<__m512>(x))); }
// 16 (lo, hi) pairs: lane n = bf16(lo[n]) | bf16(hi[n]) << 16.
inline __m512i bf16_pairs_of(v16 lo, v16 hi) {
  const __m512i both = reinterpret_cast<__m512i>(
      _mm512_cvtne2ps_pbh(reinterpret_cast<__m512>(hi), reinterpret_cast<__m512>(lo)));  // lo in the low half
  const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21,
                                       5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(idx, both);
}
#else
// Round-to-nearest-even bf16 bits of x in the high halves of 32-bit lanes (low halves zero).
inline vu32 bf16_high(v16 x) {
  vu32 u;
  std::memcpy(&u, &x, sizeof u);
  const vu32 rounded = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  const auto nan = (u & 0x7fffffffu) > 0x7f800000u;
  return nan ? ((u | 0x00400000u) & 0xffff0000u) : rounded;
}
inline vu16 bf16_of(v16 x) { return __builtin_convertvector(bf16_high(x) >> 16, vu16); }
inline vu32 bf16_pairs_of(v16 lo, v16 hi) { return (bf16_high(lo) >> 16) | bf16_high(hi); }
#endif

// dst[0 … 15] = bf16(x).
inline void store_bf16(uint16_t* dst, v16 x) {
  const auto out = bf16_of(x);
  std::memcpy(dst, &out, sizeof out);
}
// dst[n] = (bf16(lo[n]), bf16(hi[n])) as one 32-bit word (lo in the low half), n < 16.
inline void store_bf16_pairs(uint32_t* dst, v16 lo, v16 hi) {
  const auto out = bf16_pairs_of(lo, hi);
  std::memcpy(dst, &out, sizeof out);
}

}  // namespace goat::cpu::attn

#pragma GCC diagnostic pop
