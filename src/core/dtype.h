// Element types: f32 (storage and math on the CPU) and bf16 (storage on CUDA and the CPU bf16
// path). bf16 conversion rounds to nearest even and keeps NaN a NaN (quiet), as CUDA's
// __float2bfloat16 does; inf and subnormals follow from the bit arithmetic.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace goat {

enum class DType : uint8_t { f32, bf16 };

constexpr size_t dtype_size(DType t) { return t == DType::f32 ? 4 : 2; }
constexpr std::string_view dtype_name(DType t) { return t == DType::f32 ? "f32" : "bf16"; }

struct bf16 {
  uint16_t bits = 0;

  static constexpr bf16 from_bits(uint16_t b) {
    bf16 r;
    r.bits = b;
    return r;
  }
  // Round to nearest even; NaN stays NaN (quiet bit set).
  static constexpr bf16 from_float(float f) {
    const uint32_t u = std::bit_cast<uint32_t>(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return from_bits(static_cast<uint16_t>((u >> 16) | 0x0040u));
    const uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
    return from_bits(static_cast<uint16_t>((u + rounding) >> 16));
  }
  constexpr float to_float() const { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }
};

inline constexpr float bf16_round(float f) { return bf16::from_float(f).to_float(); }

// An element stored as fp32 or as bf16 bits, for kernels templated over their storage type:
// element_value reads it as fp32, store_element writes an fp32 value (bf16: rounded to nearest even).
inline constexpr float element_value(float v) { return v; }
inline constexpr float element_value(uint16_t bits) { return bf16::from_bits(bits).to_float(); }
inline constexpr void store_element(float* o, float v) { *o = v; }
inline constexpr void store_element(uint16_t* o, float v) { *o = bf16::from_float(v).bits; }

}  // namespace goat
