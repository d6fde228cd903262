// Linear layer y = x Wᵀ + b with PyTorch's [out, in] weight layout (so exports load directly).
// Backward accumulates into the weight/bias gradients (+=), so gradient accumulation across
// micro-batches is free; d_in is overwritten unless accumulate_d_in is set.
#pragma once

#include "core/tensor.h"

namespace goat::ops {

// On the CPU, in/out/weight (and d_in/d_out/pre of the backward) may each be f32 or bf16: any bf16
// operand runs the bf16 GEMMs (the CPU bf16 model's pre-rounded activations and weights), f32
// operands are rounded, bf16 outputs are rounded from the fp32 accumulator; bias and the weight
// gradients stay f32, and a bf16 d_in cannot be accumulated into.

// out (N, Cout) = in (N, Cin) · weightᵀ (Cout, Cin) + bias (Cout); bias may have data == nullptr.
void linear_forward(const Tensor& out, const Tensor& in, const Tensor& weight, const Tensor& bias);

// linear_forward followed by GELU (c_fc): out = in · weightᵀ + bias (GELU's input, kept for the
// backward) and gelu_out = GELU(out), same shape. On the CPU with bf16 out and gelu_out one GEMM
// writes both (its epilogue, where the AMX GEMM runs); otherwise linear_forward then gelu_forward.
// The same values either way. With keep_grad on the CPU in fp32 (f32 operands, GEMM precision not
// bf16), out is overwritten with gelu'(pre) from the same σ, bitwise gelu_grad_f32 (pass that to
// linear_backward_gelu with holds_grad, whose GELU backward is then one multiply per element);
// returns whether it did (false: out holds pre).
bool linear_forward_gelu(const Tensor& out, const Tensor& gelu_out, const Tensor& in, const Tensor& weight,
                         const Tensor& bias, bool keep_grad = false);

// d_in (N, Cin) = d_out · W  (overwritten, or added when accumulate_d_in; skipped when data == nullptr);
// d_weight (Cout, Cin) += d_outᵀ · in; d_bias (Cout) += Σ_n d_out (each skipped when data == nullptr).
// in/out may be (..., C) views whose leading dims collapse to rows with one row stride.
void linear_backward(const Tensor& d_in, const Tensor& d_weight, const Tensor& d_bias, const Tensor& d_out,
                     const Tensor& in, const Tensor& weight, bool accumulate_d_in = false);

// linear_backward of a layer whose input came out of GELU, in = GELU(pre) (c_proj after c_fc), with
// GELU's backward fused in: d_pre = d_in ∘ gelu'(pre), the gradient at GELU's input, instead of
// d_in, and pre_bias (Cin) += Σ_n d_pre (the bias gradient of the layer that produced pre). CPU,
// bf16 d_pre and pre (the CPU bf16 model) only: d_pre = bf16(bf16(d_out · W) ∘ gelu'(pre)) and the
// sums bitwise linear_backward followed by linear_backward_gelu's fused pass, without the bf16
// d_in going to memory and back (backend/cpu/linear.h linear_backward_into_gelu_bf16). The next
// layer's backward then takes d_pre as its d_out, without GELU and its bias.
void linear_backward_into_gelu(const Tensor& d_pre, const Tensor& d_weight, const Tensor& d_bias, const Tensor& d_out,
                               const Tensor& in, const Tensor& weight, const Tensor& pre, const Tensor& pre_bias);

// linear_backward of a layer whose output `pre` went through GELU: d_act is the gradient at GELU's
// output, the layer's d_out is d_act ∘ gelu'(pre). With bf16 GEMMs on the CPU, GELU's backward is
// fused into the pass that rounds d_out to bf16; otherwise it runs in place on d_act (which is
// therefore overwritten) before linear_backward, on the CPU in fp32 in one pass with d_bias's column sum.
// holds_grad: `pre` holds gelu'(pre) instead (linear_forward_gelu's keep_grad; CPU fp32 only).
void linear_backward_gelu(const Tensor& d_in, const Tensor& d_weight, const Tensor& d_bias, const Tensor& d_act,
                          const Tensor& pre, const Tensor& in, const Tensor& weight, bool holds_grad = false);

}  // namespace goat::ops
