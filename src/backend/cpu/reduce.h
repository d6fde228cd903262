// Column reductions shared by the backward kernels (bias gradients): deterministic, since each
// column is summed over rows in order by one thread whatever the thread count.
#pragma once

#include <cstdint>

namespace goat::cpu {

// dst[c] += Σ_r src[r·ld + c] for c < cols.   src: (rows, cols) with row stride ld.
void column_sum_add(float* dst, const float* src, int64_t rows, int64_t cols, int64_t ld);

// Σ x[i]² in fp64, in fixed chunks summed in order (same result for any thread count).
double sum_squares(const float* x, int64_t n);

}  // namespace goat::cpu
