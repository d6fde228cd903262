// GELU (gelu_f32 / gelu_grad_f32 in vec_math.h, the one definition the fused bf16 linear
// backward shares) and the residual add. Loops are OpenMP-parallel above kParallelMin elements and
// SIMD inside.
#include "backend/cpu/elementwise.h"

#include "backend/cpu/vec_math.h"
#include "core/dtype.h"

namespace goat::cpu {

void gelu_forward(float* out, const float* in, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) out[i] = gelu_f32(in[i]);
}

void gelu_forward_bf16(uint16_t* out, const uint16_t* in, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) out[i] = bf16::from_float(gelu_f32(bf16::from_bits(in[i]).to_float())).bits;
}

void gelu_backward(float* d_in, const float* d_out, const float* in, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) d_in[i] = d_out[i] * gelu_grad_f32(in[i]);
}

void round_to_bf16(uint16_t* dst, const float* src, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16::from_float(src[i]).bits;
}

void add_forward(float* out, const float* a, const float* b, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

}  // namespace goat::cpu
