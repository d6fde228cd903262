// LayerNorm over the last dim (eps 1e-5, as GPT-2/PyTorch), saving mean and rstd for backward.
// The fused variant adds a residual first (x = a + b written out) — the pre-LN block boundary.
#pragma once

#include "core/tensor.h"

namespace goat::ops {

constexpr float kLayerNormEps = 1e-5f;

// out (N, C) = (in - mean) * rstd * weight + bias; mean, rstd: (N). On the CPU out (of both forward
// variants) may be bf16: rounded to nearest even from the fp32 result (the CPU bf16 model).
void layernorm_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& in,
                       const Tensor& weight, const Tensor& bias);

// d_in (N, C) += ∂L/∂in (accumulated: the residual stream); d_weight, d_bias (C) += (either may be
// absent, data == nullptr). in may be any (..., C) contiguous shape; mean/rstd hold one value per row.
// On the CPU d_out may be bf16 (read as fp32). CPU only, both or neither: d_in_bf16 (d_in's shape, bf16) = bf16(d_in) after the accumulation and
// d_in_col_sum (C, f32) += Σ_rows d_in, in the same pass: the bf16 d_out and d_bias of the linear
// layer whose backward reads d_in next (bitwise what that layer's own rounding pass gives).
void layernorm_backward(const Tensor& d_in, const Tensor& d_weight, const Tensor& d_bias, const Tensor& d_out,
                        const Tensor& in, const Tensor& weight, const Tensor& mean, const Tensor& rstd,
                        const Tensor& d_in_bf16 = Tensor(), const Tensor& d_in_col_sum = Tensor());

// residual (N, C) = a + b, then layernorm_forward on it (residual may alias a or b). Backward is
// layernorm_backward on residual, accumulating into the residual stream's gradient.
void residual_layernorm_forward(const Tensor& residual, const Tensor& out, const Tensor& mean, const Tensor& rstd,
                                const Tensor& a, const Tensor& b, const Tensor& weight, const Tensor& bias);

}  // namespace goat::ops
