// Embedding gather (row-parallel) and its scatter-add backward. The scatter has write conflicts
// when a token repeats, so it is split by column blocks instead of rows: each thread owns a slice
// of every embedding row and walks the tokens in order (deterministic, no atomics).
#include "backend/cpu/embedding.h"

#include <algorithm>

#include "backend/cpu/vec_math.h"

namespace goat::cpu {

void embedding_forward(const EmbeddingDims& d, float* out, const int32_t* tokens, const float* wte, const float* wpe) {
  const int64_t rows = d.b * d.t, c = d.c;
#pragma omp parallel for schedule(static) if (rows * c >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    float* o = out + r * c;
    const float* e = wte + static_cast<int64_t>(tokens[r]) * c;
    if (wpe) {
      const float* p = wpe + (d.pos_offset + r % d.t) * c;
#pragma omp simd
      for (int64_t j = 0; j < c; ++j) o[j] = e[j] + p[j];
    } else {
      std::copy(e, e + c, o);
    }
  }
}

void embedding_backward(const EmbeddingDims& d, float* d_wte, float* d_wpe, const float* d_out, const int32_t* tokens) {
  const int64_t rows = d.b * d.t, c = d.c;
  constexpr int64_t kBlock = 64;
  const int64_t nblocks = (c + kBlock - 1) / kBlock;
  if (d_wte) {
#pragma omp parallel for schedule(static) if (rows * c >= kParallelMin && nblocks > 1)
    for (int64_t blk = 0; blk < nblocks; ++blk) {
      const int64_t c0 = blk * kBlock, c1 = std::min(c, c0 + kBlock);
      for (int64_t r = 0; r < rows; ++r) {
        float* g = d_wte + static_cast<int64_t>(tokens[r]) * c;
        const float* s = d_out + r * c;
#pragma omp simd
        for (int64_t j = c0; j < c1; ++j) g[j] += s[j];
      }
    }
  }
  if (d_wpe) {
#pragma omp parallel for schedule(static) if (rows * c >= kParallelMin)
    for (int64_t t = 0; t < d.t; ++t) {
      float* g = d_wpe + (d.pos_offset + t) * c;
      for (int64_t bi = 0; bi < d.b; ++bi) {
        const float* s = d_out + (bi * d.t + t) * c;
#pragma omp simd
        for (int64_t j = 0; j < c; ++j) g[j] += s[j];
      }
    }
  }
}

}  // namespace goat::cpu
