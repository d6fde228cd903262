// Host SIMT emulation, part 4: __nv_bfloat16 / __half with CUDA's conversion semantics.
// float -> bf16 rounds to nearest even through goat::bf16 (src/core/dtype.h); the one difference
// is NaN: CUDA (cvt.rn.bf16.f32 and the host path of cuda_bf16.hpp) returns the canonical NaN
// 0x7fff, so the emulation does too. float -> half is RNE with overflow to inf, subnormals and
// canonical NaN 0x7fff, as cuda_fp16.hpp. Arithmetic operators compute in fp32 and round once:
// for bf16 (8-bit significand) and half (11-bit) the fp32 intermediate is wide enough (24 >= 2p+2)
// that this equals one correctly rounded operation, as the sm_80 instructions give.
#pragma once

#include <bit>
#include <cstdint>

#include "core/dtype.h"
#include "simt/emu/defs.h"
#include "simt/emu/intrinsics.h"

namespace goat::simt::detail {

inline unsigned short float_to_bf16_bits(float f) {
  if ((std::bit_cast<uint32_t>(f) & 0x7fffffffu) > 0x7f800000u) return 0x7fffu;
  return goat::bf16::from_float(f).bits;
}
inline unsigned short float_to_bf16_bits_rz(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fffu;
  return static_cast<unsigned short>(u >> 16);
}
inline float bf16_bits_to_float(unsigned short b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

inline unsigned short float_to_half_bits(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint32_t sign = (x >> 16) & 0x8000u, u = x & 0x7fffffffu;
  if (u > 0x7f800000u) return 0x7fffu;  // NaN
  const uint32_t e = u >> 23;
  uint32_t h, rem, halfway;
  if (e >= 113) {  // |f| >= 2^-14: normal half (or overflow)
    const uint32_t r = u - (112u << 23);
    if (r >= (31u << 23)) return static_cast<unsigned short>(sign | 0x7c00u);
    h = r >> 13;
    rem = r & 0x1fffu;
    halfway = 0x1000u;
  } else if (e < 102) {  // |f| < 2^-25: rounds to zero
    return static_cast<unsigned short>(sign);
  } else {  // half subnormal: value = m * 2^(e - 150), half ulp 2^-24
    const uint32_t m = (u & 0x7fffffu) | 0x800000u, shift = 126 - e;
    h = m >> shift;
    rem = m & ((1u << shift) - 1u);
    halfway = 1u << (shift - 1);
  }
  if (rem > halfway || (rem == halfway && (h & 1u))) ++h;  // may carry into the exponent (or to inf)
  return static_cast<unsigned short>(sign | (h > 0x7c00u ? 0x7c00u : h));
}

inline float half_bits_to_float(unsigned short hb) {
  const uint32_t sign = (uint32_t{hb} & 0x8000u) << 16, e = (hb >> 10) & 0x1fu, m = hb & 0x3ffu;
  if (e == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (m << 13));
  if (e != 0) return std::bit_cast<float>(sign | ((e + 112u) << 23) | (m << 13));
  const float v = static_cast<float>(m) * 0x1p-24f;  // subnormal or zero, exact
  return sign ? -v : v;
}

}  // namespace goat::simt::detail

struct __nv_bfloat16 {
  unsigned short __x;
  __nv_bfloat16() = default;
  __nv_bfloat16(float f) : __x(goat::simt::detail::float_to_bf16_bits(f)) {}
  __nv_bfloat16(double f) : __nv_bfloat16(static_cast<float>(f)) {}
  __nv_bfloat16(int v) : __nv_bfloat16(static_cast<float>(v)) {}
  operator float() const { return goat::simt::detail::bf16_bits_to_float(__x); }
};
struct alignas(4) __nv_bfloat162 {
  __nv_bfloat16 x, y;
};

struct __half {
  unsigned short __x;
  __half() = default;
  __half(float f) : __x(goat::simt::detail::float_to_half_bits(f)) {}
  __half(double f) : __half(static_cast<float>(f)) {}
  __half(int v) : __half(static_cast<float>(v)) {}
  operator float() const { return goat::simt::detail::half_bits_to_float(__x); }
};
struct alignas(4) __half2 {
  __half x, y;
};

// ---- bf16 conversions (cuda_bf16.h names) ----
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short b) {
  __nv_bfloat16 r;
  r.__x = b;
  return r;
}
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.__x; }
inline __nv_bfloat16 __float2bfloat16(float f) { return __nv_bfloat16(f); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }
inline __nv_bfloat16 __float2bfloat16_rz(float f) {
  return __ushort_as_bfloat16(goat::simt::detail::float_to_bf16_bits_rz(f));
}
inline float __bfloat162float(__nv_bfloat16 h) { return static_cast<float>(h); }
inline __nv_bfloat162 __floats2bfloat162_rn(float lo, float hi) { return {__nv_bfloat16(lo), __nv_bfloat16(hi)}; }
inline __nv_bfloat162 __float22bfloat162_rn(float2 f) { return {__nv_bfloat16(f.x), __nv_bfloat16(f.y)}; }
inline float2 __bfloat1622float2(__nv_bfloat162 h) { return {static_cast<float>(h.x), static_cast<float>(h.y)}; }
inline __nv_bfloat162 __halves2bfloat162(__nv_bfloat16 lo, __nv_bfloat16 hi) { return {lo, hi}; }
inline __nv_bfloat16 __low2bfloat16(__nv_bfloat162 h) { return h.x; }
inline __nv_bfloat16 __high2bfloat16(__nv_bfloat162 h) { return h.y; }
inline float __low2float(__nv_bfloat162 h) { return static_cast<float>(h.x); }
inline float __high2float(__nv_bfloat162 h) { return static_cast<float>(h.y); }

inline __nv_bfloat16 operator+(__nv_bfloat16 a, __nv_bfloat16 b) { return __nv_bfloat16(float(a) + float(b)); }
inline __nv_bfloat16 operator-(__nv_bfloat16 a, __nv_bfloat16 b) { return __nv_bfloat16(float(a) - float(b)); }
inline __nv_bfloat16 operator*(__nv_bfloat16 a, __nv_bfloat16 b) { return __nv_bfloat16(float(a) * float(b)); }
inline __nv_bfloat16 operator/(__nv_bfloat16 a, __nv_bfloat16 b) { return __nv_bfloat16(float(a) / float(b)); }
inline __nv_bfloat16 operator-(__nv_bfloat16 a) {
  return __ushort_as_bfloat16(static_cast<unsigned short>(a.__x ^ 0x8000u));
}
inline __nv_bfloat16 __hadd(__nv_bfloat16 a, __nv_bfloat16 b) { return a + b; }
inline __nv_bfloat16 __hmul(__nv_bfloat16 a, __nv_bfloat16 b) { return a * b; }
inline __nv_bfloat16 __hfma(__nv_bfloat16 a, __nv_bfloat16 b, __nv_bfloat16 c) {
  return __nv_bfloat16(static_cast<float>(static_cast<double>(float(a)) * float(b) + float(c)));
}

inline __nv_bfloat162 make_bfloat162(__nv_bfloat16 x, __nv_bfloat16 y) { return {x, y}; }
inline __nv_bfloat162 __float2bfloat162_rn(float f) { return {__nv_bfloat16(f), __nv_bfloat16(f)}; }
inline __nv_bfloat162 __hadd2(__nv_bfloat162 a, __nv_bfloat162 b) { return {a.x + b.x, a.y + b.y}; }
inline __nv_bfloat162 __hmul2(__nv_bfloat162 a, __nv_bfloat162 b) { return {a.x * b.x, a.y * b.y}; }
inline __nv_bfloat162 __hfma2(__nv_bfloat162 a, __nv_bfloat162 b, __nv_bfloat162 c) {
  return {__hfma(a.x, b.x, c.x), __hfma(a.y, b.y, c.y)};
}

// ---- half conversions (cuda_fp16.h names) ----
inline __half __ushort_as_half(unsigned short b) {
  __half r;
  r.__x = b;
  return r;
}
inline unsigned short __half_as_ushort(__half h) { return h.__x; }
inline __half __float2half(float f) { return __half(f); }
inline __half __float2half_rn(float f) { return __half(f); }
inline float __half2float(__half h) { return static_cast<float>(h); }
inline __half2 __floats2half2_rn(float lo, float hi) { return {__half(lo), __half(hi)}; }
inline __half2 __float22half2_rn(float2 f) { return {__half(f.x), __half(f.y)}; }
inline float2 __half22float2(__half2 h) { return {static_cast<float>(h.x), static_cast<float>(h.y)}; }
inline __half operator+(__half a, __half b) { return __half(float(a) + float(b)); }
inline __half operator-(__half a, __half b) { return __half(float(a) - float(b)); }
inline __half operator*(__half a, __half b) { return __half(float(a) * float(b)); }
inline __half operator/(__half a, __half b) { return __half(float(a) / float(b)); }

// ---- 16-bit float atomics (sm_80 has them natively): compare-and-swap on the bits, one RNE add ----
inline __nv_bfloat16 atomicAdd(__nv_bfloat16* p, __nv_bfloat16 v) {
  return goat::simt::detail::atomic_update(p, [v](__nv_bfloat16 o) { return o + v; });
}
inline __nv_bfloat162 atomicAdd(__nv_bfloat162* p, __nv_bfloat162 v) {
  return goat::simt::detail::atomic_update(p, [v](__nv_bfloat162 o) { return __hadd2(o, v); });
}
inline __half atomicAdd(__half* p, __half v) {
  return goat::simt::detail::atomic_update(p, [v](__half o) { return o + v; });
}
