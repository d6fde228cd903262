// GOAT layer tests (goat.md §6 items 3, 4, 5, 8, 9, 10): the pipeline GoatPosition::forward_qk →
// fused attention kernel → backward → backward_prior/backward_qk against the fp64 explicit-bias
// reference, at odd lengths, past the training length, with offsets, GQA, decode; the special
// cases (uniform init = content-slice attention, seeded = ALiBi); KV-cache consistency; GQA =
// repeated MHA; finite differences for every input and prior parameter.
#include <gtest/gtest.h>

#include <cmath>

#include "goat/goat_ref.h"

namespace goat::test {
namespace {

// NMSE against the fp64 reference within 16× the fp32 reference's NMSE; an all-zero reference
// needs |got| at the fp32 noise level of the sums that produce it.
// `terms` is the number of fp32 terms a parameter gradient sums (B·H·Tq·Tk): the bound is then at
// least an RMS error of 4 ulps per term's random walk, (4u)²·terms, because a reduction whose result
// cancels can be far less accurate than the fp32 reference happens to be.
template <class G>
void expect_close(const std::string& what, const G& got, const std::vector<double>& r64, const std::vector<float>& r32,
                  double zero_tol = 1e-4, double terms = 0) {
  ASSERT_EQ(got.size(), r64.size()) << what;
  double norm = 0, got_max = 0;
  for (size_t i = 0; i < r64.size(); ++i)
    norm += r64[i] * r64[i], got_max = std::max<double>(got_max, std::abs(got[i]));
  if (norm < 1e-24) {
    EXPECT_LE(got_max, zero_tol) << what << " should be zero";
    return;
  }
  const double u = 0x1p-24, err = nmse(got, r64), tol = tolerance(nmse(r32, r64)) + 16 * u * u * terms;
  EXPECT_LE(err, tol) << what << ": NMSE " << err << " vs tolerance " << tol;
}

void expect_lanes_zero(const GoatSpec& s, const std::vector<float>& g, const char* what) {
  for (size_t i = 0; i < g.size(); ++i) {
    if (static_cast<int64_t>(i) % s.Dh >= s.dc()) {
      ASSERT_EQ(g[i], 0.f) << what << " lane gradient at " << i;
    }
  }
}

void check_against_reference(const GoatSpec& s, uint64_t seed) {
  const GoatParams p = random_goat_params(s, seed);
  const GoatInputs in = random_goat_inputs(s, seed + 100);
  GoatLayer layer(s, &p);
  const auto got = goat_pipeline(s, layer, in);
  const auto r64 = goat_reference<double>(s, p, in);
  const auto r32 = goat_reference<float>(s, p, in);
  expect_close("o", got.o, r64.o, r32.o);
  expect_close("dq", got.dq, r64.dq, r32.dq);
  expect_close("dk", got.dk, r64.dk, r32.dk);
  expect_close("dv", got.dv, r64.dv, r32.dv);
  expect_lanes_zero(s, got.dq, "dq");
  expect_lanes_zero(s, got.dk, "dk");
  const double terms = static_cast<double>(s.B * s.H * s.Tq * s.Tk);
  for (size_t i = 0; i < 9; ++i)
    expect_close(kGoatParamNames[i], got.grads[i], r64.grads[i], r32.grads[i], 1e-4, terms);
}

struct LayerCase {
  std::string name;
  GoatSpec s;
};
GoatSpec spec(int64_t B, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t Dh, bool kb = true, bool causal = true,
              int64_t k_pos0 = 0) {
  GoatSpec s;
  s.B = B, s.H = H, s.Hkv = Hkv, s.Tq = Tq, s.Tk = Tk, s.Dh = Dh, s.key_bias = kb, s.causal = causal, s.k_pos0 = k_pos0;
  return s;
}

class GoatLayerCase : public ::testing::TestWithParam<LayerCase> {};

// Facts 3 and 10: folded lanes (scale 1) = explicit T×T bias, outputs and every gradient; the
// replaced q/k lanes get exactly zero gradient. Lengths up to 300 > train_len = 64.
TEST_P(GoatLayerCase, FusedKernelMatchesExplicitBiasReference) { check_against_reference(GetParam().s, 11); }

INSTANTIATE_TEST_SUITE_P(Lengths, GoatLayerCase,
                         ::testing::Values(LayerCase{"T1", spec(1, 2, 2, 1, 1, 32)},
                                           LayerCase{"T7", spec(2, 2, 1, 7, 7, 32)},
                                           LayerCase{"T63", spec(1, 2, 2, 63, 63, 32)},
                                           LayerCase{"T64", spec(1, 2, 1, 64, 64, 32)},
                                           LayerCase{"T65", spec(2, 2, 2, 65, 65, 32)},
                                           LayerCase{"T300PastTrainLen", spec(1, 2, 1, 300, 300, 32)},
                                           LayerCase{"NoKeyBias", spec(1, 2, 2, 65, 65, 24, false)},
                                           LayerCase{"NonCausal", spec(1, 2, 1, 40, 40, 32, true, false)},
                                           LayerCase{"Decode", spec(1, 4, 2, 1, 100, 32)},
                                           LayerCase{"PrefillChunkAtOffset", spec(1, 2, 2, 20, 90, 32, true, true, 37)},
                                           LayerCase{"HeadDim64", spec(1, 2, 2, 130, 130, 64)}),
                         [](const ::testing::TestParamInfo<LayerCase>& i) { return i.param.name; });

RefProblem content_slice_problem(const GoatSpec& s, const GoatInputs& in) {
  RefProblem P = goat_ref_problem(s, random_goat_params(s, 1), in);
  P.bias.clear();
  return P;
}

// Fact 4: "uniform" init, non-causal = plain attention on the content slice (first d_c dims of q
// and k, scale 1/sqrt(d_c), full v), not full-width attention.
TEST(GoatSpecialCases, UniformInitIsContentSliceAttention) {
  const GoatSpec s = spec(2, 2, 1, 50, 50, 32, true, false);
  const GoatInputs in = random_goat_inputs(s, 7);
  GoatLayer layer(s, nullptr, "uniform");
  const auto got = goat_pipeline(s, layer, in, {false, {}});
  const RefProblem P = content_slice_problem(s, in);
  expect_close("o", got.o, ref_forward<double>(P).o, ref_forward<float>(P).o);
  RefProblem full = P;
  full.q = in.q, full.k = in.k, full.scale = 1 / std::sqrt(32.0);
  EXPECT_GT(nmse(got.o, ref_forward<double>(full).o), 1e-4) << "must differ from full-width attention";
}

// Fact 5: seeded causal with a = b = 0, bump = 0 and the MLP output layer zeroed = content-slice
// attention with ALiBi −m_h (t_i − t_j), m the published slopes for H_kv heads, shared by groups.
TEST(GoatSpecialCases, SeededInitIsAlibiOnContent) {
  for (auto [H, Hkv] : {std::pair<int64_t, int64_t>{8, 8}, {4, 2}}) {
    const GoatSpec s = spec(1, H, Hkv, 40, 40, 32);
    const GoatInputs in = random_goat_inputs(s, 9);
    GoatLayer layer(s, nullptr, "seeded");
    GoatParams p = layer.get();
    std::fill(p.a.begin(), p.a.end(), 0.0), std::fill(p.w2.begin(), p.w2.end(), 0.0), p.b2[0] = 0;
    for (double b : p.bump) EXPECT_EQ(b, 0.0);
    layer.set(p);
    const auto got = goat_pipeline(s, layer, in, {false, {}});
    RefProblem P = content_slice_problem(s, in);
    // 8 heads: 1/2 … 1/256; 2 heads: 2^-4, 2^-8 (Press et al.).
    for (int64_t h = 0; h < Hkv; ++h)
      P.slope.push_back(std::exp2(-8.0 * static_cast<double>(h + 1) / static_cast<double>(Hkv)));
    expect_close("o", got.o, ref_forward<double>(P).o, ref_forward<float>(P).o);
  }
}

// Fact 8: a full causal pass over L tokens = prefill + token-by-token decode with a KV cache of
// transformed keys (positions passed as offsets).
TEST(GoatKvCache, PrefillPlusDecodeEqualsFullPass) {
  const int64_t L = 70, P0 = 33, H = 4, Hkv = 2, Dh = 32;
  const GoatSpec full = spec(1, H, Hkv, L, L, Dh);
  const GoatParams p = random_goat_params(full, 21);
  const GoatInputs in = random_goat_inputs(full, 22);
  GoatLayer layer(full, &p);
  const auto ref = goat_pipeline(full, layer, in, {false, {}});
  const auto r64 = goat_reference<double>(full, p, in);
  const auto r32 = goat_reference<float>(full, p, in);

  std::vector<float> kc(Hkv * L * Dh), vc(kc.size()), out(H * L * Dh);
  const auto step = [&](int64_t t0, int64_t n) {  // tokens [t0, t0 + n) given t0 cached
    std::vector<float> q(H * n * Dh), o(q.size()), lse(H * n);
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < Dh; ++c) q[(h * n + i) * Dh + c] = static_cast<float>(in.q[(h * L + t0 + i) * Dh + c]);
    for (int64_t h = 0; h < Hkv; ++h)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < Dh; ++c) {
          kc[(h * L + t0 + i) * Dh + c] = static_cast<float>(in.k[(h * L + t0 + i) * Dh + c]);
          vc[(h * L + t0 + i) * Dh + c] = static_cast<float>(in.v[(h * L + t0 + i) * Dh + c]);
        }
    Tensor kn(kc.data() + t0 * Dh, {1, Hkv, n, Dh});
    kn.strides = {Hkv * L * Dh, L * Dh, Dh, 1, 0, 0};
    ops::AttentionArgs a;
    a.q = Tensor(q.data(), {1, H, n, Dh});
    layer.pos->forward_qk(a.q, kn, t0, t0);
    a.k = Tensor(kc.data(), {1, Hkv, t0 + n, Dh});
    a.k.strides = {Hkv * L * Dh, L * Dh, Dh, 1, 0, 0};
    a.v = a.k, a.v.data = vc.data();
    a.o = Tensor(o.data(), {1, H, n, Dh});
    a.lse = Tensor(lse.data(), {1, H, n});
    a.scale = layer.pos->score_scale();
    a.prior = layer.pos->prior(1, t0 + n, 0);
    ops::attention_forward(a);
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < Dh; ++c) out[(h * L + t0 + i) * Dh + c] = o[(h * n + i) * Dh + c];
  };
  step(0, P0);
  for (int64_t t = P0; t < L; ++t) step(t, 1);
  expect_close("decoded o", out, r64.o, r32.o);
  double max_diff = 0, max_o = 0;
  for (size_t i = 0; i < out.size(); ++i)
    max_diff = std::max<double>(max_diff, std::abs(out[i] - ref.o[i])),
    max_o = std::max<double>(max_o, std::abs(ref.o[i]));
  EXPECT_LE(max_diff, 1e-5 * max_o) << "decode vs full pass";
}

// Fact 9: H_kv < H equals multi-head attention with K/V and prior parameters repeated per group;
// GQA gradients are the group sums of the MHA ones.
TEST(GoatGqa, EqualsRepeatedMultiHead) {
  const GoatSpec g = spec(2, 4, 2, 45, 45, 32), m = spec(2, 4, 4, 45, 45, 32);
  const GoatParams pg = random_goat_params(g, 31);
  const GoatInputs ig = random_goat_inputs(g, 32);
  GoatParams pm = pg;
  const auto rep = [](const std::vector<double>& x, int64_t per) {
    std::vector<double> y;
    for (size_t h = 0; h < x.size() / per; ++h)
      for (int rpt = 0; rpt < 2; ++rpt) y.insert(y.end(), x.begin() + h * per, x.begin() + (h + 1) * per);
    return y;
  };
  pm.a = rep(pg.a, g.R), pm.b = rep(pg.b, g.R), pm.gain = rep(pg.gain, 1), pm.bump = rep(pg.bump, 1),
  pm.rho = rep(pg.rho, 1);
  GoatInputs im = ig;
  im.k = rep(ig.k, g.Tk * g.Dh), im.v = rep(ig.v, g.Tk * g.Dh);  // (B·Hkv) blocks of (T, Dh), each twice
  GoatLayer lg(g, &pg), lm(m, &pm);
  const auto rg = goat_pipeline(g, lg, ig), rm = goat_pipeline(m, lm, im);
  EXPECT_LE(nmse(rg.o, rm.o), 1e-12);
  EXPECT_LE(nmse(rg.dq, rm.dq), 1e-10);
  const auto pair_sum = [](const std::vector<float>& x, int64_t per) {
    std::vector<float> y(x.size() / 2);
    for (size_t blk = 0; blk < x.size() / per / 2; ++blk)
      for (int64_t e = 0; e < per; ++e) y[blk * per + e] = x[2 * blk * per + e] + x[(2 * blk + 1) * per + e];
    return y;
  };
  EXPECT_LE(nmse(rg.dk, pair_sum(rm.dk, g.Tk * g.Dh)), 1e-10);
  EXPECT_LE(nmse(rg.dv, pair_sum(rm.dv, g.Tk * g.Dh)), 1e-10);
  for (size_t i = 0; i < 5; ++i)
    EXPECT_LE(nmse(rg.grads[i], pair_sum(rm.grads[i], i < 2 ? g.R : 1)), 1e-10) << kGoatParamNames[i];
  for (size_t i = 5; i < 8; ++i) EXPECT_LE(nmse(rg.grads[i], rm.grads[i]), 1e-10) << kGoatParamNames[i];
  // fc2.bias: exactly zero under the causal mask (a bias shared by all keys is a per-row constant).
  EXPECT_LE(std::abs(rg.grads[8][0]), 1e-5);
  EXPECT_LE(std::abs(rm.grads[8][0]), 1e-5);
}

// Fact 10 (the reference side): the goat.md §4 reductions of dS equal central finite differences
// of the fp64 layer loss for every input and every prior parameter; lanes of q/k do not matter.
TEST(GoatGradients, ReferenceReductionsMatchFiniteDifferences) {
  for (GoatSpec s : {spec(1, 2, 1, 6, 6, 12), spec(2, 2, 2, 3, 7, 12), spec(1, 2, 1, 5, 5, 12, true, false),
                     spec(1, 2, 2, 5, 5, 10, false)}) {
    s.R = 2, s.M = 2, s.train_len = 8;
    GoatParams p = random_goat_params(s, 41);
    GoatInputs in = random_goat_inputs(s, 42);
    const auto g = goat_reference<double>(s, p, in);
    const auto check = [&](const std::string& name, std::vector<double>& x, const std::vector<double>& grad) {
      ASSERT_EQ(x.size(), grad.size()) << name;
      for (size_t i = 0; i < x.size(); ++i) {
        const double x0 = x[i], h = 1e-5 * std::max(1.0, std::abs(x0));
        x[i] = x0 + h;
        const double lp = goat_ref_loss(s, p, in);
        x[i] = x0 - h;
        const double lm = goat_ref_loss(s, p, in);
        x[i] = x0;
        const double fd = (lp - lm) / (2 * h);
        EXPECT_NEAR(grad[i], fd, 1e-7 * (1 + std::abs(fd))) << name << "[" << i << "] (causal " << s.causal << ")";
      }
    };
    check("q", in.q, g.dq), check("k", in.k, g.dk), check("v", in.v, g.dv);
    const auto vals = p.all();
    for (size_t i = 0; i < 9; ++i)
      if (!vals[i]->empty()) check(kGoatParamNames[i], *vals[i], g.grads[i]);
  }
}

}  // namespace
}  // namespace goat::test
