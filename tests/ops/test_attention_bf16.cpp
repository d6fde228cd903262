// The CPU attention kernel with bf16 products (dtype "bf16": QKᵀ, PV and the backward's products
// on bf16-rounded operands, fp32 accumulation, on AMX) against the fp64 naive reference and against
// the fp32 kernel. Tolerance, computed per case: 16 × the NMSE that rounding q, k, v (and dO) to
// bf16 alone causes in the fp64 reference — the kernel also rounds P, dS and dO inside, errors of
// the same size (the 16× rule of test_attention.cpp). Where AMX is missing (or the head dim is not
// a multiple of 32) the kernel keeps fp32 products and the case checks that instead.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "backend/cpu/attention_amx.h"
#include "backend/cpu/gemm_bf16.h"
#include "ops/test_attention_run.h"

namespace goat::test {
namespace {

struct Case {
  std::string name;
  int64_t B, H, Hkv, Tq, Tk, D;
  bool causal, prior, fused;
};

class AttentionBf16 : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionBf16, MatchesFp64AndFp32KernelWithinBf16Tolerance) {
  const Case& c = GetParam();
  RefProblem P;
  P.B = c.B, P.H = c.H, P.Hkv = c.Hkv, P.Tq = c.Tq, P.Tk = c.Tk, P.D = c.D, P.causal = c.causal;
  P.scale = 1.0 / std::sqrt(static_cast<double>(c.D));
  P.q = random_vec(c.B * c.H * c.Tq * c.D, 300, 1.5);
  P.k = random_vec(c.B * c.Hkv * c.Tk * c.D, 301, 1.5);
  P.v = random_vec(c.B * c.Hkv * c.Tk * c.D, 302);
  if (c.prior) {
    P.slope.resize(c.Hkv);
    for (int64_t h = 0; h < c.Hkv; ++h) P.slope[h] = std::pow(2.0, -1.0 - 2.0 * h);
    P.kb = random_vec(c.B * c.Hkv * c.Tk, 303, 2.0);
  }
  const std::vector<double> d_o = random_vec(c.B * c.H * c.Tq * c.D, 304);
  RefProblem R = P;  // the bf16-rounded inputs: sets the tolerance
  R.q = rounded(P.q), R.k = rounded(P.k), R.v = rounded(P.v);
  const auto r64 = ref_forward<double>(P), rr = ref_forward<double>(R);
  const auto g64 = ref_backward<double>(P, d_o), gr = ref_backward<double>(R, rounded(d_o));

  RunOptions opt;
  opt.fused = c.fused;
  const KernelRun f32 = run_attention(P, d_o, opt);
  KernelRun b16;
  {
    const cpu::GemmPrecisionScope bf16(cpu::GemmPrecision::bf16);
    b16 = run_attention(P, d_o, opt);
  }
  EXPECT_TRUE(b16.guards_ok) << "a write outside an output buffer";
  const bool amx = cpu::attn::amx_ready() && c.D % 32 == 0;
  const auto check = [&](const char* what, const std::vector<float>& got, const std::vector<float>& fp32,
                         const std::vector<double>& ref, const std::vector<double>& ref_rounded) {
    const double tol = 16.0 * nmse(ref_rounded, ref) + 1e-12;
    const double err = nmse(got, ref), err_vs_fp32 = nmse(got, fp32);
    EXPECT_LE(err, tol) << what << ": NMSE vs fp64 " << err << " > bf16 tolerance " << tol;
    EXPECT_LE(err_vs_fp32, tol) << what << ": NMSE vs the fp32 kernel " << err_vs_fp32 << " > " << tol;
    // The bf16 products ran: the result is not the fp32 kernel's.
    if (amx) {
      EXPECT_GT(err_vs_fp32, 0.0) << what << " is bit-identical to fp32: bf16 products did not run";
    } else {
      EXPECT_EQ(err_vs_fp32, 0.0) << what << ": the fp32 fallback must be the fp32 kernel";
    }
    if (std::getenv("GOATLM_TEST_VERBOSE"))
      std::printf("%s %s: NMSE %.3g (vs fp32 kernel %.3g, fp32 kernel vs fp64 %.3g), tolerance %.3g\n",
                  c.name.c_str(), what, err, err_vs_fp32, nmse(fp32, ref), tol);
  };
  check("o", b16.o, f32.o, r64.o, rr.o);
  check("lse", b16.lse, f32.lse, r64.lse, rr.lse);
  check("dq", b16.dq, f32.dq, g64.dq, gr.dq);
  check("dk", b16.dk, f32.dk, g64.dk, gr.dk);
  check("dv", b16.dv, f32.dv, g64.dv, gr.dv);
  if (c.prior) check("d_key_bias", b16.dkb, f32.dkb, g64.dkb, gr.dkb);
  if (!amx) GTEST_LOG_(INFO) << "no AMX-BF16 here (or head dim " << c.D << "): fp32 products checked";
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionBf16,
                         ::testing::Values(Case{"T7", 2, 2, 2, 7, 7, 32, true, true, false},
                                           Case{"T64Fused", 2, 4, 4, 64, 64, 32, true, false, true},
                                           Case{"T65GQA", 2, 4, 2, 65, 65, 32, true, true, false},
                                           Case{"T130D64", 1, 2, 2, 130, 130, 64, true, true, true},
                                           Case{"T200D128", 1, 2, 1, 200, 200, 128, true, false, false},
                                           Case{"Prefill", 1, 2, 2, 66, 200, 32, true, true, false},
                                           Case{"Decode3", 2, 2, 1, 3, 77, 64, true, true, false},
                                           Case{"NonCausal", 2, 2, 1, 33, 50, 32, false, true, false},
                                           Case{"D24Fallback", 1, 2, 2, 40, 40, 24, true, true, false}),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

}  // namespace
}  // namespace goat::test
