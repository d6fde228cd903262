// oneDNN-backed sgemm. dnnl_sgemm is row-major with (transa, transb, M, N, K, alpha, A, lda, B,
// ldb, beta, C, ldc), which is exactly our convention. matmul_f32: oneDNN's f32 matmul primitive
// (brgemm), one per shape in a thread-local cache (the trainer calls ops from one thread; oneDNN
// parallelises inside with OpenMP).
#include "backend/cpu/gemm.h"

#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <map>
#include <tuple>
#include <vector>

#include "backend/cpu/onednn_matmul.h"
#include "core/check.h"
#include "core/op_profile.h"

namespace goat::cpu {

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // oneDNN rejects K = 0; the product is empty, so C = beta * C.
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.f ? 0.f : beta * c[i * ldc + j];
    return;
  }
  const dnnl_status_t st =
      dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  GOAT_CHECK(st == dnnl_success, "sgemm", "oneDNN sgemm failed with status {} for m={} n={} k={}",
             static_cast<int>(st), m, n, k);
}

namespace {

using dnnl::memory;
using MatmulKey = std::tuple<bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, float, bool, int>;
// (trans_a, trans_b, m, n, k, lda, ldb, ldc, beta, with bias, threads): a oneDNN primitive keeps the
// OpenMP thread count it was created under, so a plan made under 1 thread would run on 1 thread
// after omp_set_num_threads(2) (`bench ops` alternates them) — the count is part of the key.

struct MatmulCache {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{eng};
  std::map<MatmulKey, OnednnMatmul> plans;
};

// op(X) (rows, cols) of an f32 matrix stored (rows, cols), or (cols, rows) when trans, row stride ld.
memory::desc f32_view(bool trans, int64_t rows, int64_t cols, int64_t ld) {
  return memory::desc({rows, cols}, memory::data_type::f32, trans ? memory::dims{1, ld} : memory::dims{ld, 1});
}

OnednnMatmul& matmul_plan(MatmulCache& cache, const MatmulKey& key) {
  auto it = cache.plans.find(key);
  if (it != cache.plans.end()) return it->second;
  const auto [ta, tb, m, n, k, lda, ldb, ldc, beta, with_bias, threads] = key;
  (void)threads;  // oneDNN reads it from OpenMP when the primitive is made
  const memory::desc a = f32_view(ta, m, k, lda), b = f32_view(tb, k, n, ldb), c = f32_view(false, m, n, ldc);
  const memory::desc bias = with_bias ? f32_view(false, 1, n, n) : memory::desc();
  return cache.plans.emplace(key, make_onednn_matmul(cache.eng, a, b, c, bias, 1.f, beta)).first->second;
}

}  // namespace

void matmul_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const float* bias) {
  if (m == 0 || n == 0) return;
  if (k == 0 || (bias && beta != 0.f)) {  // oneDNN rejects K = 0; a bias with beta: fill, then sgemm
    if (bias)
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = bias[j] + beta * c[i * ldc + j];
    return sgemm(trans_a, trans_b, m, n, k, 1.f, a, lda, b, ldb, bias ? 1.f : beta, c, ldc);
  }
  thread_local MatmulCache cache;
  try {
    OnednnMatmul& p = matmul_plan(cache, MatmulKey{trans_a, trans_b, m, n, k, lda, ldb, ldc, beta, bias != nullptr,
                                                             omp_get_max_threads()});
    run_onednn_matmul(p, cache.stream, a, b, c, bias);
  } catch (const dnnl::error& err) {
    fail("matmul_f32", "oneDNN f32 matmul failed ({}) for m={} n={} k={} lda={} ldb={} ldc={}", err.what(), m, n, k,
         lda, ldb, ldc);
  }
}

void sgemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t m, int64_t n, int64_t k, float alpha,
                   const float* a, int64_t lda, int64_t stride_a, const float* b, int64_t ldb, int64_t stride_b,
                   float beta, float* c, int64_t ldc, int64_t stride_c) {
  for (int64_t i = 0; i < batch; ++i)
    sgemm(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta, c + i * stride_c,
          ldc);
}

std::string gemm_engine_name() {
  const dnnl_version_t* v = dnnl_version();
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

std::string gemm_kernel_isa() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::sse41: return "sse41";
    default: return "other";
  }
}

double measure_sgemm_gflops(int64_t n, int reps) {
  std::vector<float> a(static_cast<size_t>(n * n), 0.5f), b(a.size(), 0.25f), c(a.size());
  sgemm(false, false, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);  // warm-up
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) {
    const double t0 = profile_seconds();  // the clock `bench train --clock` times the steps with
    sgemm(false, false, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);
    times.push_back(profile_seconds() - t0);
  }
  std::sort(times.begin(), times.end());
  return 2.0 * static_cast<double>(n) * n * n / times[times.size() / 2] * 1e-9;
}

}  // namespace goat::cpu
