// Position-scheme ops on head views (model/position_rope.cpp, position_goat.cpp call these):
// RoPE rotation and GOAT's prior lanes, in place. q/k/x: (B, H, T, D) strided views with a
// unit-stride last dim (views into the fused qkv rows), f32 on the CPU, f32 or bf16 on CUDA; the
// tables and GOAT's a, b and their gradients are f32 on the same device.
#pragma once

#include "core/tensor.h"

namespace goat::ops {

// x rotated in place by sign·θ(pos0 + t): cos, sin (n_pos, D/2) with n_pos ≥ pos0 + T.
void rope_rotate(const Tensor& x, const Tensor& cos, const Tensor& sin, int64_t pos0, float sign, bool interleaved);

// GOAT lanes (goat.md §3): R = a.size(1) frequencies after the first dc content dims.
//   q (B, H, Tq, D): content ×= qscale, lanes [dc, dc+R) = a∘cq + b∘sq, [dc+R, dc+2R) = a∘sq − b∘cq, rest 0
//   k (B, Hkv, Tk, D): lanes [dc, dc+R) = ck, [dc+R, dc+2R) = sk, rest 0
// a, b: (Hkv, R); cq, sq: (Tq, R); ck, sk: (Tk, R) (cos/sin of w_r times each row's position).
void goat_lanes_forward(const Tensor& q, const Tensor& k, const Tensor& a, const Tensor& b, const Tensor& cq,
                        const Tensor& sq, const Tensor& ck, const Tensor& sk, int64_t dc, float qscale);
// The transpose: da, db (Hkv, R) += Σ over dq's lanes; dq content ×= qscale; lanes of dq, dk zeroed.
void goat_lanes_backward(const Tensor& dq, const Tensor& dk, const Tensor& da, const Tensor& db, const Tensor& cq,
                         const Tensor& sq, int64_t dc, float qscale);

}  // namespace goat::ops
