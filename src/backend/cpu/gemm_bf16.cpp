// oneDNN bf16 matmul with a per-shape primitive cache (thread-local: primitives and their bf16
// scratch buffers are reused by the thread that built them; the trainer calls ops from one thread
// and oneDNN parallelises inside with OpenMP).
#include "backend/cpu/gemm_bf16.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <tuple>
#include <vector>

#include "backend/cpu/gemm.h"
#include "core/check.h"

namespace goat::cpu {

namespace {

using dnnl::memory;
using Key = std::tuple<bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, float, float>;

struct Plan {
  dnnl::matmul mm;
  dnnl::reorder to_a, to_b;
  memory a_f32, b_f32, a_bf16, b_bf16, c_f32;
  std::string impl;
};

struct Engine {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{eng};
  std::map<Key, Plan> plans;
};

Engine& engine() {
  thread_local Engine e;
  return e;
}

// Descriptor of op(X) (rows × cols) stored row-major with row stride ld, transposed if trans.
memory::desc f32_view(bool trans, int64_t rows, int64_t cols, int64_t ld) {
  return memory::desc({rows, cols}, memory::data_type::f32,
                      trans ? memory::dims{1, ld} : memory::dims{ld, 1});
}

Plan make_plan(Engine& e, const Key& key) {
  const auto [ta, tb, m, n, k, lda, ldb, ldc, alpha, beta] = key;
  using tag = memory::format_tag;
  const memory::desc a_any({m, k}, memory::data_type::bf16, tag::any);
  const memory::desc b_any({k, n}, memory::data_type::bf16, tag::any);
  const memory::desc c_desc({m, n}, memory::data_type::f32, memory::dims{ldc, 1});
  dnnl::primitive_attr attr;
  if (alpha != 1.f) attr.set_output_scales(0, {alpha});
  if (beta != 0.f) {
    dnnl::post_ops po;
    po.append_sum(beta);
    attr.set_post_ops(po);
  }
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_any, b_any, c_desc), attr, e.eng);
  Plan p;
  p.mm = dnnl::matmul(pd);
  p.impl = pd.impl_info_str();
  p.a_f32 = memory(f32_view(ta, m, k, lda), e.eng, nullptr);
  p.b_f32 = memory(f32_view(tb, k, n, ldb), e.eng, nullptr);
  p.a_bf16 = memory(pd.src_desc(), e.eng);
  p.b_bf16 = memory(pd.weights_desc(), e.eng);
  p.c_f32 = memory(c_desc, e.eng, nullptr);
  p.to_a = dnnl::reorder(p.a_f32, p.a_bf16);
  p.to_b = dnnl::reorder(p.b_f32, p.b_bf16);
  return p;
}

Plan& plan_for(const Key& key) {
  Engine& e = engine();
  auto it = e.plans.find(key);
  if (it == e.plans.end()) it = e.plans.emplace(key, make_plan(e, key)).first;
  return it->second;
}

thread_local GemmPrecision g_precision = GemmPrecision::fp32;

}  // namespace

void gemm_bf16(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
               int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0 || k == 0) return sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  try {
    Plan& p = plan_for(Key{trans_a, trans_b, m, n, k, lda, ldb, ldc, alpha, beta});
    Engine& e = engine();
    p.a_f32.set_data_handle(const_cast<float*>(a));
    p.b_f32.set_data_handle(const_cast<float*>(b));
    p.c_f32.set_data_handle(c);
    p.to_a.execute(e.stream, p.a_f32, p.a_bf16);
    p.to_b.execute(e.stream, p.b_f32, p.b_bf16);
    p.mm.execute(e.stream, {{DNNL_ARG_SRC, p.a_bf16}, {DNNL_ARG_WEIGHTS, p.b_bf16}, {DNNL_ARG_DST, p.c_f32}});
    e.stream.wait();
  } catch (const dnnl::error& err) {
    fail("gemm_bf16", "oneDNN bf16 matmul failed ({}) for m={} n={} k={}", err.what(), m, n, k);
  }
}

std::string bf16_gemm_impl() {
  return plan_for(Key{false, true, 64, 64, 64, 64, 64, 64, 1.f, 0.f}).impl;
}

double measure_bf16_gflops(int64_t n, int reps) {
  std::vector<float> a(static_cast<size_t>(n * n), 0.5f), b(a.size(), 0.25f), c(a.size());
  gemm_bf16(false, true, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);  // warm-up, builds the plan
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
