// AdamW against an fp64 transcription of the published algorithm (Loshchilov & Hutter 2019,
// Algorithm 2, in PyTorch's parameterisation: decay lr·λ·θ decoupled from the adaptive step,
// bias-corrected moments) over several steps with fresh Philox gradients; the one-pass update of
// several runs (a parameter arena) bitwise against one call per run; and sum_squares against an
// fp64 sum, independent of the thread count.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
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

TEST(AdamW, RunsInOnePassEqualOneCallPerRunBitwise) {
  // Runs like a parameter arena's: large and small tensors, mixed weight decay, padding gaps
  // (never touched), lengths that are not multiples of the chunk or any SIMD width.
  const std::vector<ops::AdamWRun> runs{{0, 100000, 0.1f}, {100000, 37, 0.f}, {100048, 8192, 0.1f},
                                        {108240, 9000, 0.f}, {117248, 5, 0.1f}, {117264, 40000, 0.f}};
  const int64_t n = 157280;
  const Rng r(21, RngPurpose::test);
  std::vector<float> p0(n), g(n), m0(n), v0(n);
  for (int64_t i = 0; i < n; ++i) {
    p0[i] = r.normal(i);
    g[i] = r.normal(n + i);
    m0[i] = 0.1f * r.normal(2 * n + i);
    v0[i] = 0.01f * std::abs(r.normal(3 * n + i));
  }
  ops::AdamWParams hp;
  hp.lr = 1e-2f;
  hp.step = 3;
  hp.grad_scale = 0.7f;
  std::vector<float> p1 = p0, m1 = m0, v1 = v0;  // one call per run
  for (const auto& run : runs) {
    hp.weight_decay = run.weight_decay;
    const auto at = [&](std::vector<float>& x) { return Tensor(x.data() + run.offset, {run.n}); };
    ops::adamw_update(at(p1), Tensor(g.data() + run.offset, {run.n}), at(m1), at(v1), hp);
  }
  hp.weight_decay = 0.5f;  // unused by the runs
  const int threads = omp_get_max_threads();
  for (int t : {1, 2}) {
    omp_set_num_threads(t);
    std::vector<float> p2 = p0, m2 = m0, v2 = v0;
    ops::adamw_update_runs(Tensor(p2.data(), {n}), Tensor(g.data(), {n}), Tensor(m2.data(), {n}),
                           Tensor(v2.data(), {n}), hp, runs);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(std::memcmp(&p1[i], &p2[i], 4), 0) << "p[" << i << "] " << p1[i] << " vs " << p2[i] << ", " << t;
      ASSERT_EQ(std::memcmp(&m1[i], &m2[i], 4), 0) << "m[" << i << "], " << t << " threads";
      ASSERT_EQ(std::memcmp(&v1[i], &v2[i], 4), 0) << "v[" << i << "], " << t << " threads";
    }
  }
  omp_set_num_threads(threads);
  EXPECT_EQ(p1[100040], p0[100040]);  // a gap element: untouched
  EXPECT_NE(p1[100000], p0[100000]);  // a run's: updated
}

TEST(AdamW, RejectsOverlappingOrOutsideRuns) {
  std::vector<float> a(64);
  const Tensor t(a.data(), {64});
  const ops::AdamWParams hp;
  EXPECT_THROW(ops::adamw_update_runs(t, t, t, t, hp, {{0, 32, 0.f}, {16, 8, 0.f}}), Error);
  EXPECT_THROW(ops::adamw_update_runs(t, t, t, t, hp, {{60, 8, 0.f}}), Error);
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
