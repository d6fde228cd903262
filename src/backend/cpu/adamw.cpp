// AdamW in one streaming pass: each element is read and written once, parallel over fixed
// chunks above kParallelMin elements. Bias corrections are precomputed in fp64 by the caller.
// Several runs (the tensors of a parameter arena, each with its weight decay) share one parallel
// region over all their chunks: one fork/join per optimizer step instead of one per tensor, and
// the small tensors (biases, LayerNorm) no longer run serially while the other threads wait.
// Compiled with -fno-math-errno (src/CMakeLists.txt) so GCC vectorises the loop, sqrt included:
// scalar, it was ~5% of a d256 training step.
#include "backend/cpu/adamw.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/vec_math.h"

namespace goat::cpu {

namespace {

void adamw_chunk(float* p, const float* grad, float* m, float* v, int64_t n, const AdamWStep& s, float wd) {
  const float b1 = s.beta1, b2 = s.beta2, ib1 = 1.f - s.beta1, ib2 = 1.f - s.beta2;
  const float inv_c1 = 1.f / s.bias_c1, inv_c2 = 1.f / s.bias_c2;
  const float lr = s.lr, eps = s.eps, gs = s.grad_scale;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i] * gs;
    const float mi = b1 * m[i] + ib1 * g;
    const float vi = b2 * v[i] + ib2 * g * g;
    m[i] = mi;
    v[i] = vi;
    p[i] -= lr * ((mi * inv_c1) / (std::sqrt(vi * inv_c2) + eps) + wd * p[i]);
  }
}

}  // namespace

void adamw_update_runs(float* p, const float* grad, float* m, float* v, const AdamWRun* runs, int64_t nruns,
                       const AdamWStep& s) {
  constexpr int64_t kChunk = 1 << 13;
  thread_local std::vector<AdamWRun> chunks;  // each run cut into kChunk pieces from its start
  chunks.clear();
  int64_t total = 0;
  for (int64_t r = 0; r < nruns; ++r) {
    for (int64_t i0 = 0; i0 < runs[r].n; i0 += kChunk)
      chunks.push_back({runs[r].offset + i0, std::min(runs[r].n - i0, kChunk), runs[r].weight_decay});
    total += runs[r].n;
  }
  const AdamWRun* const pieces = chunks.data();  // the workers must not name the thread_local
  const auto npieces = static_cast<int64_t>(chunks.size());
#pragma omp parallel for schedule(static) if (total >= kParallelMin)
  for (int64_t ch = 0; ch < npieces; ++ch) {
    const AdamWRun& c = pieces[ch];
    adamw_chunk(p + c.offset, grad + c.offset, m + c.offset, v + c.offset, c.n, s, c.weight_decay);
  }
}

}  // namespace goat::cpu
