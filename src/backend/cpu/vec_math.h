// Vectorisable fp32 math for the CPU kernels: exp, sigmoid, GELU and the OpenMP work threshold.
// glibc only exposes SIMD expf under -ffast-math, so the hot loops (softmax, GELU) use this
// Cephes-style exp instead: range reduction x = n·ln2 + r, a degree-6 polynomial on
// |r| ≤ ln2/2 and 2^n built in the exponent bits. Error ≤ 2 ulp on [-87, 88]; GCC turns loops
// over it into AVX-512 code (checked with -fopt-info-vec).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace goat::cpu {

// exp(x) for fp32, clamped to the normal range (x ≤ -87.3 gives ~1e-38, not 0).
inline float exp_f32(float x_in) {
  // The clamp sends NaN to -87.3 (a false comparison) so the integer conversion below stays
  // defined (UBSan); NaN is given back unchanged at the end, so non-finite inputs still propagate.
  float x = x_in >= -87.3f ? x_in : -87.3f;
  x = x > 88.7f ? 88.7f : x;
  // n = round(x / ln2) by the 1.5·2^23 trick (std::floor blocks GCC's vectoriser).
  const float n = (x * 1.44269504088896341f + 12582912.f) - 12582912.f;
  float r = x - n * 0.693359375f;  // ln2 split in two so n·ln2 is exact (Cephes)
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  // 2^n with n in [-126, 128]: split n = a + b so each half is a normal power of two.
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t a = ni >> 1, b = ni - a;
  const float y = p * std::bit_cast<float>((a + 127) << 23) * std::bit_cast<float>((b + 127) << 23);
  return x_in == x_in ? y : x_in;
}

// 1 / (1 + exp(-x)), stable for both signs.
inline float sigmoid_f32(float x) { return 1.f / (1.f + exp_f32(-x)); }

// GELU, tanh form (GPT-2's): gelu(x) = 0.5x(1 + tanh(u)), u = √(2/π)(x + 0.044715x³), through
// 0.5(1 + tanh(u)) = σ(2u): gelu(x) = x·σ(2u) and gelu'(x) = σ + 2x·σ(1 − σ)·u'(x), one exp per
// element, no tanh call, stable for large |x|.
constexpr float kGeluSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluCubic = 0.044715f;
// σ(2u(x)): the gate both GELU and its derivative are built from.
inline float gelu_gate_f32(float x) {
  const float u = kGeluSqrt2OverPi * (x + kGeluCubic * x * x * x);
  return sigmoid_f32(2.f * u);
}
inline float gelu_f32(float x) { return x * gelu_gate_f32(x); }
// gelu'(x) from s = σ(2u(x)).
inline float gelu_grad_from_sigmoid(float x, float s) {
  const float du = kGeluSqrt2OverPi * (1.f + 3.f * kGeluCubic * x * x);
  return s + 2.f * x * s * (1.f - s) * du;
}
inline float gelu_grad_f32(float x) { return gelu_grad_from_sigmoid(x, gelu_gate_f32(x)); }

// Elements of simple streaming work below which an OpenMP region costs more than it saves.
constexpr int64_t kParallelMin = 1 << 15;

}  // namespace goat::cpu
