// bf16 o out of the CPU attention (the CPU bf16 model's atty: AttentionParams::o16, a bf16 o
// view). The forward must write exactly the round-to-nearest-even bf16 of the fp32 o it writes
// otherwise, lse unchanged; the backward then computes D_i = dO_i·O_i from that bf16 O (the CUDA
// bf16 recipe), so dv and lse stay bitwise the fp32-o run's, and dq, dk (and the prior's
// gradients) move by the rounding of O in D only. Their tolerance against the fp64 reference is
// the bf16 attention's (test_attention_bf16.cpp: 16 × the NMSE that rounding q, k, v, dO to bf16
// causes in fp64) plus 16 × the NMSE that rounding O in D causes in fp64 (ref_backward's o_in_d);
// their distance to the fp32-o run must be within the latter. Shapes: the d256 model's (atty rows
// of H·D at stride C, fused qkv), odd T, GQA non-causal head dim 64, a prior, bf16 q, k, v too.
// Where the kernel has no bf16 products (no AMX) a bf16 o is an error, which is checked instead.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cpu/attention_amx.h"
#include "backend/cpu/attention_kernel.h"
#include "backend/cpu/gemm_bf16.h"
#include "core/check.h"
#include "core/dtype.h"
#include "ops/attention.h"
#include "ops/test_attention_run.h"

namespace goat::test {
namespace {

struct OCase {
  std::string name;
  int64_t B, H, Hkv, Tq, Tk, D;
  bool causal, prior, bf16_qkv;
};

// One forward + backward with fp32 (o16 = false) or bf16 o; o as rows of H·D at stride H·D + 16
// (a strided view like the model's atty), gradients contiguous.
struct ORun {
  std::vector<float> o, lse, dq, dk, dv, dkb, dslope;
  std::vector<uint16_t> o_bits;  // bf16 o, (B, H, Tq, D) gathered
};

ORun run(const OCase& c, const RefProblem& P, const std::vector<double>& d_o, bool o16) {
  const int64_t nq = c.B * c.H * c.Tq * c.D, nk = c.B * c.Hkv * c.Tk * c.D, row = c.H * c.D + 16;
  std::vector<float> q = to_f32(P.q), k = to_f32(P.k), v = to_f32(P.v);
  std::vector<uint16_t> q16(q.size()), k16(k.size()), v16(v.size());
  for (size_t i = 0; i < q.size(); ++i) q16[i] = bf16::from_float(q[i]).bits;
  for (size_t i = 0; i < k.size(); ++i) k16[i] = bf16::from_float(k[i]).bits, v16[i] = bf16::from_float(v[i]).bits;
  ops::AttentionArgs a;
  const DType in = c.bf16_qkv ? DType::bf16 : DType::f32;
  a.q = Tensor(c.bf16_qkv ? static_cast<void*>(q16.data()) : q.data(), {c.B, c.H, c.Tq, c.D}, in, Device::cpu);
  a.k = Tensor(c.bf16_qkv ? static_cast<void*>(k16.data()) : k.data(), {c.B, c.Hkv, c.Tk, c.D}, in, Device::cpu);
  a.v = Tensor(c.bf16_qkv ? static_cast<void*>(v16.data()) : v.data(), {c.B, c.Hkv, c.Tk, c.D}, in, Device::cpu);
  std::vector<float> of(static_cast<size_t>(c.B * c.Tq * row), 1e30f);
  std::vector<uint16_t> oh(of.size(), 0x7fc1);
  a.o = o16 ? Tensor(oh.data(), {c.B, c.H, c.Tq, c.D}, DType::bf16, Device::cpu)
            : Tensor(of.data(), {c.B, c.H, c.Tq, c.D});
  a.o.strides = {c.Tq * row, c.D, row, 1, 0, 0};
  ORun r;
  r.lse.assign(static_cast<size_t>(c.B * c.H * c.Tq), 1e30f);
  a.lse = Tensor(r.lse.data(), {c.B, c.H, c.Tq});
  a.scale = static_cast<float>(P.scale), a.causal = c.causal;
  std::vector<float> slope(P.slope.begin(), P.slope.end()), kb(P.kb.begin(), P.kb.end());
  r.dkb.assign(kb.size(), 1e30f), r.dslope.assign(slope.size(), 1e30f);
  if (c.prior) a.prior.slope = slope.data(), a.prior.key_bias = kb.data();
  ops::attention_forward(a);
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t h = 0; h < c.H; ++h)
      for (int64_t i = 0; i < c.Tq; ++i)
        for (int64_t d = 0; d < c.D; ++d) {
          const size_t at = static_cast<size_t>(b * c.Tq * row + i * row + h * c.D + d);
          if (o16)
            r.o_bits.push_back(oh[at]);
          else
            r.o.push_back(of[at]);
        }
  std::vector<float> dov = to_f32(d_o);
  r.dq.assign(static_cast<size_t>(nq), 1e30f), r.dk.assign(static_cast<size_t>(nk), 1e30f), r.dv = r.dk;
  ops::AttentionGrads g;
  g.dq = Tensor(r.dq.data(), {c.B, c.H, c.Tq, c.D});
  g.dk = Tensor(r.dk.data(), {c.B, c.Hkv, c.Tk, c.D}), g.dv = Tensor(r.dv.data(), {c.B, c.Hkv, c.Tk, c.D});
  if (c.prior) g.d_key_bias = r.dkb.data(), g.d_slope = r.dslope.data();
  ops::attention_backward(a, Tensor(dov.data(), {c.B, c.H, c.Tq, c.D}), g);
  return r;
}

int64_t bit_diffs(const char* what, const std::vector<float>& got, const std::vector<float>& want) {
  EXPECT_EQ(got.size(), want.size()) << what;
  int64_t bad = 0;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i)
    if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0 && bad++ < 3)
      ADD_FAILURE() << what << "[" << i << "]: bf16 o run " << got[i] << ", fp32 o run " << want[i];
  return bad;
}

class OBf16 : public ::testing::TestWithParam<OCase> {};

TEST_P(OBf16, RoundsOAndUsesItForD) {
  const OCase& c = GetParam();
  if (!cpu::attn::amx_ready()) GTEST_SKIP() << "no AMX-BF16 here: the attention writes no bf16 o";
  const cpu::GemmPrecisionScope bf16(cpu::GemmPrecision::bf16);
  RefProblem P = make_attn_problem(AttnCase{c.name, c.B, c.H, c.Hkv, c.Tq, c.Tk, c.D, c.causal, c.prior, c.prior,
                                            false},
                                   71);
  if (c.bf16_qkv) P.q = rounded(P.q), P.k = rounded(P.k), P.v = rounded(P.v);
  const std::vector<double> d_o = random_vec(c.B * c.H * c.Tq * c.D, 73);
  const ORun f = run(c, P, d_o, false), h = run(c, P, d_o, true);
  EXPECT_TRUE(cpu::attn::last_path(true) == cpu::attn::KernelPath::short_amx);

  // o: every element the nearest-even bf16 of the fp32 run's o; lse and dv (no D in them) bitwise.
  ASSERT_EQ(h.o_bits.size(), f.o.size());
  int64_t bad = 0;
  for (size_t i = 0; i < f.o.size(); ++i)
    if (h.o_bits[i] != bf16::from_float(f.o[i]).bits && bad++ < 3)
      ADD_FAILURE() << "o[" << i << "]: bits " << h.o_bits[i] << ", bf16 of the fp32 o " << f.o[i] << " is "
                    << bf16::from_float(f.o[i]).bits;
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(bit_diffs("lse", h.lse, f.lse), 0);
  EXPECT_EQ(bit_diffs("dv", h.dv, f.dv), 0);

  // dq, dk, d_key_bias, d_slope against fp64.
  RefProblem R = P;  // bf16-rounded inputs: the bf16 attention's own tolerance
  R.q = rounded(P.q), R.k = rounded(P.k), R.v = rounded(P.v);
  const RefOut<double> r64 = ref_forward<double>(P);
  const std::vector<double> o_rounded = rounded(r64.o);
  const RefGrads<double> g64 = ref_backward<double>(P, d_o), gr = ref_backward<double>(R, rounded(d_o)),
                         go = ref_backward<double>(P, d_o, &o_rounded);
  const auto check = [&](const char* what, const std::vector<float>& got, const std::vector<float>& fp32_o,
                         const std::vector<double>& ref, const std::vector<double>& ref_in,
                         const std::vector<double>& ref_o) {
    const double tol_o = 16.0 * nmse(ref_o, ref) + 1e-12, tol = 16.0 * nmse(ref_in, ref) + tol_o;
    const double err = nmse(got, ref), moved = nmse(got, fp32_o);
    EXPECT_LE(err, tol) << what << ": NMSE vs fp64 " << err << " > tolerance " << tol;
    EXPECT_LE(moved, tol_o) << what << ": NMSE vs the fp32-o run " << moved << " > O-rounding tolerance " << tol_o;
    if (std::getenv("GOATLM_TEST_VERBOSE"))
      std::printf("%s %s: NMSE vs fp64 %.3g (fp32 o %.3g), tolerance %.3g; vs fp32 o %.3g, tolerance %.3g\n",
                  c.name.c_str(), what, err, nmse(fp32_o, ref), tol, moved, tol_o);
    return moved;
  };
  const double dq_moved = check("dq", h.dq, f.dq, g64.dq, gr.dq, go.dq);
  check("dk", h.dk, f.dk, g64.dk, gr.dk, go.dk);
  if (c.prior) {
    check("d_key_bias", h.dkb, f.dkb, g64.dkb, gr.dkb, go.dkb);
    check("d_slope", h.dslope, f.dslope, g64.dslope, gr.dslope, go.dslope);
  }
  EXPECT_GT(dq_moved, 0.0) << "dq is bitwise the fp32-o run's: the backward did not read the bf16 O";
}

INSTANTIATE_TEST_SUITE_P(Shapes, OBf16,
                         ::testing::Values(OCase{"d256", 2, 8, 8, 128, 128, 32, true, false, true},
                                           OCase{"odd_T", 3, 4, 4, 37, 37, 32, true, false, false},
                                           OCase{"gqa_noncausal_hd64", 2, 4, 2, 50, 50, 64, false, false, false},
                                           OCase{"prefill_prior", 2, 4, 2, 20, 45, 32, true, true, true}),
                         [](const auto& info) { return info.param.name; });

// A bf16 o only where the kernel has bf16 products on the short path: elsewhere an error.
TEST(OBf16, RefusedWhereTheProductsAreNotBf16) {
  const int64_t T = 40, D = 48;  // head dim 48: no bf16 products
  std::vector<float> q(2 * T * D, 0.5f), lse(2 * T);
  std::vector<uint16_t> o(2 * T * D);
  ops::AttentionArgs a;
  a.q = Tensor(q.data(), {1, 2, T, D}), a.k = a.q, a.v = a.q;
  a.o = Tensor(o.data(), {1, 2, T, D}, DType::bf16, Device::cpu), a.lse = Tensor(lse.data(), {1, 2, T});
  const cpu::GemmPrecisionScope bf16(cpu::GemmPrecision::bf16);
  EXPECT_FALSE(ops::attention_takes_bf16(a));
  EXPECT_THROW(ops::attention_forward(a), Error);
  const cpu::GemmPrecisionScope fp32(cpu::GemmPrecision::fp32);
  std::vector<float> q32(2 * T * 32, 0.5f);
  a.q = Tensor(q32.data(), {1, 2, T, 32}), a.k = a.q, a.v = a.q;
  a.o = Tensor(o.data(), {1, 2, T, 32}, DType::bf16, Device::cpu);
  EXPECT_THROW(ops::attention_forward(a), Error) << "fp32 GEMM precision: no bf16 products";
}

}  // namespace
}  // namespace goat::test
