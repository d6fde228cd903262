// The error measure and fp32 allowance of the CUDA tests (the rule is stated in cuda_case.h):
// NMSE = Σ(y − r)²/Σr² (a NaN anywhere in y is an infinite error), and the fp32 floor
// 4·(8u)²·(K + 16), u = 2⁻²⁴, for a longest reduction of K terms.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace goat::cuda_test {

inline double nmse(const std::vector<double>& y, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    if (std::isnan(y[i])) return std::numeric_limits<double>::infinity();
    num += (y[i] - ref[i]) * (y[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return den > 0 ? num / den : num;
}

inline double fp32_tol(int64_t k) {
  const double u = std::ldexp(1.0, -24);
  return 4 * (8 * u) * (8 * u) * (static_cast<double>(std::max<int64_t>(k, 1)) + 16);
}

}  // namespace goat::cuda_test
