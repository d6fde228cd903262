// CPU linear layer over raw row-major matrices (row strides in elements, so inputs may be row
// views such as the last position of each sequence). Weights use PyTorch's (Cout, Cin) layout.
#pragma once

#include <cstdint>

namespace goat::cpu {

struct LinearDims {
  int64_t n = 0, cin = 0, cout = 0;  // rows, input features, output features
  int64_t ld_in = 0, ld_out = 0;     // row strides of in/d_in and out/d_out
};

// out (n, cout) = in (n, cin) · wᵀ + bias; bias may be nullptr.
void linear_forward(const LinearDims& d, float* out, const float* in, const float* w, const float* bias);

// d_in (n, cin) = d_out · w (overwritten, or += when accumulate_d_in; skipped when d_in is null);
// d_w (cout, cin) += d_outᵀ · in; d_bias (cout) += Σ_n d_out (skipped when null).
// With gelu_pre (n, cout; row stride ld_out) the layer's output went through GELU: d_out is the
// gradient at GELU's output and the gradient used is d_out ∘ gelu'(gelu_pre), fused into the bf16
// operand rounding (bf16) or formed in a scratch matrix (fp32).
void linear_backward(const LinearDims& d, float* d_in, float* d_w, float* d_bias, const float* d_out, const float* in,
                     const float* w, bool accumulate_d_in, const float* gelu_pre = nullptr);

// The bf16-GEMM versions, whose operands may already be bf16 (the CPU bf16 model keeps the
// activations a GEMM consumes and a working copy of the weights in bf16, rounded once where they
// are produced): an f32 operand is rounded into a scratch copy first, a bf16 one is used as is.
// Outputs marked bf16 are rounded (to nearest even) from the fp32 accumulator in the GEMM.
struct Operand {
  const void* p = nullptr;
  bool bf16 = false;  // p holds bf16 bits, else f32
};
struct Output {
  void* p = nullptr;
  bool bf16 = false;
};
// out (n, cout) = in · wᵀ + bias (bias f32 or nullptr).
void linear_forward_bf16(const LinearDims& d, Output out, Operand in, Operand w, const float* bias);
// A layer followed by GELU (c_fc): out (n, cout; bf16) as linear_forward_bf16 writes it and
// gelu_out (n, cout; bf16, row stride ld_out) = GELU(out), bitwise gelu_forward_bf16's. In the AMX
// GEMM's epilogue where matmul_bf16 runs on it (gemm_amx.h), else as a second pass.
void linear_forward_gelu_bf16(const LinearDims& d, uint16_t* out, uint16_t* gelu_out, Operand in, Operand w,
                              const float* bias);
// linear_backward with bf16 GEMMs; d_in may be bf16 only without accumulate_d_in; d_out and
// gelu_pre (if present) have the same dtype.
void linear_backward_bf16(const LinearDims& d, Output d_in, float* d_w, float* d_bias, Operand d_out, Operand in,
                          Operand w, bool accumulate_d_in, Operand gelu_pre = {});
// linear_backward_bf16 of a layer whose input came out of GELU (c_proj: in = GELU(pre)), with
// GELU's backward fused into d_in: d_pre (n, cin; bf16, row stride ld_in) = bf16(bf16(d_out · w) ∘
// gelu'(pre)), the gradient at GELU's input, and pre_bias (cin) += its column sums (the bias
// gradient of the layer that produced pre, c_fc), bitwise the unfused d_in GEMM followed by
// to_bf16_column_sum with gelu_pre (the same values, the same summation order). pre: bf16 (n, cin),
// row stride ld_in. GELU's backward runs over each row block of the AMX GEMM while it is in L2
// (gemm_amx.h GeluBackwardEpilogue), else as a pass over d_pre after the GEMM.
void linear_backward_into_gelu_bf16(const LinearDims& d, uint16_t* d_pre, float* d_w, float* d_bias, Operand d_out,
                                    Operand in, Operand w, const uint16_t* pre, float* pre_bias);

}  // namespace goat::cpu
