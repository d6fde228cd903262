// Token (+ optional learned position) embedding. Tokens are int32 ids; positions are
// pos_offset + t (pos_offset = cached tokens when decoding).
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace goat::ops {

// out (B, T, C) = wte[tokens] (+ wpe[pos_offset + t] when wpe.data != nullptr).
// tokens: (B, T) int32 ids in [0, V), a raw pointer (checked; an id out of range throws).
void embedding_forward(const Tensor& out, const int32_t* tokens, const Tensor& wte, const Tensor& wpe,
                       int64_t pos_offset = 0);

// d_wte (V, C) += scatter of d_out rows by token; d_wpe (Tmax, C) += Σ_b d_out[b, pos_offset + t].
// Either gradient may be absent (data == nullptr). Deterministic for any thread count.
void embedding_backward(const Tensor& d_wte, const Tensor& d_wpe, const Tensor& d_out, const int32_t* tokens,
                        int64_t pos_offset = 0);

}  // namespace goat::ops
