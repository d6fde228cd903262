// Cross-entropy, fused with the softmax and numerically stable: per row, the max m, then
// Σ exp(x − m) with the SIMD exp of vec_math.h, lse = m + log Σ. Backward recomputes m and Σ
// (two passes over the row, cheaper than storing (n, v) probabilities) and writes in place.
// Rows run in parallel; the loss total is summed in row order in fp64 (deterministic).
#include "backend/cpu/cross_entropy.h"

#include <cmath>
#include <limits>

#include "backend/cpu/vec_math.h"

namespace goat::cpu {

namespace {

struct RowStats {
  float max, sum;  // max_j x_j and Σ_j exp(x_j − max)
};

// The exp sum runs in fp32 SIMD over blocks of kSumBlock and adds the block sums in fp64, so
// its relative error stays near u·sqrt(kSumBlock / lanes) even for a 50k vocabulary (a plain fp32
// sum of 50k positive terms drifts by ~u·sqrt(V) ≈ 1e-5).
constexpr int64_t kSumBlock = 512;

inline RowStats row_stats(const float* x, int64_t v) {
  float m = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < v; ++j) m = x[j] > m ? x[j] : m;
  double total = 0;
  for (int64_t j0 = 0; j0 < v; j0 += kSumBlock) {
    const int64_t j1 = j0 + kSumBlock < v ? j0 + kSumBlock : v;
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = j0; j < j1; ++j) s += exp_f32(x[j] - m);
    total += s;
  }
  return {m, static_cast<float>(total)};
}

}  // namespace

double cross_entropy_forward(float* losses, const float* logits, const int32_t* targets, int64_t n, int64_t v,
                             int32_t ignore, int64_t* counted) {
#pragma omp parallel for schedule(static) if (n * v >= kParallelMin)
  for (int64_t r = 0; r < n; ++r) {
    if (targets[r] == ignore) {
      losses[r] = 0.f;
      continue;
    }
    const float* x = logits + r * v;
    const RowStats st = row_stats(x, v);
    losses[r] = st.max + std::log(st.sum) - x[targets[r]];
  }
  double total = 0;
  int64_t count = 0;
  for (int64_t r = 0; r < n; ++r) {
    if (targets[r] == ignore) continue;
    total += losses[r];
    ++count;
  }
  *counted = count;
  return total;
}

void cross_entropy_backward(float* d_logits, const float* logits, const int32_t* targets, int64_t n, int64_t v,
                            float scale, int32_t ignore) {
#pragma omp parallel for schedule(static) if (n * v >= kParallelMin)
  for (int64_t r = 0; r < n; ++r) {
    const float* x = logits + r * v;
    float* g = d_logits + r * v;
    if (targets[r] == ignore) {
      for (int64_t j = 0; j < v; ++j) g[j] = 0.f;
      continue;
    }
    const RowStats st = row_stats(x, v);
    const float m = st.max, k = scale / st.sum;
#pragma omp simd
    for (int64_t j = 0; j < v; ++j) g[j] = k * exp_f32(x[j] - m);
    g[targets[r]] -= scale;
  }
}

double cross_entropy_forward_backward(float* losses, float* d_logits, const float* logits, const int32_t* targets,
                                      int64_t n, int64_t v, float d_mean, int32_t ignore) {
  int64_t count = 0;
  for (int64_t r = 0; r < n; ++r) count += targets[r] != ignore;
  const float scale = count ? d_mean / static_cast<float>(count) : 0.f;
#pragma omp parallel for schedule(static) if (n * v >= kParallelMin)
  for (int64_t r = 0; r < n; ++r) {
    const float* x = logits + r * v;
    float* g = d_logits + r * v;
    const int32_t t = targets[r];
    if (t == ignore) {
      losses[r] = 0.f;
      for (int64_t j = 0; j < v; ++j) g[j] = 0.f;
      continue;
    }
    float m = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < v; ++j) m = x[j] > m ? x[j] : m;
    const float x_t = x[t];  // read before g (which may alias x) is overwritten
    double total = 0;
    for (int64_t j0 = 0; j0 < v; j0 += kSumBlock) {
      const int64_t j1 = j0 + kSumBlock < v ? j0 + kSumBlock : v;
      float s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t j = j0; j < j1; ++j) {
        const float e = exp_f32(x[j] - m);
        g[j] = e;
        s += e;
      }
      total += s;
    }
    const float sum = static_cast<float>(total), k = scale / sum;
    losses[r] = m + std::log(sum) - x_t;
#pragma omp simd
    for (int64_t j = 0; j < v; ++j) g[j] *= k;
    g[t] -= scale;
  }
  double loss_total = 0;
  for (int64_t r = 0; r < n; ++r)
    if (targets[r] != ignore) loss_total += losses[r];
  return count ? loss_total / static_cast<double>(count) : 0.0;
}

}  // namespace goat::cpu
