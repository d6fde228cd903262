// AdamW against an fp64 transcription of the published algorithm (Loshchilov & Hutter 2019,
// Algorithm 2, in PyTorch's parameterisation: decay lr·λ·θ decoupled from the adaptive step,
// bias-corrected moments) over several steps with fresh Philox gradients; and sum_squares
// against an fp64 sum, independent of the thread count.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <vector>

#include "core/philox.h"
#include "op_harness.h"
#include "ops/adamw.h"

using namespace goat;

namespace {

double nmse(const std::vector<float>& got, const std::vector<double>& want) {
  double e = 0, r = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    e += (got[i] - want[i]) * (got[i] - want[i]);
    r += want[i] * want[i];
  }
  return e / r;
}

}  // namespace

TEST(AdamW, MatchesFp64PublishedAlgorithmOverSteps) {
  const int64_t n = 1037;  // not a multiple of any SIMD width
  const int steps = 12;
  ops::AdamWParams hp;
  hp.lr = 1e-2f;
  hp.beta1 = 0.9f;
  hp.beta2 = 0.95f;
  hp.eps = 1e-8f;
  hp.weight_decay = 0.1f;
  hp.grad_scale = 0.5f;
  const Rng init(7, RngPurpose::test);
  std::vector<float> p(n), g(n), m(n, 0.f), v(n, 0.f);
  std::vector<double> p64(n), m64(n, 0.0), v64(n, 0.0);
  for (int64_t i = 0; i < n; ++i) p64[i] = p[i] = init.normal(i);
  const std::vector<double> p_start = p64;
  for (int t = 1; t <= steps; ++t) {
    const Rng gr(7, RngPurpose::test, t);
    for (int64_t i = 0; i < n; ++i) g[i] = gr.normal(i) * (1.f + 0.1f * t);
    hp.step = t;
    ops::adamw_update(Tensor(p.data(), {n}), Tensor(g.data(), {n}), Tensor(m.data(), {n}), Tensor(v.data(), {n}), hp);
    const double b1 = hp.beta1, b2 = hp.beta2, lr = hp.lr, wd = hp.weight_decay, eps = hp.eps;
    for (int64_t i = 0; i < n; ++i) {
      const double gi = static_cast<double>(g[i]) * hp.grad_scale;
      p64[i] -= lr * wd * p64[i];  // decoupled decay, applied to θ_{t−1}
      m64[i] = b1 * m64[i] + (1 - b1) * gi;
      v64[i] = b2 * v64[i] + (1 - b2) * gi * gi;
      const double mh = m64[i] / (1 - std::pow(b1, t)), vh = v64[i] / (1 - std::pow(b2, t));
      p64[i] -= lr * mh / (std::sqrt(vh) + eps);
    }
  }
  // Compare the total update p − p0 (stricter than p itself) and the moments; each element went
  // through `steps` dependent fp32 updates of a few ops each.
  std::vector<float> dp(n);
  std::vector<double> dp64(n);
  for (int64_t i = 0; i < n; ++i) {
    dp[i] = static_cast<float>(static_cast<double>(p[i]) - p_start[i]);
    dp64[i] = p64[i] - p_start[i];
  }
  const double tol = test::nmse_tolerance(steps);
  EXPECT_LE(nmse(dp, dp64), tol);
  EXPECT_LE(nmse(m, m64), tol);
  EXPECT_LE(nmse(v, v64), tol);
  // And the update is not trivially small: each step moves a weight by ~lr.
  double mean_abs = 0;
  for (double d : dp64) mean_abs += std::abs(d) / n;
  EXPECT_GT(mean_abs, 0.3 * hp.lr * std::sqrt(steps));  // random-sign steps: a ~sqrt(t) walk
}

TEST(AdamW, RejectsBadArguments) {
  std::vector<float> a(4), b(5);
  ops::AdamWParams hp;
  const Tensor t4(a.data(), {4}), t5(b.data(), {5});
  EXPECT_THROW(ops::adamw_update(t4, t5, t4, t4, hp), Error);
  hp.step = 0;
  EXPECT_THROW(ops::adamw_update(t4, t4, t4, t4, hp), Error);
}

TEST(SumSquares, MatchesFp64AndIsThreadCountInvariant) {
  const int64_t n = 100003;
  std::vector<float> x(n);
  const Rng r(11, RngPurpose::test);
  double want = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = r.normal(i);
    want += static_cast<double>(x[i]) * x[i];
  }
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const double one = ops::sum_squares(Tensor(x.data(), {n}));
  omp_set_num_threads(2);
  const double two = ops::sum_squares(Tensor(x.data(), {n}));
  omp_set_num_threads(threads);
  // fp64 accumulation of n terms: relative error ≤ n·2^-53 (worst case).
  EXPECT_NEAR(one, want, want * n * std::ldexp(1.0, -53));
  EXPECT_EQ(one, two);
}
