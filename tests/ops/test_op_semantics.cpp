// Op semantics the case table does not cover: error messages (shapes, devices, ids), the
// cross-entropy ignore index, and bit-identical results for any thread count in the reductions
// that are split across threads (layernorm and embedding parameter gradients).
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/philox.h"
#include "ops/cross_entropy.h"
#include "ops/embedding.h"
#include "ops/layernorm.h"
#include "ops/linear.h"

using namespace goat;

namespace {

std::vector<float> normals(int64_t n, uint64_t seed) {
  std::vector<float> v(n);
  const Rng r(seed, RngPurpose::test);
  for (int64_t i = 0; i < n; ++i) v[i] = r.normal(i);
  return v;
}

std::string error_of(const auto& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(OpErrors, ShapeMismatchNamesOpArgumentAndShapes) {
  std::vector<float> in(4 * 64 * 256), out(4 * 64 * 128), w(256), b(256), mean(256), rstd(256);
  const std::string msg = error_of([&] {
    ops::layernorm_forward(Tensor(out.data(), {4, 64, 128}), Tensor(mean.data(), {4, 64}), Tensor(rstd.data(), {4, 64}),
                           Tensor(in.data(), {4, 64, 256}), Tensor(w.data(), {256}), Tensor(b.data(), {256}));
  });
  EXPECT_EQ(msg, "[layernorm] expected out to be (4, 64, 256), got (4, 64, 128)");
}

TEST(OpErrors, CudaTensorIsAnErrorNotACpuFallback) {
  std::vector<float> x(6), w(6), y(4);
  Tensor in(x.data(), {2, 3}, DType::f32, Device::cuda);
  const std::string msg = error_of([&] {
    ops::linear_forward(Tensor(y.data(), {2, 2}), in, Tensor(w.data(), {2, 3}), Tensor());
  });
  EXPECT_NE(msg.find("[linear] device cuda not supported"), std::string::npos) << msg;
}

TEST(OpErrors, IdsOutOfRange) {
  std::vector<float> out(2 * 3), wte(5 * 3), logits(2 * 5), losses(2);
  const int32_t bad_tok[2] = {1, 5};
  EXPECT_NE(error_of([&] {
              ops::embedding_forward(Tensor(out.data(), {1, 2, 3}), bad_tok, Tensor(wte.data(), {5, 3}), Tensor());
            }).find("token 5 at (b=0, t=1) out of range [0, 5)"),
            std::string::npos);
  const int32_t bad_tgt[2] = {-7, 0};
  EXPECT_NE(error_of([&] {
              ops::cross_entropy_forward(Tensor(losses.data(), {2}), Tensor(logits.data(), {2, 5}), bad_tgt);
            }).find("target -7 at row 0"),
            std::string::npos);
  std::vector<float> wpe(4 * 3);
  const int32_t ok_tok[2] = {1, 2};
  EXPECT_NE(error_of([&] {
              ops::embedding_forward(Tensor(out.data(), {1, 2, 3}), ok_tok, Tensor(wte.data(), {5, 3}),
                                     Tensor(wpe.data(), {4, 3}), 3);
            }).find("positions [3, 5) exceed"),
            std::string::npos);
}

TEST(CrossEntropy, IgnoredRowsContributeNothing) {
  const int64_t n = 6, v = 37;
  std::vector<float> logits = normals(n * v, 3);
  const int32_t targets[n] = {4, ops::kIgnoreIndex, 36, ops::kIgnoreIndex, 0, 11};
  std::vector<float> losses(n, NAN), d(n * v, NAN);
  const double mean = ops::cross_entropy_forward(Tensor(losses.data(), {n}), Tensor(logits.data(), {n, v}), targets);
  // The kept rows alone, through the same op: the mean must be theirs.
  const int32_t kept_t[4] = {4, 36, 0, 11};
  const int64_t kept_r[4] = {0, 2, 4, 5};
  std::vector<float> kept(4 * v), kept_losses(4);
  for (int k = 0; k < 4; ++k) std::copy_n(logits.data() + kept_r[k] * v, v, kept.data() + k * v);
  const double kept_mean =
      ops::cross_entropy_forward(Tensor(kept_losses.data(), {4}), Tensor(kept.data(), {4, v}), kept_t);
  EXPECT_DOUBLE_EQ(mean, kept_mean);
  EXPECT_EQ(losses[1], 0.f);
  EXPECT_EQ(losses[3], 0.f);
  ops::cross_entropy_backward(Tensor(d.data(), {n, v}), Tensor(logits.data(), {n, v}), targets, 0.25f);
  for (int64_t j = 0; j < v; ++j) {
    EXPECT_EQ(d[1 * v + j], 0.f);
    EXPECT_EQ(d[3 * v + j], 0.f);
  }
  // Each kept row's gradient sums to 0 (softmax minus one-hot).
  double s = 0;
  for (int64_t j = 0; j < v; ++j) s += d[2 * v + j];
  EXPECT_NEAR(s, 0.0, 1e-6);
  // All rows ignored: mean 0 and zero gradients, no division by zero.
  const int32_t none[n] = {-1, -1, -1, -1, -1, -1};
  EXPECT_EQ(ops::cross_entropy_forward(Tensor(losses.data(), {n}), Tensor(logits.data(), {n, v}), none), 0.0);
}

TEST(Determinism, ParameterGradientsIdenticalForAnyThreadCount) {
  const int64_t bsz = 4, t = 64, c = 200, vocab = 50, tmax = 64;
  const std::vector<float> x = normals(bsz * t * c, 1), dy = normals(bsz * t * c, 2), w = normals(c, 3);
  std::vector<float> mean(bsz * t), rstd(bsz * t), y(bsz * t * c), bias(c, 0.f);
  ops::layernorm_forward(Tensor(y.data(), {bsz, t, c}), Tensor(mean.data(), {bsz, t}), Tensor(rstd.data(), {bsz, t}),
                         Tensor(const_cast<float*>(x.data()), {bsz, t, c}), Tensor(const_cast<float*>(w.data()), {c}),
                         Tensor(bias.data(), {c}));
  std::vector<int32_t> tok(bsz * t);
  for (int64_t i = 0; i < bsz * t; ++i) tok[i] = static_cast<int32_t>((i * 7) % vocab);
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    std::vector<float> dx(x.size(), 0.f), dw(c, 0.f), db(c, 0.f), dwte(vocab * c, 0.f), dwpe(tmax * c, 0.f);
    ops::layernorm_backward(
        Tensor(dx.data(), {bsz, t, c}), Tensor(dw.data(), {c}), Tensor(db.data(), {c}),
        Tensor(const_cast<float*>(dy.data()), {bsz, t, c}), Tensor(const_cast<float*>(x.data()), {bsz, t, c}),
        Tensor(const_cast<float*>(w.data()), {c}), Tensor(mean.data(), {bsz, t}), Tensor(rstd.data(), {bsz, t}));
    ops::embedding_backward(Tensor(dwte.data(), {vocab, c}), Tensor(dwpe.data(), {tmax, c}),
                            Tensor(const_cast<float*>(dy.data()), {bsz, t, c}), tok.data());
    dx.insert(dx.end(), dw.begin(), dw.end());
    dx.insert(dx.end(), db.begin(), db.end());
    dx.insert(dx.end(), dwte.begin(), dwte.end());
    dx.insert(dx.end(), dwpe.begin(), dwpe.end());
    return dx;
  };
  const int saved = omp_get_max_threads();
  const auto one = run(1), two = run(2), three = run(3);
  omp_set_num_threads(saved);
  EXPECT_TRUE(one == two);
  EXPECT_TRUE(one == three);
}

TEST(OpErrors, LinearRejectsViewsWhoseRowsDoNotCollapse) {
  std::vector<float> x(48), w(2 * 4), y(2 * 3 * 2);
  Tensor in(x.data(), {2, 3, 4});
  in.strides = {24, 5, 1};  // rows 5 apart inside a batch, batches 24 apart: not one row stride
  const std::string msg =
      error_of([&] { ops::linear_forward(Tensor(y.data(), {2, 3, 2}), in, Tensor(w.data(), {2, 4}), Tensor()); });
  EXPECT_NE(msg.find("[linear] expected in (2, 3, 4) leading dims to collapse"), std::string::npos) << msg;
  in.strides = {15, 5, 1};  // uniform row stride 5: accepted
  EXPECT_NO_THROW(ops::linear_forward(Tensor(y.data(), {2, 3, 2}), in, Tensor(w.data(), {2, 4}), Tensor()));
}
