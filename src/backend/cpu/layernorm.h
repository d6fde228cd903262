// CPU LayerNorm over the last dim of a (n, c) row-major block, saving mean and rstd (n) for the
// backward pass, plus the fused residual variant (residual = a + b, then normalise).
#pragma once

#include <cstdint>

namespace goat::cpu {

// out = (in − mean)·rstd·w + b per row; mean, rstd (n) written.
void layernorm_forward(float* out, float* mean, float* rstd, const float* in, const float* w, const float* b, int64_t n,
                       int64_t c, float eps);

// residual = a + b, then layernorm_forward(residual) in the same pass over memory.
void residual_layernorm_forward(float* residual, float* out, float* mean, float* rstd, const float* a, const float* b,
                                const float* w, const float* bias, int64_t n, int64_t c, float eps);

// The same two with out as bf16 bits, rounded to nearest even from the fp32 result (the CPU bf16
// model, whose GEMMs read the normalised rows in bf16); residual, mean and rstd stay fp32.
void layernorm_forward_bf16(uint16_t* out, float* mean, float* rstd, const float* in, const float* w, const float* b,
                            int64_t n, int64_t c, float eps);
void residual_layernorm_forward_bf16(float* residual, uint16_t* out, float* mean, float* rstd, const float* a,
                                     const float* b, const float* w, const float* bias, int64_t n, int64_t c, float eps);

// d_in += ∂L/∂in; d_w += Σ_n d_out·x̂; d_b += Σ_n d_out (d_w/d_b may be null). With d_in_bf16
// (n, c) and d_in_col_sum (c), both or neither (the CPU bf16 model, where d_in is the residual
// gradient the next linear layer's backward reads): also d_in_bf16 = bf16(d_in) after the
// accumulation, rounded to nearest even, and d_in_col_sum += Σ_n d_in, that layer's d_bias, summed
// in the same order as to_bf16_column_sum (gemm_bf16.h) so the result is bitwise the same.
void layernorm_backward(float* d_in, float* d_w, float* d_b, const float* d_out, const float* in, const float* w,
                        const float* mean, const float* rstd, int64_t n, int64_t c, uint16_t* d_in_bf16 = nullptr,
                        float* d_in_col_sum = nullptr);
// The same with d_out as bf16 bits (the CPU bf16 model's d_ln, written in bf16 by the GEMM that
// produces it), read as fp32.
void layernorm_backward(float* d_in, float* d_w, float* d_b, const uint16_t* d_out, const float* in, const float* w,
                        const float* mean, const float* rstd, int64_t n, int64_t c, uint16_t* d_in_bf16 = nullptr,
                        float* d_in_col_sum = nullptr);

}  // namespace goat::cpu
