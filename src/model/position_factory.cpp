// The position factory and the sinusoidal table.
#include "model/position_factory.h"

#include <cmath>

#include "model/position_alibi.h"
#include "model/position_goat.h"
#include "model/position_rope.h"

namespace goat {

std::unique_ptr<PositionScheme> make_position(const ModelConfig& m, const AttentionShape& shape, int64_t train_len) {
  const auto& p = m.position;
  if (p.type == "rope") return std::make_unique<RopePosition>(shape.head_dim, p.rope_base, p.rope_pairing == "interleaved");
  if (p.type == "alibi") return std::make_unique<AlibiPosition>(shape.head_dim, shape.n_kv_head);
  if (p.type == "learned" || p.type == "sinusoidal" || p.type == "none")
    return std::make_unique<PlainPosition>(shape.head_dim);
  if (p.type == "goat") return make_goat_position(goat_config(p, train_len), shape);
  fail("model", "model.position.type: unknown position variant \"{}\"", p.type);
}

void sinusoidal_table(float* out, int64_t n_pos, int64_t d_model) {
  for (int64_t t = 0; t < n_pos; ++t)
    for (int64_t i = 0; i < d_model / 2; ++i) {
      const double a = static_cast<double>(t) / std::pow(10000.0, 2.0 * static_cast<double>(i) / static_cast<double>(d_model));
      out[t * d_model + 2 * i] = static_cast<float>(std::sin(a));
      out[t * d_model + 2 * i + 1] = static_cast<float>(std::cos(a));
    }
}

}  // namespace goat
