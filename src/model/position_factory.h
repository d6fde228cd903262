// Builds the attention-side PositionScheme of one layer from the config's model.position.
// learned / sinusoidal / none → plain (the absolute variants live in the embedding);
// rope → RopePosition; alibi → AlibiPosition; goat → make_goat_position (position_goat.h).
#pragma once

#include <memory>

#include "config/config.h"
#include "model/position.h"

namespace goat {

// train_len: the training sequence length (GOAT's D when model.position.train_len is 0).
std::unique_ptr<PositionScheme> make_position(const ModelConfig& m, const AttentionShape& shape, int64_t train_len);

// Sinusoidal table (Vaswani et al.): pe[t, 2i] = sin(t / 10000^(2i/C)), pe[t, 2i+1] = cos(·).
// Fills out (n_pos × C, row-major) for positions [0, n_pos).
void sinusoidal_table(float* out, int64_t n_pos, int64_t d_model);

}  // namespace goat
