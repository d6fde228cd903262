// GELU (gelu_f32 / gelu_grad_f32 in vec_math.h, the one definition the fused bf16 linear
// backward shares; bf16 inputs look it up in gelu_table.h) and the residual add. Loops are OpenMP-parallel above kParallelMin elements and
// SIMD inside.
#include "backend/cpu/elementwise.h"

#include <algorithm>
#include <vector>

#include "backend/cpu/gelu_table.h"
#include "backend/cpu/reduce.h"
#include "backend/cpu/vec_math.h"
#include "core/dtype.h"

namespace goat::cpu {

void gelu_forward(float* out, const float* in, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) out[i] = gelu_f32(in[i]);
}

void gelu_forward_bf16(uint16_t* out, const uint16_t* in, int64_t n) {
  const uint16_t* const table = gelu_bf16_table().forward;  // bitwise bf16(gelu_f32(x)), one load each
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) out[i] = table[in[i]];
}

void gelu_forward_keep_grad(float* out, float* x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i], s = gelu_gate_f32(v);
    out[i] = v * s;
    x[i] = gelu_grad_from_sigmoid(v, s);
  }
}

void gelu_backward(float* d_in, const float* d_out, const float* in, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) d_in[i] = d_out[i] * gelu_grad_f32(in[i]);
}

void round_to_bf16(uint16_t* dst, const float* src, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16::from_float(src[i]).bits;
}

namespace {

// d (rows, cols) = d ∘ factor(x) elementwise, col_sum += Σ_rows of the new d. Fixed 128-row chunks
// (not one per thread): each chunk's column sums are taken while it is in cache, then the chunk sums
// are added in order, so the result does not depend on the threads.
template <typename Factor>
void scale_column_sum(float* d, const float* x, int64_t rows, int64_t cols, float* col_sum, Factor factor) {
  constexpr int64_t kChunk = 128;
  const int64_t nchunks = (rows + kChunk - 1) / kChunk;
  thread_local std::vector<float> partial;
  partial.assign(static_cast<size_t>(nchunks * cols), 0.f);
  float* const part = partial.data();  // (nchunks, cols): the workers must not name the thread_local
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMin && nchunks > 1)
  for (int64_t ch = 0; ch < nchunks; ++ch) {
    const int64_t r0 = ch * kChunk, r1 = std::min(rows, r0 + kChunk);
    float* dc = d + r0 * cols;
    const float* xc = x + r0 * cols;
    const int64_t len = (r1 - r0) * cols;
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) dc[i] *= factor(xc[i]);
    column_sum_add(part + ch * cols, dc, r1 - r0, cols, cols);  // a nested region: this thread alone
  }
  column_sum_add(col_sum, part, nchunks, cols, cols);
}

}  // namespace

void gelu_backward_column_sum(float* d, const float* pre, int64_t rows, int64_t cols, float* col_sum) {
  scale_column_sum(d, pre, rows, cols, col_sum, [](float x) { return gelu_grad_f32(x); });
}

void gelu_grad_backward_column_sum(float* d, const float* grad, int64_t rows, int64_t cols, float* col_sum) {
  scale_column_sum(d, grad, rows, cols, col_sum, [](float g) { return g; });
}

void gelu_grad_backward(float* d, const float* grad, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) d[i] *= grad[i];
}

void add_forward(float* out, const float* a, const float* b, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

}  // namespace goat::cpu
