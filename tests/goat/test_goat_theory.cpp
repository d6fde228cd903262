// theory.md §4 T1–T6 in fp64: attention as one-sided entropic optimal transport (KKT, exact gap,
// the kernel's LSE as the EOT value), backward as advantage-weighted routing (the kernel's dS,
// row sums, D, dV), the Fisher geometry of softmax (Hessian, natural step), the score-function
// form, and the in-kernel diagnostics of a GOAT layer against dense references.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "goat/goat_ref.h"

namespace goat::test {
namespace {

std::vector<double> softmax(const std::vector<double>& z) {
  const double m = *std::max_element(z.begin(), z.end());
  std::vector<double> p(z.size());
  double s = 0;
  for (size_t j = 0; j < z.size(); ++j) s += p[j] = std::exp(z[j] - m);
  for (auto& x : p) x /= s;
  return p;
}
double logsumexp(const std::vector<double>& z) {
  const double m = *std::max_element(z.begin(), z.end());
  double s = 0;
  for (double x : z) s += std::exp(x - m);
  return m + std::log(s);
}
double kl(const std::vector<double>& p, const std::vector<double>& q) {
  double k = 0;
  for (size_t j = 0; j < p.size(); ++j)
    if (p[j] > 0) k += p[j] * std::log(p[j] / q[j]);
  return k;
}
// F(p) = <p, s> − KL(p‖π), ε = 1.
double eot_value(const std::vector<double>& p, const std::vector<double>& s, const std::vector<double>& pi) {
  return std::inner_product(p.begin(), p.end(), s.begin(), 0.0) - kl(p, pi);
}

// T1: p* = softmax(s + log π) solves max_p <p, s> − KL(p‖π); KKT, exact gap, gap ≥ 0.
TEST(Theory, T1EntropicOptimalTransport) {
  const int n = 9;
  const std::vector<double> s = random_vec(n, 1, 2.0), ell = random_vec(n, 2, 1.5);
  const std::vector<double> pi = softmax(ell);
  std::vector<double> z(n);
  for (int j = 0; j < n; ++j) z[j] = s[j] + ell[j];
  const std::vector<double> p = softmax(z);
  // KKT: s_j − log(p*_j / π_j) is the same for every j.
  for (int j = 1; j < n; ++j) EXPECT_NEAR(s[j] - std::log(p[j] / pi[j]), s[0] - std::log(p[0] / pi[0]), 1e-12);
  // F(p*) = log Σ π e^s.
  std::vector<double> lz(n);
  for (int j = 0; j < n; ++j) lz[j] = std::log(pi[j]) + s[j];
  EXPECT_NEAR(eot_value(p, s, pi), logsumexp(lz), 1e-12);
  // Exact gap for multiplicative perturbations, and gap ≥ 0 for random simplex points.
  for (uint64_t t = 0; t < 20; ++t) {
    const std::vector<double> g = random_vec(n, 100 + t, 1.0);
    std::vector<double> q(n);
    double zq = 0;
    for (int j = 0; j < n; ++j) zq += q[j] = p[j] * std::exp(0.7 * g[j]);
    for (auto& x : q) x /= zq;
    EXPECT_NEAR(eot_value(p, s, pi) - eot_value(q, s, pi), kl(q, p), 1e-12);
    const std::vector<double> r = softmax(random_vec(n, 200 + t, 3.0));
    EXPECT_GE(eot_value(p, s, pi) - eot_value(r, s, pi), -1e-14);
  }
}

// T1 on the kernel: LSE_i − logsumexp_j ℓ_ij = F(p*) = log Σ_j π_ij e^{s_ij}, with content logits s
// (scale·q·k) and the kernel's prior ℓ = slope·(t_j − t_i) + key_bias(j).
TEST(Theory, T1KernelLseIsEotValue) {
  RefProblem P;
  P.B = 1, P.H = 2, P.Hkv = 1, P.Tq = 70, P.Tk = 70, P.D = 16, P.scale = 0.25;
  P.q = random_vec(P.H * P.Tq * P.D, 3), P.k = random_vec(P.Tk * P.D, 4), P.v = random_vec(P.Tk * P.D, 5);
  P.slope = {0.2}, P.kb = random_vec(P.Tk, 6, 2.0);
  const KernelRun k = run_attention(P, {}, RunOptions{false, false, false});
  const auto f = ref_forward<double>(P);
  for (int64_t h = 0; h < P.H; ++h)
    for (int64_t i = 0; i < P.Tq; ++i) {
      std::vector<double> ell, s;
      for (int64_t j = 0; j <= i; ++j) {
        ell.push_back(ref_prior_logit<double>(P, 0, h, i, j));
        s.push_back(f.z[(h * P.Tq + i) * P.Tk + j] - ell.back());
      }
      const std::vector<double> pi = softmax(ell);
      std::vector<double> lz;
      for (size_t j = 0; j < s.size(); ++j) lz.push_back(std::log(pi[j]) + s[j]);
      const double F = logsumexp(lz);
      EXPECT_NEAR(k.lse[h * P.Tq + i] - logsumexp(ell), F, 2e-5 * (1 + std::abs(F))) << "row " << i;
    }
}

// T2: the kernel's dS (seen through d_key_bias with one query row) equals α ∘ (b − E_α b), b_j =
// dO·v_j, which equals finite differences of L in z; rows sum to 0; D = Σ P dP = dO·O; dV = Pᵀ dO.
TEST(Theory, T2AdvantageWeightedRouting) {
  RefProblem P;
  P.B = 1, P.H = 1, P.Hkv = 1, P.Tq = 1, P.Tk = 37, P.D = 16, P.scale = 0.25;
  P.q = random_vec(P.D, 7, 2.0), P.k = random_vec(P.Tk * P.D, 8), P.v = random_vec(P.Tk * P.D, 9);
  P.kb = random_vec(P.Tk, 10);
  const std::vector<double> d_o = random_vec(P.D, 11);
  const KernelRun k = run_attention(P, d_o);
  const auto f = ref_forward<double>(P);
  std::vector<double> b(P.Tk), ds(P.Tk);
  double Eb = 0, D = 0;
  for (int64_t j = 0; j < P.Tk; ++j) {
    for (int64_t c = 0; c < P.D; ++c) b[j] += d_o[c] * P.v[j * P.D + c];
    Eb += f.p[j] * b[j];
  }
  for (int64_t c = 0; c < P.D; ++c) D += d_o[c] * f.o[c];
  EXPECT_NEAR(D, Eb, 1e-12) << "D_i = Σ_j P_ij dP_ij";
  double row_sum = 0, scale = 0;
  for (int64_t j = 0; j < P.Tk; ++j) {
    ds[j] = f.p[j] * (b[j] - Eb);
    row_sum += k.dkb[j], scale += std::abs(k.dkb[j]);
    EXPECT_NEAR(k.dkb[j], ds[j], 1e-5 * (1e-3 + std::abs(ds[j]))) << "dS_" << j;
    // Finite differences of L = dO·o in z_j (through the key bias), fp64.
    RefProblem Q = P;
    Q.kb[j] += 1e-6;
    const auto fp = ref_forward<double>(Q);
    Q.kb[j] -= 2e-6;
    const auto fm = ref_forward<double>(Q);
    double lp = 0, lm = 0;
    for (int64_t c = 0; c < P.D; ++c) lp += d_o[c] * fp.o[c], lm += d_o[c] * fm.o[c];
    EXPECT_NEAR((lp - lm) / 2e-6, ds[j], 1e-8);
    for (int64_t c = 0; c < P.D; ++c) EXPECT_NEAR(k.dv[j * P.D + c], f.p[j] * d_o[c], 1e-6) << "dV = Pᵀ dO";
  }
  EXPECT_LE(std::abs(row_sum), 1e-6 * scale) << "rows of dS sum to zero";
}

// T4: Fisher geometry of one softmax row with temperature τ: the finite-difference Hessian of
// φ(s) = τ LSE(s/τ) is C/τ with C = diag(p) − ppᵀ; the natural-gradient step on s, with F_s = C/τ²
// and ∇_s L = (1/τ) C g, gives p ∘ e^{−ηg}/Z exactly.
TEST(Theory, T4FisherGeometry) {
  const int n = 6;
  const double tau = 0.7, eta = 0.3;
  const std::vector<double> s = random_vec(n, 31, 1.5), g = random_vec(n, 32);
  const auto phi = [&](std::vector<double> x) {
    for (auto& v : x) v /= tau;
    return tau * logsumexp(x);
  };
  std::vector<double> st(n);
  for (int j = 0; j < n; ++j) st[j] = s[j] / tau;
  const std::vector<double> p = softmax(st);
  const double h = 1e-4;
  for (int a = 0; a < n; ++a)
    for (int b = 0; b < n; ++b) {
      auto x = s;
      double val = 0;
      for (int sa : {1, -1})
        for (int sb : {1, -1}) {
          x = s, x[a] += sa * h, x[b] += sb * h;
          val += sa * sb * phi(x);
        }
      const double C = (a == b ? p[a] : 0.0) - p[a] * p[b];
      EXPECT_NEAR(val / (4 * h * h), C / tau, 1e-6) << a << "," << b;
    }
  // Natural step Δs = −η F_s⁺ ∇_s L. On 1^⊥ (where C g lives) F_s⁺ = τ²(C + 11ᵀ)⁻¹, so solve.
  std::vector<double> Cg(n, 0.0);
  std::vector<std::vector<double>> A(n, std::vector<double>(n + 1));
  for (int a = 0; a < n; ++a) {
    for (int b = 0; b < n; ++b) {
      const double C = (a == b ? p[a] : 0.0) - p[a] * p[b];
      Cg[a] += C * g[b] / tau;
      A[a][b] = C + 1.0;
    }
  }
  for (int a = 0; a < n; ++a) A[a][n] = Cg[a];
  for (int c = 0; c < n; ++c)  // Gauss-Jordan with partial pivoting
  {
    int piv = c;
    for (int r = c + 1; r < n; ++r)
      if (std::abs(A[r][c]) > std::abs(A[piv][c])) piv = r;
    std::swap(A[c], A[piv]);
    for (int r = 0; r < n; ++r)
      if (r != c) {
        const double f = A[r][c] / A[c][c];
        for (int k = c; k <= n; ++k) A[r][k] -= f * A[c][k];
      }
  }
  std::vector<double> s_new(n), target(n);
  double z = 0;
  for (int a = 0; a < n; ++a) s_new[a] = (s[a] - eta * tau * tau * A[a][n] / A[a][a]) / tau;
  for (int a = 0; a < n; ++a) z += target[a] = p[a] * std::exp(-eta * g[a]);
  const std::vector<double> p_new = softmax(s_new);
  for (int a = 0; a < n; ++a) EXPECT_NEAR(p_new[a], target[a] / z, 1e-12);
}

// T5: E_{J~p}[(b_J − E b)(e_J − p)] = p ∘ (b − E b), by enumeration.
TEST(Theory, T5ScoreFunctionForm) {
  const int n = 7;
  const std::vector<double> p = softmax(random_vec(n, 41, 2.0)), b = random_vec(n, 42);
  double Eb = 0;
  for (int j = 0; j < n; ++j) Eb += p[j] * b[j];
  for (int k = 0; k < n; ++k) {
    double e = 0;
    for (int J = 0; J < n; ++J) e += p[J] * (b[J] - Eb) * ((J == k ? 1.0 : 0.0) - p[k]);
    EXPECT_NEAR(e, p[k] * (b[k] - Eb), 1e-14);
  }
}

// T6: diagnostics accumulated in the kernel for a GOAT layer (content_dim = d_c, so the prior π
// includes the Fourier lanes, the sink term and recency) equal dense fp64 formulas.
TEST(Theory, T6GoatDiagnosticsMatchDense) {
  GoatSpec s;
  s.B = 2, s.H = 2, s.Hkv = 1, s.Tq = 90, s.Tk = 90, s.Dh = 32;
  const GoatParams p = random_goat_params(s, 51);
  const GoatInputs in = random_goat_inputs(s, 52);
  GoatLayer layer(s, &p);
  const RefProblem P = goat_ref_problem(s, p, in);
  const auto f = ref_forward<double>(P);
  const int64_t rows = s.B * s.H * s.Tq;
  for (bool shared : {false, true}) {  // GOAT's prior is batch-invariant: both paths must agree
    std::vector<float> ent(rows), sink(rows), pmax(rows), klv(rows), om(rows);
    PipelineOptions opt{false, {}};
    opt.diag = {ent.data(), sink.data(), pmax.data(), klv.data(), om.data(), layer.goat->content_dim(), shared};
    goat_pipeline(s, layer, in, opt);
    for (int64_t row = 0; row < rows; ++row) {
      const int64_t i = row % s.Tq;
      std::vector<double> ell, pr, sc;
      for (int64_t j = 0; j <= i; ++j) {
        ell.push_back(P.bias[row * s.Tk + j]);
        pr.push_back(f.p[row * s.Tk + j]);
        sc.push_back(f.z[row * s.Tk + j] - ell.back());
      }
      double H = 0;
      for (double x : pr) H -= x > 0 ? x * std::log(x) : 0.0;
      const double K = kl(pr, softmax(ell));
      const double w = *std::max_element(sc.begin(), sc.end()) - *std::min_element(sc.begin(), sc.end());
      EXPECT_NEAR(ent[row], H, 1e-4 * (1 + H)) << "entropy row " << row;
      EXPECT_NEAR(sink[row], pr[0], 1e-5) << "sink row " << row;
      EXPECT_NEAR(pmax[row], *std::max_element(pr.begin(), pr.end()), 1e-5) << "p_max row " << row;
      EXPECT_NEAR(klv[row], K, 1e-4 * (1 + K)) << "KL row " << row << " shared " << shared;
      EXPECT_NEAR(om[row], w, 1e-4 * (1 + w)) << "omega row " << row;
    }
  }
}

}  // namespace
}  // namespace goat::test
