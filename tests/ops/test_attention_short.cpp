// The short-sequence attention path (backend/cpu/attention_short.cpp) against the fp64 reference and
// against the tiled kernel (set_short_path(false)), for every variant it covers: no prior, ALiBi
// slope, key bias (GOAT's prior), GQA, decode and prefill offsets (Tq < Tk), non-causal, strided
// views into a fused qkv buffer, head dims 16–128, lengths up to its limit (256). Every element of
// o, lse, dq, dk, dv (and the prior gradients) is compared with the tiled kernel within a bound
// computed from the plain fp32 reference's worst error on that output. With dtype bf16 (AMX) both
// passes take the short path with bf16 products (attention_short_amx.cpp for the backward): o, lse,
// dq, dk, dv and the prior gradients against fp64 (the bf16 rule of test_attention_bf16.cpp) and
// against the tiled AMX kernel (set_short_path(false)) element by element, with the bound computed
// from what rounding the inputs (and dO) to bf16 alone does to the fp64 reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "backend/cpu/attention_amx.h"
#include "backend/cpu/attention_kernel.h"
#include "backend/cpu/gemm_bf16.h"
#include "ops/test_attention_run.h"

namespace goat::test {
namespace {

using ShortCase = AttnCase;

template <class R32>
double max_abs_diff(const R32& a, const std::vector<double>& b) {
  double m = 0;
  for (size_t i = 0; i < b.size(); ++i) m = std::max(m, std::abs(static_cast<double>(a[i]) - b[i]));
  return m;
}

// |short − tiled| ≤ bound for every element (the first five outside it are reported).
void expect_within(const char* what, const std::vector<float>& fast, const std::vector<float>& tiled, double bound) {
  ASSERT_EQ(fast.size(), tiled.size()) << what;
  int64_t bad = 0;
  for (size_t i = 0; i < fast.size(); ++i) {
    const double d = std::abs(static_cast<double>(fast[i]) - tiled[i]);
    if (!(d <= bound) && bad++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: short " << fast[i] << ", tiled " << tiled[i] << ", bound " << bound;
  }
  EXPECT_EQ(bad, 0) << what << ": elements outside the bound";
}

// got vs fp64 (NMSE, the attention tests' computed tolerance) and vs the tiled kernel, element by
// element: |short − tiled| ≤ 8·max|fp32 ref − fp64 ref| + 4 ulp of the output's largest value.
void check(const char* what, const std::vector<float>& fast, const std::vector<float>& tiled,
           const std::vector<double>& ref64, const std::vector<float>& ref32) {
  ASSERT_EQ(fast.size(), ref64.size()) << what;
  ASSERT_EQ(tiled.size(), ref64.size()) << what;
  double ref_max = 0;
  for (double x : ref64) ref_max = std::max(ref_max, std::abs(x));
  const double err = nmse(fast, ref64), tol = tolerance(nmse(ref32, ref64));
  EXPECT_LE(err, tol) << what << ": NMSE vs fp64 " << err << ", tolerance " << tol;
  expect_within(what, fast, tiled, 8.0 * max_abs_diff(ref32, ref64) + 4.0 * 1.2e-7 * ref_max);
}

// The problem run on the tiled kernel (set_short_path(false)) and then on the short path, each
// checked to have taken that path in both passes (`fast_path`: short_fp32 or short_amx).
struct BothPaths {
  KernelRun tiled, fast;
};
BothPaths run_both_paths(const RefProblem& P, const std::vector<double>& d_o, const RunOptions& opt,
                         cpu::attn::KernelPath fast_path) {
  using cpu::attn::KernelPath, cpu::attn::last_path;
  BothPaths r;
  cpu::attn::set_short_path(false);
  r.tiled = run_attention(P, d_o, opt);
  EXPECT_TRUE(last_path(false) == KernelPath::tiled && last_path(true) == KernelPath::tiled)
      << "set_short_path(false) must keep the tiled kernel";
  cpu::attn::set_short_path(true);
  r.fast = run_attention(P, d_o, opt);
  EXPECT_TRUE(last_path(false) == fast_path && last_path(true) == fast_path) << "the short path was not taken";
  EXPECT_TRUE(r.fast.guards_ok && r.tiled.guards_ok) << "a write outside an output buffer";
  return r;
}

class ShortPath : public ::testing::TestWithParam<ShortCase> {};

TEST_P(ShortPath, MatchesFp64AndTiledKernel) {
  const ShortCase& c = GetParam();
  const RefProblem P = make_attn_problem(c, 900);
  const std::vector<double> d_o = random_vec(c.B * c.H * c.Tq * c.D, 17);
  const auto [r64, r32, g64, g32] = ref_set(P, d_o);
  RunOptions opt;
  opt.fused = c.fused;
  const auto [tiled, fast] = run_both_paths(P, d_o, opt, cpu::attn::KernelPath::short_fp32);
  // The two paths block the products differently, so dq (scaled before vs after its product)
  // differs in rounding somewhere: identical results would mean the short path did not run.
  EXPECT_NE(fast.dq, tiled.dq) << "the short path was not taken";
  check("o", fast.o, tiled.o, r64.o, r32.o);
  check("lse", fast.lse, tiled.lse, r64.lse, r32.lse);
  check("dq", fast.dq, tiled.dq, g64.dq, g32.dq);
  check("dk", fast.dk, tiled.dk, g64.dk, g32.dk);
  check("dv", fast.dv, tiled.dv, g64.dv, g32.dv);
  if (c.kb) check("d_key_bias", fast.dkb, tiled.dkb, g64.dkb, g32.dkb);
  if (c.slope) {  // d_slope sums T²/2 terms of size up to T: the floor scales with that count
    const double err = nmse(fast.dslope, g64.dslope);
    EXPECT_LE(err, tolerance(nmse(g32.dslope, g64.dslope)) + 1e-12 * static_cast<double>(c.Tk)) << "d_slope";
    for (size_t h = 0; h < g64.dslope.size(); ++h)
      EXPECT_NEAR(fast.dslope[h], tiled.dslope[h], 8.0 * max_abs_diff(g32.dslope, g64.dslope) + 1e-5)
          << "d_slope[" << h << "]";
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, ShortPath,
                         ::testing::Values(ShortCase{"TrainD256Fused", 2, 2, 2, 128, 128, 32, true, false, false, true},
                                           ShortCase{"Alibi", 1, 2, 2, 100, 100, 32, true, true, false, false},
                                           ShortCase{"KeyBiasGqa", 2, 4, 2, 77, 77, 16, true, true, true, false},
                                           ShortCase{"Gqa4to1D64", 1, 4, 1, 130, 130, 64, true, true, true, true},
                                           ShortCase{"Odd17D48", 2, 2, 2, 17, 17, 48, true, false, true, false},
                                           ShortCase{"Decode3", 2, 4, 2, 3, 90, 32, true, true, true, false},
                                           ShortCase{"Prefill", 1, 2, 2, 66, 200, 32, true, true, true, false},
                                           ShortCase{"NonCausal", 2, 2, 1, 33, 50, 32, false, true, true, false},
                                           ShortCase{"T256D64", 1, 1, 1, 256, 256, 64, true, false, false, false},
                                           ShortCase{"T96D128", 1, 1, 1, 96, 96, 128, true, true, false, true}),
                         [](const ::testing::TestParamInfo<ShortCase>& i) { return i.param.name; });

class ShortPathBf16 : public ::testing::TestWithParam<ShortCase> {};

TEST_P(ShortPathBf16, MatchesFp64AndTiledAmxKernel) {
  const ShortCase& c = GetParam();
  if (!cpu::attn::amx_ready()) GTEST_SKIP() << "no AMX-BF16 here: the bf16 short path does not run";
  const RefProblem P = make_attn_problem(c, 950);
  RefProblem R = P;  // the bf16-rounded inputs: set the bounds
  R.q = rounded(P.q), R.k = rounded(P.k), R.v = rounded(P.v);
  const auto r64 = ref_forward<double>(P), rr = ref_forward<double>(R);
  const std::vector<double> d_o = random_vec(c.B * c.H * c.Tq * c.D, 18);
  const auto g64 = ref_backward<double>(P, d_o), gr = ref_backward<double>(R, rounded(d_o));
  RunOptions opt;
  opt.fused = c.fused;
  const cpu::GemmPrecisionScope bf16(cpu::GemmPrecision::bf16);
  const auto [tiled, fast] = run_both_paths(P, d_o, opt, cpu::attn::KernelPath::short_amx);
  // tol_floor: d_slope = Σ dS·Δt nearly cancels (Σ_j dS_ij = 0 in exact arithmetic), so its error
  // is dominated by D_i = dO_i·O_i with O from the forward's bf16 P·V, a rounding the
  // rounded-input reference lacks: there the bound is also ≥ 2× the tiled AMX kernel's error.
  const auto check_bf16 = [](const char* what, const std::vector<float>& f, const std::vector<float>& t,
                             const std::vector<double>& ref, const std::vector<double>& ref_rounded,
                             double tol_floor = 0.0) {
    const double tol = std::max(16.0 * nmse(ref_rounded, ref) + 1e-12, tol_floor), err = nmse(f, ref);
    EXPECT_LE(err, tol) << what << ": NMSE vs fp64 " << err << " > bf16 tolerance " << tol << " (tiled "
                        << nmse(t, ref) << ")";
    expect_within(what, f, t, 8.0 * max_abs_diff(ref_rounded, ref) + 1e-6);
  };
  check_bf16("o", fast.o, tiled.o, r64.o, rr.o);
  check_bf16("lse", fast.lse, tiled.lse, r64.lse, rr.lse);
  check_bf16("dq", fast.dq, tiled.dq, g64.dq, gr.dq);
  check_bf16("dk", fast.dk, tiled.dk, g64.dk, gr.dk);
  check_bf16("dv", fast.dv, tiled.dv, g64.dv, gr.dv);
  if (c.kb) check_bf16("d_key_bias", fast.dkb, tiled.dkb, g64.dkb, gr.dkb);
  if (c.slope) check_bf16("d_slope", fast.dslope, tiled.dslope, g64.dslope, gr.dslope, 2.0 * nmse(tiled.dslope, g64.dslope));
}

INSTANTIATE_TEST_SUITE_P(Variants, ShortPathBf16,
                         ::testing::Values(ShortCase{"TrainD256Fused", 2, 2, 2, 128, 128, 32, true, false, false, true},
                                           ShortCase{"KeyBiasGqa", 2, 4, 2, 77, 77, 32, true, true, true, false},
                                           ShortCase{"Decode3", 2, 4, 2, 3, 90, 64, true, true, true, false},
                                           ShortCase{"Prefill", 1, 2, 2, 66, 200, 32, true, true, true, false},
                                           ShortCase{"NonCausal", 2, 2, 1, 33, 90, 32, false, true, true, false},
                                           ShortCase{"T256D64", 1, 1, 1, 256, 256, 64, true, false, false, false},
                                           ShortCase{"T96D128", 1, 1, 1, 96, 96, 128, true, true, false, true},
                                           ShortCase{"Gqa4to1T45", 2, 4, 1, 45, 45, 32, true, true, false, true},
                                           ShortCase{"NonCausalD128", 1, 2, 2, 50, 70, 128, false, false, true, false}),
                         [](const ::testing::TestParamInfo<ShortCase>& i) { return i.param.name; });

}  // namespace
}  // namespace goat::test
