// first_non_finite: one pass over the views in order, stopping at the first bad one.
#include "train/nonfinite.h"

#include <cmath>

namespace goat {

std::string first_non_finite(const Arena& a) {
  for (const auto& e : a.entries()) {
    const float* p = a.view(e.name).f32();
    const int64_t n = e.shape.numel();
    bool bad = false;
    for (int64_t i = 0; i < n; ++i) bad |= !std::isfinite(p[i]);
    if (bad) return e.name;
  }
  return "";
}

}  // namespace goat
