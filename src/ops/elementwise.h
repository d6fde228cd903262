// Elementwise ops: GELU (tanh form, as GPT-2), the residual add and zero fill.
#pragma once

#include "core/tensor.h"

namespace goat::ops {

// out = 0.5 x (1 + tanh(sqrt(2/π)(x + 0.044715 x³))); any shape. On the CPU in and out may also
// both be bf16 (computed in fp32, rounded to nearest even).
void gelu_forward(const Tensor& out, const Tensor& in);
// d_in = d_out · gelu'(in) (overwritten; d_in may alias d_out). All operands contiguous, same shape.
void gelu_backward(const Tensor& d_in, const Tensor& d_out, const Tensor& in);

// out = a + b (out may alias a or b).
void add_forward(const Tensor& out, const Tensor& a, const Tensor& b);

// dst (bf16) = src (f32) rounded to nearest even; CPU, contiguous, same shape.
void round_to_bf16(const Tensor& dst, const Tensor& src);

// t = 0 (contiguous, any dtype, either device).
void fill_zero(const Tensor& t);

}  // namespace goat::ops
