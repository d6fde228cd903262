// Attention op vs an fp64 naive reference (NMSE with a tolerance computed from a plain fp32
// evaluation of the same formula), the reference's gradients vs fp64 finite differences, in-kernel
// diagnostics vs dense formulas, guard values around every buffer, odd lengths, GQA, decode
// (Tq < Tk), strided views into a fused qkv buffer, and shape errors.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/check.h"
#include "ops/test_attention_run.h"

namespace goat::test {
namespace {

using Case = AttnCase;

RefProblem make_problem(const Case& c, uint64_t seed) { return make_attn_problem(c, seed); }

void expect_close(const char* what, const std::vector<float>& got, const std::vector<double>& ref64,
                  const std::vector<float>& ref32) {
  double ref_norm = 0, got_max = 0;
  for (size_t i = 0; i < ref64.size(); ++i)
    ref_norm += ref64[i] * ref64[i], got_max = std::max<double>(got_max, std::abs(got[i]));
  if (ref_norm == 0) {  // e.g. dq at T = 1: exactly zero, the kernel's is fp32 cancellation of O(10) terms
    EXPECT_LE(got_max, 1e-5) << what << " should be zero";
    return;
  }
  const double err = nmse(got, ref64), tol = tolerance(nmse(ref32, ref64));
  EXPECT_LE(err, tol) << what << ": NMSE " << err << " vs tolerance " << tol;
}

class AttentionCase : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionCase, ForwardBackwardMatchFp64Reference) {
  const Case& c = GetParam();
  const RefProblem P = make_problem(c, 100);
  const std::vector<double> d_o = random_vec(c.B * c.H * c.Tq * c.D, 7);
  const auto [r64, r32, g64, g32] = ref_set(P, d_o);
  RunOptions opt;
  opt.fused = c.fused;
  const KernelRun k = run_attention(P, d_o, opt);
  EXPECT_TRUE(k.guards_ok) << "a write outside an output buffer";
  expect_close("o", k.o, r64.o, r32.o);
  expect_close("lse", k.lse, r64.lse, r32.lse);
  expect_close("dq", k.dq, g64.dq, g32.dq);
  expect_close("dk", k.dk, g64.dk, g32.dk);
  expect_close("dv", k.dv, g64.dv, g32.dv);
  if (c.kb) expect_close("d_key_bias", k.dkb, g64.dkb, g32.dkb);
  if (c.slope) {
    // d_slope sums T²/2 terms of size up to T: the floor scales with that count.
    const double err = nmse(k.dslope, g64.dslope);
    const double floor = 1e-12 * static_cast<double>(c.Tk);
    EXPECT_LE(err, tolerance(nmse(g32.dslope, g64.dslope)) + floor) << "d_slope";
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionCase,
                         ::testing::Values(Case{"T1", 1, 2, 2, 1, 1, 64, true, false, false, false},
                                           Case{"T7", 2, 2, 2, 7, 7, 64, true, true, true, false},
                                           Case{"T63", 1, 2, 1, 63, 63, 64, true, true, true, false},
                                           Case{"T64", 1, 2, 2, 64, 64, 64, true, false, false, true},
                                           Case{"T65", 2, 1, 1, 65, 65, 64, true, true, true, false},
                                           Case{"T300", 1, 2, 2, 300, 300, 64, true, true, true, true},
                                           Case{"D24", 1, 2, 2, 65, 65, 24, true, true, true, false},
                                           Case{"D80", 1, 1, 1, 130, 130, 80, true, false, true, false},
                                           Case{"D7", 2, 1, 1, 9, 9, 7, true, true, false, false},
                                           Case{"GQA4to2", 2, 4, 2, 70, 70, 32, true, true, true, true},
                                           Case{"GQA4to1", 1, 4, 1, 129, 129, 16, true, true, true, false},
                                           Case{"Decode1", 2, 4, 2, 1, 77, 64, true, true, true, false},
                                           Case{"Decode5", 1, 2, 1, 5, 130, 64, true, true, true, false},
                                           Case{"Prefill", 1, 2, 2, 66, 200, 32, true, true, true, false},
                                           Case{"NonCausal", 2, 2, 1, 33, 50, 32, false, true, true, false},
                                           Case{"NonCausalShortK", 1, 2, 2, 70, 20, 32, false, false, true, false}),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

// The reference's closed-form gradients (dS = P ∘ (dP − D)) against central finite differences of
// its own fp64 forward, for every input: q, k, v, key bias, slope.
TEST(AttentionReference, GradientsMatchFiniteDifferences) {
  for (const Case& c : {Case{"fd", 2, 4, 2, 7, 7, 5, true, true, true, false},
                        Case{"fd_decode", 1, 2, 1, 3, 9, 4, true, true, true, false},
                        Case{"fd_full", 1, 2, 2, 4, 6, 3, false, true, true, false}}) {
    RefProblem P = make_problem(c, 300);
    const std::vector<double> d_o = random_vec(c.B * c.H * c.Tq * c.D, 9);
    const auto g = ref_backward<double>(P, d_o);
    auto loss = [&](const RefProblem& X) {
      const auto f = ref_forward<double>(X);
      double L = 0;
      for (size_t i = 0; i < f.o.size(); ++i) L += f.o[i] * d_o[i];
      return L;
    };
    auto check = [&](const char* name, std::vector<double>& x, const std::vector<double>& grad) {
      const double h = 1e-5;
      for (size_t i = 0; i < x.size(); ++i) {
        const double x0 = x[i];
        x[i] = x0 + h;
        const double lp = loss(P);
        x[i] = x0 - h;
        const double lm = loss(P);
        x[i] = x0;
        const double fd = (lp - lm) / (2 * h);
        EXPECT_NEAR(grad[i], fd, 1e-7 * (1 + std::abs(fd))) << c.name << " " << name << "[" << i << "]";
      }
    };
    check("q", P.q, g.dq);
    check("k", P.k, g.dk);
    check("v", P.v, g.dv);
    check("key_bias", P.kb, g.dkb);
    check("slope", P.slope, g.dslope);
  }
}

// Diagnostics accumulated in the kernel vs dense fp64 formulas (theory.md §4 T6).
TEST(AttentionDiagnostics, MatchDenseFormulas) {
  for (const Case& c : {Case{"diag", 2, 2, 1, 150, 150, 32, true, true, true, false},
                        Case{"diag_decode", 1, 2, 2, 3, 90, 32, true, false, true, false}}) {
    RefProblem P = make_problem(c, 500);
    P.content_dim = 24;  // the last 8 dims act as prior lanes
    RunOptions opt;
    opt.backward = false, opt.diag = true;
    const KernelRun k = run_attention(P, {}, opt);
    EXPECT_TRUE(k.guards_ok);
    const auto f = ref_forward<double>(P);
    std::vector<double> ent(f.lse.size()), sink(ent.size()), pmax(ent.size()), kl(ent.size()), om(ent.size());
    for (int64_t b = 0; b < P.B; ++b)
      for (int64_t h = 0; h < P.H; ++h)
        for (int64_t i = 0; i < P.Tq; ++i) {
          const int64_t row = (b * P.H + h) * P.Tq + i;
          double m = -INFINITY, zsum = 0, smax = -INFINITY, smin = INFINITY;
          std::vector<double> ell(P.Tk, -INFINITY);
          for (int64_t j = 0; j < P.Tk; ++j)
            if (ref_admissible(P, i, j)) {
              ell[j] = ref_prior_logit<double>(P, b, h, i, j);
              m = std::max(m, ell[j]);
              const double s = f.z[row * P.Tk + j] - ell[j];
              smax = std::max(smax, s), smin = std::min(smin, s);
            }
          for (int64_t j = 0; j < P.Tk; ++j)
            if (ref_admissible(P, i, j)) zsum += std::exp(ell[j] - m);
          const double logz_pi = m + std::log(zsum);
          double e = 0, kld = 0, pm = 0;
          for (int64_t j = 0; j < P.Tk; ++j) {
            const double p = f.p[row * P.Tk + j];
            if (!ref_admissible(P, i, j) || p == 0) continue;
            e -= p * std::log(p);
            kld += p * (std::log(p) - (ell[j] - logz_pi));
            pm = std::max(pm, p);
          }
          ent[row] = e, sink[row] = f.p[row * P.Tk], pmax[row] = pm, kl[row] = kld, om[row] = smax - smin;
        }
    // Diagnostics are fp32 accumulations of O(T) terms: a relative 1e-4 bound per row.
    for (size_t r = 0; r < ent.size(); ++r) {
      EXPECT_NEAR(k.entropy[r], ent[r], 1e-4 * (1 + std::abs(ent[r]))) << c.name << " entropy row " << r;
      EXPECT_NEAR(k.sink[r], sink[r], 1e-5 * (1 + sink[r])) << c.name << " sink row " << r;
      EXPECT_NEAR(k.pmax[r], pmax[r], 1e-5 * (1 + pmax[r])) << c.name << " p_max row " << r;
      EXPECT_NEAR(k.kl[r], kl[r], 1e-4 * (1 + std::abs(kl[r]))) << c.name << " KL row " << r;
      EXPECT_NEAR(k.omega[r], om[r], 1e-4 * (1 + std::abs(om[r]))) << c.name << " omega row " << r;
    }
  }
}

TEST(AttentionErrors, BadShapesThrowWithContext) {
  RefProblem P = make_problem(Case{"e", 1, 3, 2, 4, 4, 8, true, false, false, false}, 1);
  EXPECT_THROW(run_attention(P, random_vec(3 * 4 * 8, 1)), goat::Error);  // H % Hkv != 0
  P = make_problem(Case{"e", 1, 2, 2, 8, 4, 8, true, false, false, false}, 1);
  try {
    run_attention(P, random_vec(2 * 8 * 8, 1));
    ADD_FAILURE() << "causal Tq > Tk must throw";
  } catch (const goat::Error& e) {
    EXPECT_NE(std::string(e.what()).find("[attention]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace goat::test
