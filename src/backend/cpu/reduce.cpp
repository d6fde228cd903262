// Column sums split into column blocks across threads (no atomics, fixed summation order) and
// a chunked fp64 sum of squares.
#include "backend/cpu/reduce.h"

#include <algorithm>
#include <vector>

#include "backend/cpu/vec_math.h"

namespace goat::cpu {

void column_sum_add(float* dst, const float* src, int64_t rows, int64_t cols, int64_t ld) {
  constexpr int64_t kBlock = 64;
  const int64_t nblocks = (cols + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMin && nblocks > 1)
  for (int64_t blk = 0; blk < nblocks; ++blk) {
    const int64_t c0 = blk * kBlock, c1 = std::min(cols, c0 + kBlock);
    float acc[kBlock] = {};
    for (int64_t r = 0; r < rows; ++r) {
      const float* s = src + r * ld;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) acc[c - c0] += s[c];
    }
    for (int64_t c = c0; c < c1; ++c) dst[c] += acc[c - c0];
  }
}

double sum_squares(const float* x, int64_t n) {
  constexpr int64_t kChunk = 1 << 14;
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(static_cast<size_t>(nchunks));
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t ch = 0; ch < nchunks; ++ch) {
    const int64_t i0 = ch * kChunk, i1 = std::min(n, i0 + kChunk);
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = i0; i < i1; ++i) s += static_cast<double>(x[i]) * x[i];
    part[static_cast<size_t>(ch)] = s;
  }
  double total = 0;
  for (double p : part) total += p;
  return total;
}

}  // namespace goat::cpu
