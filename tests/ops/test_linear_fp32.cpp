// The fp32 linear layer's fused paths against fp64 references, every element, with computed
// bounds (γ_K = K·u/(1 − K·u) · Σ|a||b| per element for an fp32 sum of K products, u = 2^-24):
//  - linear_backward (d_in and d_w on the matmul primitive, beta as its sum post-op), d_in, d_w and
//    d_bias accumulated, strided d_in/d_out, padding columns untouched;
//  - gelu_backward_column_sum: GELU's backward in place with the bias gradient's column sums;
//  - matmul_f32 (the cached oneDNN matmul primitive: transposes, strides, bias epilogue, beta as a
//    sum post-op) and linear_forward through it, padding columns untouched; a plan made under one
//    OpenMP thread count is not reused under another (the worker thread's CPU time shows it).
// The op-case table (test_op_cases.cpp) checks the same ops by finite differences on samples; these
// tests cover every element, so a tile or a chunk that is skipped cannot pass.
#include <gtest/gtest.h>

#include <omp.h>
#include <time.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "backend/cpu/elementwise.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/linear.h"
#include "core/philox.h"

using namespace goat;

namespace {

const double kU = std::ldexp(1.0, -24);
double gamma_k(int64_t k) { return static_cast<double>(k + 2) * kU / (1.0 - static_cast<double>(k + 2) * kU); }

std::vector<float> normal(size_t n, uint64_t stream, float scale = 1.f) {
  const Rng rng(23, RngPurpose::test, stream);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * rng.normal(i);
  return v;
}

// The derivative of GPT-2's tanh GELU in fp64.
double gelu_grad64(double x) {
  const double c = std::sqrt(2.0 / M_PI), t = std::tanh(c * (x + 0.044715 * x * x * x));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * x * x);
}
// gelu_grad_f32 (vec_math.h) is accurate to a few ulp of its largest term: the bound allowed.
constexpr double kGeluUlps = 32.0;

void check_backward(int64_t n, int64_t cin, int64_t cout, int64_t ld_in, int64_t ld_out) {
  SCOPED_TRACE(testing::Message() << "n " << n << " cin " << cin << " cout " << cout);
  std::vector<float> in = normal(static_cast<size_t>(n * ld_in), 1), w = normal(static_cast<size_t>(cout * cin), 2),
                     d_out = normal(static_cast<size_t>(n * ld_out), 3), d_in = normal(in.size(), 4),
                     d_w = normal(w.size(), 5), d_b = normal(static_cast<size_t>(cout), 6);
  const std::vector<float> d_in0 = d_in, d_w0 = d_w, d_b0 = d_b;
  cpu::linear_backward(cpu::LinearDims{n, cin, cout, ld_in, ld_out}, d_in.data(), d_w.data(), d_b.data(), d_out.data(),
                       in.data(), w.data(), true);
  const auto check = [&](double got, double acc0, double sum, double mag, int64_t k, const char* what, int64_t at) {
    const double want = acc0 + sum;
    ASSERT_LE(std::abs(got - want), gamma_k(k) * (mag + std::abs(acc0)) + kU * std::abs(want)) << what << " " << at;
  };
  // Σ_p a(p)·b(p) over p < k in fp64, and Σ|a·b|, checked against got.
  const auto check_dot = [&](int64_t k, const auto& a, const auto& b, double got, double acc0, const char* what,
                             int64_t at) {
    double acc = 0, mag = 0;
    for (int64_t p = 0; p < k; ++p) {
      const double prod = static_cast<double>(a(p)) * b(p);
      acc += prod;
      mag += std::abs(prod);
    }
    check(got, acc0, acc, mag, k, what, at);
  };
  for (int64_t r = 0; r < n; ++r)  // d_in = d_in0 + d_out · w
    for (int64_t c = 0; c < cin; ++c)
      check_dot(
          cout, [&](int64_t o) { return d_out[r * ld_out + o]; }, [&](int64_t o) { return w[o * cin + c]; },
          d_in[r * ld_in + c], d_in0[r * ld_in + c], "d_in", r * ld_in + c);
  for (int64_t o = 0; o < cout; ++o)  // d_w = d_w0 + d_outᵀ · in, every element
    for (int64_t c = 0; c < cin; ++c)
      check_dot(
          n, [&](int64_t r) { return d_out[r * ld_out + o]; }, [&](int64_t r) { return in[r * ld_in + c]; },
          d_w[o * cin + c], d_w0[o * cin + c], "d_w", o * cin + c);
  for (int64_t o = 0; o < cout; ++o) {
    double sum = 0, mag = 0;
    for (int64_t r = 0; r < n; ++r) {
      sum += d_out[r * ld_out + o];
      mag += std::abs(static_cast<double>(d_out[r * ld_out + o]));
    }
    check(d_b[o], d_b0[o], sum, mag, n, "d_b", o);
  }
  for (int64_t r = 0; r < n; ++r)  // padding columns of d_in are never written
    for (int64_t c = cin; c < ld_in; ++c) ASSERT_EQ(d_in[r * ld_in + c], d_in0[r * ld_in + c]);
}

// C = op(A) op(B) (+ bias) + beta·C0 by matmul_f32, every element against fp64 with the γ_K bound;
// C's padding columns (ldc > n) must keep their values.
void check_matmul(bool ta, bool tb, int64_t m, int64_t n, int64_t k, int64_t pad, float beta, bool with_bias) {
  SCOPED_TRACE(testing::Message() << "ta " << ta << " tb " << tb << " m " << m << " n " << n << " k " << k << " beta "
                                  << beta << " bias " << with_bias);
  const int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
  const std::vector<float> a = normal(static_cast<size_t>((ta ? k : m) * lda), 20),
                           b = normal(static_cast<size_t>((tb ? n : k) * ldb), 21),
                           bias = normal(static_cast<size_t>(n), 22), c0 = normal(static_cast<size_t>(m * ldc), 23);
  std::vector<float> c = c0;
  cpu::matmul_f32(ta, tb, m, n, k, a.data(), lda, b.data(), ldb, beta, c.data(), ldc,
                  with_bias ? bias.data() : nullptr);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0, mag = 0;
      for (int64_t p = 0; p < k; ++p) {
        const double prod = static_cast<double>(ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
        acc += prod;
        mag += std::abs(prod);
      }
      const double extra = (with_bias ? static_cast<double>(bias[j]) : 0.0) + static_cast<double>(beta) * c0[i * ldc + j];
      const double want = acc + extra;
      ASSERT_LE(std::abs(c[i * ldc + j] - want), gamma_k(k + 2) * (mag + std::abs(extra)) + kU * std::abs(want))
          << "C " << i << "," << j;
    }
    for (int64_t j = n; j < ldc; ++j) ASSERT_EQ(c[i * ldc + j], c0[i * ldc + j]) << "padding " << i << "," << j;
  }
}

}  // namespace

TEST(LinearFp32, MatmulPrimitiveEveryElementMatchesFp64) {
  for (const bool ta : {false, true})
    for (const bool tb : {false, true}) {
      check_matmul(ta, tb, 67, 45, 83, 3, 0.f, false);
      check_matmul(ta, tb, 40, 33, 70, 0, 1.f, false);  // beta as the sum post-op
    }
  check_matmul(false, true, 130, 70, 50, 5, 0.f, true);  // the linear forward's form, bias in the epilogue
  check_matmul(false, false, 20, 30, 40, 2, 0.5f, true);  // bias and beta: filled, then sgemm
  check_matmul(false, true, 9, 7, 0, 1, 1.f, true);       // K = 0: C = bias + beta·C
  check_matmul(false, true, 9, 7, 0, 1, 0.f, false);      // K = 0: C = 0
}

TEST(LinearFp32, ForwardEveryElementMatchesFp64) {
  const int64_t n = 70, cin = 96, cout = 200, ld_in = 100, ld_out = 210;
  const std::vector<float> in = normal(static_cast<size_t>(n * ld_in), 30), w = normal(static_cast<size_t>(cout * cin), 31),
                           bias = normal(static_cast<size_t>(cout), 32), out0 = normal(static_cast<size_t>(n * ld_out), 33);
  for (const bool with_bias : {true, false}) {
    std::vector<float> out = out0;
    cpu::linear_forward(cpu::LinearDims{n, cin, cout, ld_in, ld_out}, out.data(), in.data(), w.data(),
                        with_bias ? bias.data() : nullptr);
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t o = 0; o < cout; ++o) {
        double acc = with_bias ? bias[o] : 0.0, mag = std::abs(acc);
        for (int64_t c = 0; c < cin; ++c) {
          const double prod = static_cast<double>(in[r * ld_in + c]) * w[o * cin + c];
          acc += prod;
          mag += std::abs(prod);
        }
        ASSERT_LE(std::abs(out[r * ld_out + o] - acc), gamma_k(cin + 1) * mag) << "out " << r << "," << o;
      }
      for (int64_t o = cout; o < ld_out; ++o) ASSERT_EQ(out[r * ld_out + o], out0[r * ld_out + o]);
    }
  }
}

TEST(LinearFp32, BackwardEveryElementMatchesFp64) {
  check_backward(70, 96, 384, 100, 390);  // cout > cin, strided
  check_backward(33, 5, 70, 5, 70);       // cout > cin, odd sizes
  check_backward(45, 37, 29, 40, 33);     // cout ≤ cin
}

TEST(LinearFp32, GeluBackwardColumnSumMatchesFp64) {
  const int64_t rows = 300, cols = 130;  // three 128-row chunks, above kParallelMin
  const std::vector<float> pre = normal(static_cast<size_t>(rows * cols), 10, 2.f), d0 = normal(pre.size(), 11);
  std::vector<float> d = d0, sum = normal(static_cast<size_t>(cols), 12);
  const std::vector<float> sum0 = sum;
  cpu::gelu_backward_column_sum(d.data(), pre.data(), rows, cols, sum.data());
  std::vector<double> want(static_cast<size_t>(cols), 0.0), mag(want.size(), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const size_t at = static_cast<size_t>(r * cols + c);
      const double g = d0[at] * gelu_grad64(pre[at]);
      // gelu_grad_f32's terms are at most ~1.1 + 2|x|·0.25·|u'|: a few ulp of (1 + |x|)·|d|
      ASSERT_LE(std::abs(d[at] - g), kGeluUlps * kU * (1.0 + std::abs(pre[at])) * std::abs(d0[at])) << "d " << at;
      want[static_cast<size_t>(c)] += d[at];  // the column sum of what was stored
      mag[static_cast<size_t>(c)] += std::abs(static_cast<double>(d[at]));
    }
  for (int64_t c = 0; c < cols; ++c) {
    const size_t i = static_cast<size_t>(c);
    const double expect = sum0[i] + want[i];
    ASSERT_LE(std::abs(sum[i] - expect), gamma_k(rows + 1) * (mag[i] + std::abs(sum0[i])) + kU * std::abs(expect))
        << "col_sum " << c;
  }
}

// oneDNN's primitive keeps the thread count it was made under: the cache is keyed by it, so after
// omp_set_num_threads(2) the same shape runs on both threads (before the key had the count, `bench
// ops`' linear rows ran 0.98× faster on 2 threads than on 1). The other thread's share of the CPU
// time is the evidence: ≈ ½ when both work, ≈ 0 (a spin at most) on one.
TEST(MatmulF32, PlanFollowsTheThreadCountOfTheCall) {
  if (omp_get_num_procs() < 2) GTEST_SKIP() << "needs 2 CPUs";
  const int64_t n = 512;
  const std::vector<float> a = normal(static_cast<size_t>(n * n), 30), b = normal(a.size(), 31);
  std::vector<float> c(a.size());
  const int saved = omp_get_max_threads();
  const auto seconds = [](clockid_t id) {
    timespec t{};
    clock_gettime(id, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
  };
  omp_set_num_threads(1);
  cpu::matmul_f32(false, true, n, n, n, a.data(), n, b.data(), n, 0.f, c.data(), n);  // the 1-thread plan
  omp_set_num_threads(2);
  cpu::matmul_f32(false, true, n, n, n, a.data(), n, b.data(), n, 0.f, c.data(), n);  // warm-up
  const double process0 = seconds(CLOCK_PROCESS_CPUTIME_ID), self0 = seconds(CLOCK_THREAD_CPUTIME_ID);
  for (int r = 0; r < 20; ++r) cpu::matmul_f32(false, true, n, n, n, a.data(), n, b.data(), n, 0.f, c.data(), n);
  const double self = seconds(CLOCK_THREAD_CPUTIME_ID) - self0;
  const double others = seconds(CLOCK_PROCESS_CPUTIME_ID) - process0 - self;
  omp_set_num_threads(saved);
  EXPECT_GT(others, 0.25 * self) << "the other thread's CPU " << others << " s vs this thread's " << self << " s";
}
