// CPU token + position embedding over raw arrays. Positions of row t are pos_offset + t.
#pragma once

#include <cstdint>

namespace goat::cpu {

struct EmbeddingDims {
  int64_t b = 0, t = 0, c = 0;  // batch, time, channels
  int64_t pos_offset = 0;       // position of t = 0
};

// out (b, t, c) = wte[tokens] + wpe[pos_offset + t] (wpe may be null).
void embedding_forward(const EmbeddingDims& d, float* out, const int32_t* tokens, const float* wte, const float* wpe);

// d_wte (V, c) += scatter of d_out rows by token; d_wpe (Tmax, c) += Σ_b d_out[b, t] (either may be null).
void embedding_backward(const EmbeddingDims& d, float* d_wte, float* d_wpe, const float* d_out, const int32_t* tokens);

}  // namespace goat::cpu
