// GOAT prior facts (goat.md §6 items 1, 2, 6, 7): the Fourier identity behind the lanes, translation
// invariance of the relative term, invariance to per-row terms, and the sink (rank-1 key bias,
// bump raises p_i0, q_c = 0 gives softmax(K), the margin formula Ψ = (L−1)/(e^δ + L−1)).
#include <gtest/gtest.h>

#include <cmath>

#include "goat/goat_ref.h"

namespace goat::test {
namespace {

GoatSpec small_spec(int64_t T, bool key_bias = true, int64_t H = 2, int64_t Hkv = 2) {
  GoatSpec s;
  s.B = 1, s.H = H, s.Hkv = Hkv, s.Tq = T, s.Tk = T, s.Dh = 32, s.key_bias = key_bias;
  return s;
}

// Fact 1, fp64: <q~_rel(i), k~_rel(j)> = Σ a cos(wΔ) + b sin(wΔ) to rounding; and the lanes
// GoatPosition::forward_qk writes (fp32) give the same dot product to fp32 precision.
TEST(GoatPrior, FourierIdentity) {
  const GoatSpec s = small_spec(40);
  const GoatParams p = random_goat_params(s, 3);
  double worst64 = 0;
  for (double ti : {0.0, 1.0, 17.0, 999.0, 4321.0})
    for (double tj : {0.0, 3.0, 17.0, 998.0}) {
      double lanes = 0, direct = 0;
      for (int64_t r = 0; r < s.R; ++r) {
        const double w = ref_freq<double>(r, s.R), a = p.a[r], b = p.b[r];
        const double q1 = a * std::cos(w * ti) + b * std::sin(w * ti), q2 = a * std::sin(w * ti) - b * std::cos(w * ti);
        lanes += q1 * std::cos(w * tj) + q2 * std::sin(w * tj);
        direct += a * std::cos(w * (ti - tj)) + b * std::sin(w * (ti - tj));
      }
      worst64 = std::max(worst64, std::abs(lanes - direct));
    }
  EXPECT_LE(worst64, 1e-12);

  // The scheme's lanes: zero content, positions offset to 500 so the angles are large.
  GoatLayer layer(s, &p);
  std::vector<float> q(s.H * s.Tq * s.Dh, 0.f), k(s.Hkv * s.Tk * s.Dh, 0.f);
  layer.pos->forward_qk(Tensor(q.data(), {1, s.H, s.Tq, s.Dh}), Tensor(k.data(), {1, s.Hkv, s.Tk, s.Dh}), 500, 500);
  double worst32 = 0, scale = 0;
  for (int64_t r = 0; r < s.R; ++r) scale += std::abs(p.a[r]) + std::abs(p.b[r]);
  for (int64_t i = 0; i < s.Tq; ++i)
    for (int64_t j = 0; j < s.Tk; ++j) {
      double dot = 0;
      for (int64_t c = s.dc(); c < s.Dh; ++c) dot += double(q[i * s.Dh + c]) * double(k[j * s.Dh + c]);
      const double ref = ref_K<double>(s, p, 0, 500.0 + i, 500.0 + j) - ref_u<double>(s, p, 0, 500.0 + j);
      worst32 = std::max(worst32, std::abs(dot - ref));
    }
  EXPECT_LE(worst32, 4 * 0x1p-24 * scale * 4) << "fp32 lanes";
}

// Fact 2: shifting every position by c changes only the sink term. fp64 relative term at c = 10⁶;
// the pipeline without key bias (and with only the relative recency) at offset 1000.
TEST(GoatPrior, TranslationInvariance) {
  GoatSpec s = small_spec(30);
  const GoatParams p = random_goat_params(s, 5);
  double worst = 0;
  for (double c : {1e3, 1e6})
    for (int64_t i = 0; i < 30; ++i)
      for (int64_t j = 0; j <= i; ++j) {
        const double k0 = ref_K<double>(s, p, 1, i, j) - ref_u<double>(s, p, 1, j);
        const double kc = ref_K<double>(s, p, 1, i + c, j + c) - ref_u<double>(s, p, 1, j + c);
        worst = std::max(worst, std::abs(k0 - kc));
      }
  EXPECT_LE(worst, 1e-8);

  for (bool kb : {false, true}) {
    s = small_spec(50, kb);
    GoatParams q = random_goat_params(s, 6);
    if (kb) std::fill(q.gain.begin(), q.gain.end(), 0.0), std::fill(q.bump.begin(), q.bump.end(), 0.0);
    const GoatInputs in = random_goat_inputs(s, 7);
    GoatLayer layer(s, &q);
    const auto r0 = goat_pipeline(s, layer, in, {false, {}});
    GoatSpec shifted = s;
    shifted.k_pos0 = 1000;
    const auto r1 = goat_pipeline(shifted, layer, in, {false, {}});
    const auto r32 = goat_reference<float>(shifted, q, in);
    const auto r64 = goat_reference<double>(shifted, q, in);
    EXPECT_LE(nmse(r1.o, r0.o), tolerance(nmse(r32.o, r64.o))) << "key_bias " << kb;
  }
  // With the sink MLP active, the shift does change the output (the absolute features move).
  s = small_spec(50);
  const GoatParams q = random_goat_params(s, 8);
  const GoatInputs in = random_goat_inputs(s, 9);
  GoatLayer layer(s, &q);
  GoatSpec shifted = s;
  shifted.k_pos0 = 1000;
  EXPECT_GT(nmse(goat_pipeline(shifted, layer, in, {false, {}}).o, goat_pipeline(s, layer, in, {false, {}}).o), 1e-6);
}

// Fact 6 (and T3): any per-row term r_i + c_h·t_i added to K leaves outputs and every gradient
// (dS included, hence every prior-parameter gradient) unchanged, in fp64.
TEST(GoatPrior, PerRowTermsChangeNothing) {
  for (bool causal : {true, false}) {
    GoatSpec s = small_spec(20);
    s.causal = causal, s.H = 4, s.Hkv = 2;
    const GoatParams p = random_goat_params(s, 11);
    const GoatInputs in = random_goat_inputs(s, 12);
    const RefProblem P = goat_ref_problem(s, p, in);
    RefProblem Q = P;
    const std::vector<double> r = random_vec(s.B * s.H * s.Tq, 13, 5.0);
    for (int64_t h = 0; h < s.H; ++h)
      for (int64_t i = 0; i < s.Tq; ++i)
        for (int64_t j = 0; j < s.Tk; ++j) Q.bias[(h * s.Tq + i) * s.Tk + j] += r[h * s.Tq + i] + 0.3 * (h + 1) * i;
    const auto f0 = ref_forward<double>(P), f1 = ref_forward<double>(Q);
    const auto g0 = ref_backward<double>(P, in.d_o), g1 = ref_backward<double>(Q, in.d_o);
    const auto max_diff = [](const std::vector<double>& a, const std::vector<double>& b) {
      double m = 0;
      for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
      return m;
    };
    EXPECT_LE(max_diff(f0.o, f1.o), 1e-12);
    EXPECT_LE(max_diff(g0.dq, g1.dq), 1e-12);
    EXPECT_LE(max_diff(g0.dk, g1.dk), 1e-12);
    EXPECT_LE(max_diff(g0.dv, g1.dv), 1e-12);
    EXPECT_LE(max_diff(g0.dz, g1.dz), 1e-12);
    // Rows of dS sum to zero: a per-row term's gradient is exactly zero. Corollary (causal):
    // the sink MLP's output bias gets zero gradient.
    for (int64_t row = 0; row < s.H * s.Tq; ++row) {
      double sum = 0;
      for (int64_t j = 0; j < s.Tk; ++j) sum += g0.dz[row * s.Tk + j];
      EXPECT_NEAR(sum, 0.0, 1e-13);
    }
    const auto gr = goat_reference<double>(s, p, in);
    if (causal) {
      EXPECT_NEAR(gr.grads[8][0], 0.0, 1e-13) << "fc2.bias";
    }
  }
}

// Fact 7: the sink.
TEST(GoatPrior, SinkFacts) {
  GoatSpec s = small_spec(60, true, 4, 2);
  GoatParams p = random_goat_params(s, 21);
  const GoatInputs in = random_goat_inputs(s, 22);
  GoatLayer layer(s, &p);

  // The key-bias term is one value per key, shared by every query (rank 1): the scheme's u(j)
  // equals the fp64 gain·MLP(x_j) + bump·[t_j = 0] for every key.
  (void)layer.pos->prior(1, s.Tk, 0);
  const std::vector<float>& u = layer.goat->key_bias_values();
  for (int64_t hk = 0; hk < s.Hkv; ++hk)
    for (int64_t j = 0; j < s.Tk; ++j) {
      GoatSpec nc = s;
      nc.causal = false;  // u without recency
      const double ref = ref_u<double>(nc, p, hk, double(j));
      EXPECT_NEAR(u[hk * s.Tk + j], ref, 1e-5 * (1 + std::abs(ref))) << "u(" << hk << ", " << j << ")";
    }

  // Raising bump_h raises p_i0 for every query of the heads in group h, and leaves others alone.
  std::vector<float> sink0(s.H * s.Tq), sink1(s.H * s.Tq);
  PipelineOptions opt{false, {}};
  opt.diag.sink_mass = sink0.data();
  goat_pipeline(s, layer, in, opt);
  GoatParams raised = p;
  raised.bump[0] += 2.0;
  layer.set(raised);
  opt.diag.sink_mass = sink1.data();
  goat_pipeline(s, layer, in, opt);
  const int64_t G = s.H / s.Hkv;
  for (int64_t h = 0; h < s.H; ++h)
    for (int64_t i = 1; i < s.Tq; ++i) {  // row 0 sees only token 0: p = 1 either way
      if (h / G == 0) {
        EXPECT_GT(sink1[h * s.Tq + i], sink0[h * s.Tq + i]) << "head " << h << " row " << i;
      } else {
        EXPECT_EQ(sink1[h * s.Tq + i], sink0[h * s.Tq + i]) << "head " << h << " row " << i;
      }
    }

  // q_c = 0: each row is softmax_j(K_ij) over admissible keys, applied to v.
  GoatInputs zq = in;
  std::fill(zq.q.begin(), zq.q.end(), 0.0);
  layer.set(p);
  const auto got = goat_pipeline(s, layer, zq, {false, {}});
  std::vector<double> ref(got.o.size(), 0.0);
  for (int64_t h = 0; h < s.H; ++h)
    for (int64_t i = 0; i < s.Tq; ++i) {
      std::vector<double> z(i + 1);
      double m = -1e300, sum = 0;
      for (int64_t j = 0; j <= i; ++j) z[j] = ref_K<double>(s, p, h / G, i, j), m = std::max(m, z[j]);
      for (int64_t j = 0; j <= i; ++j) sum += std::exp(z[j] - m);
      for (int64_t j = 0; j <= i; ++j)
        for (int64_t c = 0; c < s.Dh; ++c)
          ref[(h * s.Tq + i) * s.Dh + c] += std::exp(z[j] - m) / sum * zq.v[((h / G) * s.Tk + j) * s.Dh + c];
    }
  EXPECT_LE(nmse(got.o, ref), 1e-11);

  // Margin δ on token 0, the other L − 1 logits equal: Ψ = 1 − p_sink = (L−1)/(e^δ + L−1).
  GoatParams flat = p;
  const double delta = 2.5;
  std::fill(flat.a.begin(), flat.a.end(), 0.0), std::fill(flat.b.begin(), flat.b.end(), 0.0);
  std::fill(flat.w2.begin(), flat.w2.end(), 0.0), flat.b2[0] = 0;
  std::fill(flat.bump.begin(), flat.bump.end(), delta), std::fill(flat.rho.begin(), flat.rho.end(), -30.0);
  layer.set(flat);
  opt.diag.sink_mass = sink0.data();
  goat_pipeline(s, layer, zq, opt);
  for (int64_t h = 0; h < s.H; ++h)
    for (int64_t i = 0; i < s.Tq; ++i) {
      const double L = static_cast<double>(i + 1), psi = (L - 1) / (std::exp(delta) + L - 1);
      EXPECT_NEAR(1.0 - sink0[h * s.Tq + i], psi, 1e-6) << "row " << i;
    }
}

}  // namespace
}  // namespace goat::test
