// The bf16 GELU table (gelu_table.h): 2^16 evaluations of the fp32 definitions, made once.
#include "backend/cpu/gelu_table.h"

#include <memory>

#include "backend/cpu/vec_math.h"
#include "core/dtype.h"

namespace goat::cpu {

namespace {
std::unique_ptr<GeluBf16Table> build_table() {
  auto t = std::make_unique<GeluBf16Table>();
  for (uint32_t b = 0; b < (1u << 16); ++b) {
    const float x = bf16::from_bits(static_cast<uint16_t>(b)).to_float();
    t->forward[b] = bf16::from_float(gelu_f32(x)).bits;
    t->grad[b] = gelu_grad_f32(x);
  }
  return t;
}
}  // namespace

const GeluBf16Table& gelu_bf16_table() {
  static const std::unique_ptr<GeluBf16Table> table = build_table();
  return *table;
}

}  // namespace goat::cpu
