// CPU elementwise kernels over contiguous fp32 spans: GELU (tanh form) and the residual add.
#pragma once

#include <cstdint>

namespace goat::cpu {

// out[i] = gelu(in[i]) with gelu(x) = 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))); out may alias in.
void gelu_forward(float* out, const float* in, int64_t n);
// gelu_forward over bf16 bits (the CPU bf16 model: in is c_fc's bf16 GEMM output, out the bf16
// operand of c_proj): computed in fp32, rounded to nearest even (looked up: gelu_table.h).
void gelu_forward_bf16(uint16_t* out, const uint16_t* in, int64_t n);
// out[i] = gelu(x[i]) and x[i] = gelu'(x[i]) in place, from one σ per element: bitwise what
// gelu_forward and gelu_grad_f32 give (the CPU fp32 model's c_fc output, which only GELU's backward
// reads after this; that backward is then gelu_grad_backward_column_sum, one multiply per element).
void gelu_forward_keep_grad(float* out, float* x, int64_t n);
// d_in[i] = d_out[i]·gelu'(in[i]); d_in may alias d_out.
void gelu_backward(float* d_in, const float* d_out, const float* in, int64_t n);
// dst[i] = bf16(src[i]), rounded to nearest even.
void round_to_bf16(uint16_t* dst, const float* src, int64_t n);
// The MLP's GELU backward with its linear layer's bias gradient in one pass: d (rows, cols,
// contiguous) = d ∘ gelu'(pre) in place, and col_sum (cols) += Σ_rows of the new d (fixed-order sums).
void gelu_backward_column_sum(float* d, const float* pre, int64_t rows, int64_t cols, float* col_sum);
// The same with gelu'(pre) given (gelu_forward_keep_grad's x): d = d ∘ grad, the same sums.
void gelu_grad_backward_column_sum(float* d, const float* grad, int64_t rows, int64_t cols, float* col_sum);
// d = d ∘ grad (n elements).
void gelu_grad_backward(float* d, const float* grad, int64_t n);
// out[i] = a[i] + b[i]; out may alias a or b.
void add_forward(float* out, const float* a, const float* b, int64_t n);

}  // namespace goat::cpu
