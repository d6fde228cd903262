// CPU kernels of the attention-side position schemes (model/position_*.cpp): RoPE rotation and
// GOAT's prior lanes, in place on strided head views of the fused qkv buffer. The scalar
// formulas come from kernels/kernel_math.h, shared with the CUDA kernels (kernels/position.cuh).
#pragma once

#include <cstdint>

namespace goat::cpu {

// (b, h, t, d) rows with element strides s = (b, h, t) and a unit-stride last dim.
struct HeadRows {
  float* x = nullptr;
  int64_t b = 0, h = 0, t = 0, d = 0;
  int64_t s[3]{};
};

// Rotates x by sign·angle(pos0 + t): cos/sin tables (n_pos, d/2), pairs (i, i + d/2) or (2i, 2i+1).
void rope_rotate(const HeadRows& x, const float* cos, const float* sin, int64_t pos0, float sign, bool interleaved);

// GOAT lanes (goat.md §3), R frequencies after dc content dims, the rest of each row zero:
// forward scales q's content by qscale and writes a∘cos + b∘sin, a∘sin − b∘cos into q, cos, sin into k
// (a, b (Hkv, R); cq, sq (Tq, R); ck, sk (Tk, R)). Backward: da, db (Hkv, R) += the lane
// transposes over dq, then dq's content scaled by qscale and every lane of dq, dk zeroed.
void goat_lanes_forward(const HeadRows& q, const HeadRows& k, const float* a, const float* b, const float* cq,
                        const float* sq, const float* ck, const float* sk, int64_t r, int64_t dc, float qscale);
void goat_lanes_backward(const HeadRows& dq, const HeadRows& dk, float* da, float* db, const float* cq,
                         const float* sq, int64_t r, int64_t dc, float qscale);

}  // namespace goat::cpu
