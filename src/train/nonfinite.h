// Finding the first non-finite (NaN/Inf) value of a training step, for the skip-and-count policy
// of train.max_bad_steps (docs/training.md).
#pragma once

#include <string>

#include "core/arena.h"

namespace goat {

// The name of the first view of `a` (in arena order) holding a NaN or Inf, or "" when all finite.
std::string first_non_finite(const Arena& a);

}  // namespace goat
