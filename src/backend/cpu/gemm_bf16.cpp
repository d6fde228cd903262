// oneDNN bf16 matmul and f32→bf16 reorders with per-shape primitive caches (thread-local:
// primitives and bf16 scratch copies are reused by the thread that built them; the trainer calls
// ops from one thread and oneDNN parallelises inside with OpenMP).
#include "backend/cpu/gemm_bf16.h"

#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <tuple>
#include <vector>

#include "backend/cpu/gelu_backward_row.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/onednn_matmul.h"
#include "backend/cpu/gemm_amx.h"
#include "backend/cpu/vec_math.h"
#include "core/check.h"
#include "core/dtype.h"
#include "core/op_profile.h"

namespace goat::cpu {

namespace {

using dnnl::memory;
// (trans_a, trans_b, m, n, k, lda, ldb, ldc, alpha, beta, with bias, bf16 C, threads). A oneDNN
// primitive keeps the OpenMP thread count it was made under: the count is part of both keys (see
// gemm.cpp's MatmulKey).
using MatmulKey =
    std::tuple<bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, float, float, bool, bool, int>;
using ReorderKey = std::tuple<int64_t, int64_t, int64_t, int>;  // (rows, cols, ld, threads)

struct ReorderPlan {
  dnnl::reorder to_bf16;
  memory src, dst;
};

struct Engine {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{eng};
  std::map<MatmulKey, OnednnMatmul> matmuls;
  std::map<ReorderKey, ReorderPlan> reorders;
  std::vector<uint16_t> slots[kBf16Slots];
};

Engine& engine() {
  thread_local Engine e;
  return e;
}

// op(X) (rows, cols) of a bf16 matrix stored (rows, cols), or (cols, rows) when trans, with row
// stride ld of the stored matrix.
memory::desc bf16_view(bool trans, int64_t rows, int64_t cols, int64_t ld) {
  return memory::desc({rows, cols}, memory::data_type::bf16, trans ? memory::dims{1, ld} : memory::dims{ld, 1});
}

OnednnMatmul make_matmul(Engine& e, const MatmulKey& key) {
  const auto [ta, tb, m, n, k, lda, ldb, ldc, alpha, beta, with_bias, c_bf16, threads] = key;
  (void)threads;  // oneDNN reads it from OpenMP when the primitive is made
  const memory::desc a = bf16_view(ta, m, k, lda), b = bf16_view(tb, k, n, ldb);
  const memory::desc c({m, n}, c_bf16 ? memory::data_type::bf16 : memory::data_type::f32, memory::dims{ldc, 1});
  const memory::desc bias = with_bias ? memory::desc({1, n}, memory::data_type::f32, memory::dims{n, 1}) : memory::desc();
  return make_onednn_matmul(e.eng, a, b, c, bias, alpha, beta);
}

OnednnMatmul& matmul_plan(const MatmulKey& key) {
  Engine& e = engine();
  auto it = e.matmuls.find(key);
  if (it == e.matmuls.end()) it = e.matmuls.emplace(key, make_matmul(e, key)).first;
  return it->second;
}

thread_local GemmPrecision g_precision = GemmPrecision::fp32;

}  // namespace

namespace {
// Scratch slot `slot` of this thread, grown to at least n elements.
std::vector<uint16_t>& slot_buffer(const char* op, int slot, int64_t n) {
  GOAT_CHECK(slot >= 0 && slot < kBf16Slots, op, "slot {} outside [0, {})", slot, kBf16Slots);
  std::vector<uint16_t>& buf = engine().slots[slot];
  if (static_cast<int64_t>(buf.size()) < n) buf.resize(static_cast<size_t>(n));
  return buf;
}
}  // namespace

namespace {

// Rows [r0, r1) of to_bf16_column_sum, their column sums into acc (cols, zeroed here); with pre:
// x ∘ gelu'(pre) instead of x. Row-major streaming: one pass over each row. T: float or bf16 bits.
// gelu'(pre): evaluated for fp32; for bf16 bits gathered from the table (gelu_backward_row.h,
// gelu_table.h: bitwise the same value). dst's row stride ld_dst.
template <typename T, bool Gelu>
void convert_sum_rows(const T* x, const T* pre, int64_t r0, int64_t r1, int64_t cols, int64_t ld, uint16_t* dst,
                      int64_t ld_dst, float* acc) {
  std::fill(acc, acc + cols, 0.f);
  for (int64_t r = r0; r < r1; ++r) {
    const T* s = x + r * ld;
    uint16_t* d = dst + r * ld_dst;
    if constexpr (Gelu && sizeof(T) == 2) {
      gelu_backward_row(s, pre + r * ld, cols, d, acc);
      continue;
    }
    const T* g = Gelu ? pre + r * ld : nullptr;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) {
      const float v = Gelu ? element_value(s[c]) * gelu_grad_f32(element_value(g[c])) : element_value(s[c]);
      acc[c] += v;
      d[c] = bf16::from_float(v).bits;
    }
  }
}

// x (rows, cols; row stride ld), or x ∘ gelu'(gelu_pre), rounded into dst (row stride ld_dst) and
// its columns summed into col_sum in kColumnSumChunk-row chunks.
template <typename T>
void convert_column_sum(const T* x, int64_t rows, int64_t cols, int64_t ld, uint16_t* dst, int64_t ld_dst,
                        float* col_sum, const T* gelu_pre) {
  const OpTimer timer("bf16.convert");
  // Fixed row chunks (not one per thread), so the sums do not depend on the thread count.
  const int64_t nchunks = (rows + kColumnSumChunk - 1) / kColumnSumChunk;
  thread_local std::vector<float> partial;
  partial.resize(static_cast<size_t>(nchunks * cols));
  float* const part = partial.data();  // (nchunks, cols): the workers must not name the thread_local
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMin && nchunks > 1)
  for (int64_t ch = 0; ch < nchunks; ++ch) {
    const int64_t r0 = ch * kColumnSumChunk, r1 = std::min(rows, r0 + kColumnSumChunk);
    if (gelu_pre)
      convert_sum_rows<T, true>(x, gelu_pre, r0, r1, cols, ld, dst, ld_dst, part + ch * cols);
    else
      convert_sum_rows<T, false>(x, nullptr, r0, r1, cols, ld, dst, ld_dst, part + ch * cols);
  }
  add_chunk_sums(part, nchunks, cols, col_sum);
}
}  // namespace

void add_chunk_sums(const float* partials, int64_t nchunks, int64_t cols, float* col_sum) {
  for (int64_t c = 0; c < cols; ++c) {
    float sum = 0.f;
    for (int64_t ch = 0; ch < nchunks; ++ch) sum += partials[ch * cols + c];
    col_sum[c] += sum;
  }
}

const uint16_t* to_bf16_column_sum(int slot, const float* x, int64_t rows, int64_t cols, int64_t ld, float* col_sum,
                                   const float* gelu_pre) {
  uint16_t* dst = slot_buffer("to_bf16_column_sum", slot, rows * cols).data();
  convert_column_sum(x, rows, cols, ld, dst, cols, col_sum, gelu_pre);
  return dst;
}

const uint16_t* to_bf16_column_sum(int slot, const uint16_t* x, int64_t rows, int64_t cols, int64_t ld,
                                   float* col_sum, const uint16_t* gelu_pre) {
  uint16_t* dst = slot_buffer("to_bf16_column_sum", slot, rows * cols).data();
  convert_column_sum(x, rows, cols, ld, dst, cols, col_sum, gelu_pre);
  return dst;
}

void gelu_backward_bf16_column_sum(const uint16_t* x, const uint16_t* pre, int64_t rows, int64_t cols, int64_t ld,
                                   uint16_t* out, float* col_sum) {
  convert_column_sum(x, rows, cols, ld, out, ld, col_sum, pre);
}

const uint16_t* to_bf16(int slot, const float* x, int64_t rows, int64_t cols, int64_t ld) {
  const OpTimer timer("bf16.convert");
  Engine& e = engine();
  std::vector<uint16_t>& buf = slot_buffer("to_bf16", slot, rows * cols);
  const ReorderKey key{rows, cols, ld, omp_get_max_threads()};
  auto it = e.reorders.find(key);
  try {
    if (it == e.reorders.end()) {
      ReorderPlan p;
      p.src = memory(memory::desc({rows, cols}, memory::data_type::f32, memory::dims{ld, 1}), e.eng, nullptr);
      p.dst = memory(bf16_view(false, rows, cols, cols), e.eng, nullptr);
      p.to_bf16 = dnnl::reorder(p.src, p.dst);
      it = e.reorders.emplace(key, std::move(p)).first;
    }
    ReorderPlan& p = it->second;
    p.src.set_data_handle(const_cast<float*>(x));
    p.dst.set_data_handle(buf.data());
    p.to_bf16.execute(e.stream, p.src, p.dst);
    e.stream.wait();
  } catch (const dnnl::error& err) {
    fail("to_bf16", "oneDNN reorder failed ({}) for a ({}, {}) matrix with row stride {}", err.what(), rows, cols, ld);
  }
  return buf.data();
}

bool bf16_gemm_amx_enabled() {
  static const bool onednn_only = [] {
    const char* e = std::getenv("GOATLM_BF16_GEMM");
    return e && std::strcmp(e, "onednn") == 0;
  }();
  return !onednn_only;
}

bool matmul_bf16_on_amx(bool trans_a, int64_t m, int64_t n, int64_t k, float alpha, float beta, bool c_bf16) {
  // Ours wherever it runs (A not transposed: the forward and d_in GEMMs): with its operands
  // 64-byte aligned it measured 0.86–2.1× oneDNN's on every shape of d128/d256/d512, ≥ 0.95× with
  // 2 threads (`goatlm bench gemm-bf16`, docs/performance.md); oneDNN for the d_W GEMMs.
  return bf16_gemm_amx_enabled() && amx_matmul_applies(trans_a, m, n, k, alpha, beta, c_bf16);
}

void matmul_bf16(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* a,
                 int64_t lda, const uint16_t* b, int64_t ldb, float beta, Bf16Out c, const float* bias) {
  if (matmul_bf16_on_amx(trans_a, m, n, k, alpha, beta, c.bf16)) {
    const OpTimer timer("gemm.amx");
    return amx_matmul(trans_b, m, n, k, a, lda, b, ldb, beta == 1.f, c, bias);
  }
  const OpTimer timer("gemm.onednn");
  matmul_bf16_onednn(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, bias);
}

void matmul_bf16_onednn(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* a,
                        int64_t lda, const uint16_t* b, int64_t ldb, float beta, Bf16Out c, const float* bias) {
  GOAT_CHECK(!bias || alpha == 1.f, "matmul_bf16", "a bias needs alpha = 1, got {}", alpha);
  GOAT_CHECK(!c.bf16 || beta == 0.f, "matmul_bf16", "a bf16 C needs beta = 0, got {}", beta);
  try {
    OnednnMatmul& p =
        matmul_plan(MatmulKey{trans_a, trans_b, m, n, k, lda, ldb, c.ldc, alpha, beta, bias != nullptr, c.bf16,
                              omp_get_max_threads()});
    run_onednn_matmul(p, engine().stream, a, b, c.c, bias);
  } catch (const dnnl::error& err) {
    fail("matmul_bf16", "oneDNN bf16 matmul failed ({}) for m={} n={} k={}", err.what(), m, n, k);
  }
}

void gemm_bf16(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
               int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0 || k == 0) return sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  // Stored shapes: A is (m, k) or (k, m) when transposed; B is (k, n) or (n, k).
  const int64_t a_cols = trans_a ? m : k, b_cols = trans_b ? k : n;
  const uint16_t* a16 = to_bf16(0, a, trans_a ? k : m, a_cols, lda);
  const uint16_t* b16 = to_bf16(1, b, trans_b ? n : k, b_cols, ldb);
  matmul_bf16(trans_a, trans_b, m, n, k, alpha, a16, a_cols, b16, b_cols, beta, Bf16Out{c, ldc});
}

std::string bf16_gemm_impl() {
  const std::string onednn =
      matmul_plan(MatmulKey{false, true, 64, 64, 64, 64, 64, 64, 1.f, 0.f, false, false, omp_get_max_threads()}).impl;
  if (bf16_gemm_amx_enabled() && amx_matmul_applies(false, 64, 64, 64, 1.f, 0.f, false))
    return "goatlm AMX tiles for forward/d_in, oneDNN " + onednn + " for d_W";
  return onednn;
}

double measure_bf16_gflops(int64_t n, int reps) {
  std::vector<float> a(static_cast<size_t>(n * n), 0.5f), b(a.size(), 0.25f), c(a.size());
  gemm_bf16(false, true, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);  // warm-up, builds the plans
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    gemm_bf16(false, true, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return 2.0 * static_cast<double>(n) * n * n / times[times.size() / 2] * 1e-9;
}

GemmPrecision gemm_precision() { return g_precision; }
GemmPrecisionScope::GemmPrecisionScope(GemmPrecision p) : saved_(g_precision) { g_precision = p; }
GemmPrecisionScope::~GemmPrecisionScope() { g_precision = saved_; }

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (g_precision == GemmPrecision::bf16)
    return gemm_bf16(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace goat::cpu
