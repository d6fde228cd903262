// LayerNorm kernels. Rows are independent, so forward and backward run row-parallel with SIMD
// inner loops; the backward's parameter gradients are column sums over rows, taken in the same
// pass as partial sums per fixed 128-row chunk and then added in chunk order (deterministic for any
// thread count, no atomics).
// Variance is two-pass (Σ(x − mean)²), which stays accurate when |mean| ≫ std. The forward
// normalises rows in pairs: a row's two reductions are chains of dependent adds (latency, not
// throughput, at c = 256), and two rows' chains overlap (each row summed exactly as alone).
#include "backend/cpu/layernorm.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/aligned_scratch.h"
#include "backend/cpu/reduce.h"
#include "backend/cpu/vec_math.h"
#include "core/check.h"
#include "core/dtype.h"

namespace goat::cpu {

namespace {

// out = (x − m)·rs·w + b over one row (f32, or bf16 bits).
template <typename Out>
inline void normalise_row(Out* o, const float* x, float m, float rs, const float* w, const float* b, int64_t c) {
#pragma omp simd
  for (int64_t j = 0; j < c; ++j) store_element(o + j, (x[j] - m) * rs * w[j] + b[j]);
}

inline float row_rstd(float sum_sq, int64_t c, float eps) { return 1.f / std::sqrt(sum_sq / static_cast<float>(c) + eps); }

// Normalises one row that is already in memory (x), writing out (f32, or bf16 bits) and the stats.
template <typename Out>
inline void norm_row(Out* o, float* mean_out, float* rstd_out, const float* x, const float* w, const float* b,
                     int64_t c, float eps) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < c; ++j) s += x[j];
  const float m = s / static_cast<float>(c);
  float v = 0;
#pragma omp simd reduction(+ : v)
  for (int64_t j = 0; j < c; ++j) v += (x[j] - m) * (x[j] - m);
  const float rs = row_rstd(v, c, eps);
  normalise_row(o, x, m, rs, w, b, c);
  *mean_out = m;
  *rstd_out = rs;
}

// norm_row on two rows (x0 → o0, stats [0]; x1 → o1, stats [1]) with their reductions in one loop:
// each row keeps its own `omp simd` accumulator, summed as norm_row sums it (bitwise norm_row's
// values, tests/ops/test_residual_layernorm.cpp), while the two chains of dependent adds overlap.
// At c = 256 a row is mostly such latency: 146 → 100 ns per row in L1 on one core here.
template <typename Out>
inline void norm_row_pair(Out* o0, Out* o1, float* mean_out, float* rstd_out, const float* x0, const float* x1,
                          const float* w, const float* b, int64_t c, float eps) {
  float s0 = 0, s1 = 0;
#pragma omp simd reduction(+ : s0, s1)
  for (int64_t j = 0; j < c; ++j) {
    s0 += x0[j];
    s1 += x1[j];
  }
  const float m0 = s0 / static_cast<float>(c), m1 = s1 / static_cast<float>(c);
  float v0 = 0, v1 = 0;
#pragma omp simd reduction(+ : v0, v1)
  for (int64_t j = 0; j < c; ++j) {
    v0 += (x0[j] - m0) * (x0[j] - m0);
    v1 += (x1[j] - m1) * (x1[j] - m1);
  }
  const float rs0 = row_rstd(v0, c, eps), rs1 = row_rstd(v1, c, eps);
  normalise_row(o0, x0, m0, rs0, w, b, c);
  normalise_row(o1, x1, m1, rs1, w, b, c);
  mean_out[0] = m0;
  mean_out[1] = m1;
  rstd_out[0] = rs0;
  rstd_out[1] = rs1;
}

// Rows go in pairs (norm_row_pair), the last one alone when n is odd.
inline int64_t row_pairs(int64_t n) { return (n + 1) / 2; }

template <typename Out>
void forward_rows(Out* out, float* mean, float* rstd, const float* in, const float* w, const float* b, int64_t n,
                  int64_t c, float eps) {
#pragma omp parallel for schedule(static) if (n * c >= kParallelMin)
  for (int64_t p = 0; p < row_pairs(n); ++p) {
    const int64_t r = 2 * p;
    if (r + 1 < n)
      norm_row_pair(out + r * c, out + (r + 1) * c, mean + r, rstd + r, in + r * c, in + (r + 1) * c, w, b, c, eps);
    else
      norm_row(out + r * c, mean + r, rstd + r, in + r * c, w, b, c, eps);
  }
}

// dst[0, c) = src[0, c) with non-temporal stores where dst is 64-byte aligned and c a multiple of
// 16 (the residual stream, next read layers later: the stores skip reading its old lines first).
inline void stream_row(float* dst, const float* src, int64_t c) {
#ifdef __AVX512F__
  if (reinterpret_cast<uintptr_t>(dst) % 64 == 0 && c % 16 == 0) {
    for (int64_t j = 0; j < c; j += 16) _mm512_stream_ps(dst + j, _mm512_load_ps(src + j));
    return;
  }
#endif
  std::copy(src, src + c, dst);
}

template <typename Out>
void residual_forward_rows(float* residual, Out* out, float* mean, float* rstd, const float* a, const float* b,
                           const float* w, const float* bias, int64_t n, int64_t c, float eps) {
#pragma omp parallel if (n * c >= kParallelMin)
  {
    // Each pair of rows' sums is formed in an L1 buffer (2 rows), normalised from there, then
    // streamed out.
    thread_local AlignedScratch row_buffer;
    float* const x0 = row_buffer.get<float>(2 * c);
    float* const x1 = x0 + c;
#pragma omp for schedule(static)
    for (int64_t p = 0; p < row_pairs(n); ++p) {
      const int64_t r = 2 * p, rows = std::min<int64_t>(2, n - r);
      const float* ar = a + r * c;
      const float* br = b + r * c;
#pragma omp simd
      for (int64_t j = 0; j < rows * c; ++j) x0[j] = ar[j] + br[j];
      if (rows == 2)
        norm_row_pair(out + r * c, out + (r + 1) * c, mean + r, rstd + r, x0, x1, w, bias, c, eps);
      else
        norm_row(out + r * c, mean + r, rstd + r, x0, w, bias, c, eps);
      stream_row(residual + r * c, x0, rows * c);
    }
#ifdef __AVX512F__
    _mm_sfence();
#endif
  }
}

}  // namespace

void layernorm_forward(float* out, float* mean, float* rstd, const float* in, const float* w, const float* b, int64_t n,
                       int64_t c, float eps) {
  forward_rows(out, mean, rstd, in, w, b, n, c, eps);
}

void layernorm_forward_bf16(uint16_t* out, float* mean, float* rstd, const float* in, const float* w, const float* b,
                            int64_t n, int64_t c, float eps) {
  forward_rows(out, mean, rstd, in, w, b, n, c, eps);
}

void residual_layernorm_forward(float* residual, float* out, float* mean, float* rstd, const float* a, const float* b,
                                const float* w, const float* bias, int64_t n, int64_t c, float eps) {
  residual_forward_rows(residual, out, mean, rstd, a, b, w, bias, n, c, eps);
}

void residual_layernorm_forward_bf16(float* residual, uint16_t* out, float* mean, float* rstd, const float* a,
                                     const float* b, const float* w, const float* bias, int64_t n, int64_t c,
                                     float eps) {
  residual_forward_rows(residual, out, mean, rstd, a, b, w, bias, n, c, eps);
}

namespace {

// layernorm_backward for d_out f32 or bf16 bits (DOut), read as fp32.
template <typename DOut>
void backward_rows(float* d_in, float* d_w, float* d_b, const DOut* d_out, const float* in, const float* w,
                   const float* mean, const float* rstd, int64_t n, int64_t c, uint16_t* d_in_bf16,
                   float* d_in_col_sum) {
  const float inv_c = 1.f / static_cast<float>(c);
  // One pass over rows in fixed 128-row chunks: per row, the statistics of d_in and the chunk's
  // partial column sums of d_w/d_b from the same reads; then d_in, with the row still in L1 (and
  // its bf16 rounding and column sums, for the next linear layer). The chunk partials are added in
  // chunk order, so the sums do not depend on the thread count.
  constexpr int64_t kChunk = 128;
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
  const bool params = d_w || d_b, round = d_in_bf16 != nullptr;
  GOAT_CHECK(round == (d_in_col_sum != nullptr), "layernorm", "d_in_bf16 and d_in_col_sum come together");
  const int64_t stride = 3 * c;  // per chunk: d_w, d_b, d_in partial sums
  thread_local std::vector<float> partial;
  if (params || round) partial.assign(static_cast<size_t>(nchunks * stride), 0.f);
  float* const part = partial.data();  // (nchunks, 3, c): the workers must not name the thread_local
#pragma omp parallel for schedule(static) if (n * c >= kParallelMin && nchunks > 1)
  for (int64_t ch = 0; ch < nchunks; ++ch) {
    float* aw = params ? part + ch * stride : nullptr;
    float* ab = params ? aw + c : nullptr;
    float* ad = round ? part + ch * stride + 2 * c : nullptr;
    for (int64_t r = ch * kChunk; r < std::min(n, (ch + 1) * kChunk); ++r) {
      // d_in = rstd · (dn − mean(dn) − x̂ · mean(dn · x̂)),  dn = d_out · w
      const float* x = in + r * c;
      const DOut* g = d_out + r * c;
      float* dx = d_in + r * c;
      const float m = mean[r], rs = rstd[r];
      float s_dn = 0, s_dnx = 0;
      if (params) {
#pragma omp simd reduction(+ : s_dn, s_dnx)
        for (int64_t j = 0; j < c; ++j) {
          const float gj = element_value(g[j]), dn = gj * w[j], xh = (x[j] - m) * rs;
          s_dn += dn;
          s_dnx += dn * xh;
          aw[j] += gj * xh;
          ab[j] += gj;
        }
      } else {
#pragma omp simd reduction(+ : s_dn, s_dnx)
        for (int64_t j = 0; j < c; ++j) {
          const float dn = element_value(g[j]) * w[j];
          s_dn += dn;
          s_dnx += dn * (x[j] - m) * rs;
        }
      }
      const float mdn = s_dn * inv_c, mdnx = s_dnx * inv_c;
      uint16_t* o = round ? d_in_bf16 + r * c : nullptr;
#pragma omp simd
      for (int64_t j = 0; j < c; ++j) {
        const float v = dx[j] + rs * (element_value(g[j]) * w[j] - mdn - (x[j] - m) * rs * mdnx);
        dx[j] = v;
        if (round) {  // loop-invariant: the compiler unswitches it
          ad[j] += v;
          o[j] = bf16::from_float(v).bits;
        }
      }
    }
  }
  if (d_w) column_sum_add(d_w, part, nchunks, c, stride);
  if (d_b) column_sum_add(d_b, part + c, nchunks, c, stride);
  if (round) column_sum_add(d_in_col_sum, part + 2 * c, nchunks, c, stride);
}

}  // namespace

void layernorm_backward(float* d_in, float* d_w, float* d_b, const float* d_out, const float* in, const float* w,
                        const float* mean, const float* rstd, int64_t n, int64_t c, uint16_t* d_in_bf16,
                        float* d_in_col_sum) {
  backward_rows(d_in, d_w, d_b, d_out, in, w, mean, rstd, n, c, d_in_bf16, d_in_col_sum);
}

void layernorm_backward(float* d_in, float* d_w, float* d_b, const uint16_t* d_out, const float* in, const float* w,
                        const float* mean, const float* rstd, int64_t n, int64_t c, uint16_t* d_in_bf16,
                        float* d_in_col_sum) {
  backward_rows(d_in, d_w, d_b, d_out, in, w, mean, rstd, n, c, d_in_bf16, d_in_col_sum);
}

}  // namespace goat::cpu
