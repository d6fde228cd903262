// bf16 q, k, v into the CPU attention (the CPU bf16 model's qkv, rounded by in_proj's GEMM
// epilogue; ops::attention_takes_bf16). The kernel rounds fp32 q, k, v to bf16 for its products,
// so bf16 inputs must give exactly the results of the fp32 inputs those bf16 values represent:
// for each shape the attention runs on fp32 q, k, v holding bf16-representable values and on the
// same values as bf16 bits, and every element of o, lse, dq, dk, dv (fp32 outputs, and bf16 outputs
// with in_proj's bias sums), d_key_bias and d_slope must be bitwise equal.
// Shapes: the d256 model's fused rows, odd T (in-place Q operand only at T % 16 = 0), GQA
// non-causal, Tq < Tk, slope + key bias, head dim 64, a buffer 2 bytes off 4-byte alignment (the
// word-transpose packing falls back to the rounding one). Also: where the kernel does not take
// bf16 inputs (no bf16 GEMM precision, head dim 48, T past the short path, diagnostics)
// attention_takes_bf16 says so and bf16 inputs are an error.
#include <gtest/gtest.h>

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

struct InCase {
  std::string name;
  int64_t B, H, Hkv, Tq, Tk, D;
  bool causal, prior, fused, misaligned;
};

// Every output of one forward + backward (fp32 gradients, then bf16 gradients with the sums).
struct Outputs {
  std::vector<float> o, lse, dq, dk, dv, dkb, dslope, sums;
  std::vector<uint16_t> g16;
};

// q, k, v (B, N, T, D) views of one element type E over `buf`: fused rows (B, T, W) when
// c.fused, else three contiguous arrays; `shift` elements past the start of buf.
template <class E>
void input_views(const InCase& c, std::vector<E>& buf, int64_t shift, DType dt, ops::AttentionArgs& a) {
  const int64_t W = (c.H + 2 * c.Hkv) * c.D, nq = c.B * c.H * c.Tq * c.D, nk = c.B * c.Hkv * c.Tk * c.D;
  buf.assign(static_cast<size_t>(shift + (c.fused ? c.B * c.Tk * W : nq + 2 * nk)), E{});
  E* base = buf.data() + shift;
  const auto view = [&](int64_t offset, int64_t N, int64_t T, int64_t col) {
    Tensor t(base + offset + col, Shape{c.B, N, T, c.D}, dt, Device::cpu);
    if (c.fused) t.strides = {T * W, c.D, W, 1, 0, 0};
    return t;
  };
  if (c.fused)
    a.q = view(0, c.H, c.Tq, 0), a.k = view(0, c.Hkv, c.Tk, c.H * c.D), a.v = view(0, c.Hkv, c.Tk, (c.H + c.Hkv) * c.D);
  else
    a.q = view(0, c.H, c.Tq, 0), a.k = view(nq, c.Hkv, c.Tk, 0), a.v = view(nq + nk, c.Hkv, c.Tk, 0);
}

// Writes the contiguous (B, N, T, D) values x into view t (E: float, or bf16 bits of values that
// are bf16 already).
template <class E>
void put(const std::vector<double>& x, const Tensor& t) {
  const int64_t B = t.size(0), N = t.size(1), T = t.size(2), D = t.size(3);
  E* p = static_cast<E*>(t.data);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < T; ++i)
        for (int64_t col = 0; col < D; ++col) {
          const float f = static_cast<float>(x[static_cast<size_t>(((b * N + n) * T + i) * D + col)]);
          E e;
          if constexpr (sizeof(E) == 2)
            e = bf16::from_float(f).bits;
          else
            e = f;
          p[b * t.strides[0] + n * t.strides[1] + i * t.strides[2] + col] = e;
        }
}

// Forward and both backwards with q, k, v of element type E.
template <class E>
Outputs run(const InCase& c, const RefProblem& P, const std::vector<double>& d_o, DType dt) {
  ops::AttentionArgs a;
  std::vector<E> in;
  input_views(c, in, c.misaligned ? 1 : 0, dt, a);
  put<E>(P.q, a.q), put<E>(P.k, a.k), put<E>(P.v, a.v);
  const int64_t nq = c.B * c.H * c.Tq * c.D, nk = c.B * c.Hkv * c.Tk * c.D, W = c.H + 2 * c.Hkv;
  Outputs r;
  r.o.assign(static_cast<size_t>(nq), 1e30f), r.lse.assign(static_cast<size_t>(c.B * c.H * c.Tq), 1e30f);
  a.o = Tensor(r.o.data(), {c.B, c.H, c.Tq, c.D}), a.lse = Tensor(r.lse.data(), {c.B, c.H, c.Tq});
  a.scale = static_cast<float>(P.scale), a.causal = c.causal;
  std::vector<float> slope(P.slope.begin(), P.slope.end()), kb(P.kb.begin(), P.kb.end());
  r.dkb.assign(kb.size(), 1e30f), r.dslope.assign(slope.size(), 1e30f);
  if (c.prior) a.prior.slope = slope.data(), a.prior.key_bias = kb.data();
  ops::attention_forward(a);
  std::vector<float> dov = to_f32(d_o);
  const Tensor dot(dov.data(), {c.B, c.H, c.Tq, c.D});
  r.dq.assign(static_cast<size_t>(nq), 1e30f), r.dk.assign(static_cast<size_t>(nk), 1e30f), r.dv = r.dk;
  ops::AttentionGrads g;
  g.dq = Tensor(r.dq.data(), {c.B, c.H, c.Tq, c.D});
  g.dk = Tensor(r.dk.data(), {c.B, c.Hkv, c.Tk, c.D}), g.dv = Tensor(r.dv.data(), {c.B, c.Hkv, c.Tk, c.D});
  if (c.prior) g.d_key_bias = r.dkb.data(), g.d_slope = r.dslope.data();
  ops::attention_backward(a, dot, g);
  // bf16 gradients and bias sums, as the model asks for them
  r.g16.assign(static_cast<size_t>(nq + 2 * nk), 0x7fc1), r.sums.assign(static_cast<size_t>(W * c.D), 0.25f);
  ops::AttentionGrads h = g;
  h.dq = Tensor(r.g16.data(), {c.B, c.H, c.Tq, c.D}, DType::bf16, Device::cpu);
  h.dk = Tensor(r.g16.data() + nq, {c.B, c.Hkv, c.Tk, c.D}, DType::bf16, Device::cpu);
  h.dv = Tensor(r.g16.data() + nq + nk, {c.B, c.Hkv, c.Tk, c.D}, DType::bf16, Device::cpu);
  h.d_key_bias = h.d_slope = nullptr;
  h.dq_sum = r.sums.data(), h.dk_sum = h.dq_sum + c.H * c.D, h.dv_sum = h.dk_sum + c.Hkv * c.D;
  ops::attention_backward(a, dot, h);
  return r;
}

template <class E>
int64_t count_diff(const char* what, const std::vector<E>& got, const std::vector<E>& want) {
  EXPECT_EQ(got.size(), want.size()) << what;
  int64_t bad = 0;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i)
    if (std::memcmp(&got[i], &want[i], sizeof(E)) != 0 && bad++ < 3)
      ADD_FAILURE() << what << "[" << i << "]: bf16 inputs " << +got[i] << ", fp32 inputs " << +want[i];
  return bad;
}

class Bf16Inputs : public ::testing::TestWithParam<InCase> {};

TEST_P(Bf16Inputs, EqualTheFp32InputsTheyRepresent) {
  const InCase& c = GetParam();
  if (!cpu::attn::amx_ready()) GTEST_SKIP() << "no AMX-BF16 here: the attention takes no bf16 inputs";
  const cpu::GemmPrecisionScope bf16(cpu::GemmPrecision::bf16);
  const AttnCase ac{c.name, c.B, c.H, c.Hkv, c.Tq, c.Tk, c.D, c.causal, c.prior, c.prior, c.fused};
  RefProblem P = make_attn_problem(ac, 41);
  P.q = rounded(P.q), P.k = rounded(P.k), P.v = rounded(P.v);  // values bf16 holds exactly
  const std::vector<double> d_o = random_vec(c.B * c.H * c.Tq * c.D, 43);

  ops::AttentionArgs probe;
  std::vector<uint16_t> scratch;
  input_views(c, scratch, 0, DType::bf16, probe);
  std::vector<float> o(static_cast<size_t>(c.B * c.H * c.Tq * c.D)), lse(static_cast<size_t>(c.B * c.H * c.Tq));
  probe.o = Tensor(o.data(), {c.B, c.H, c.Tq, c.D}), probe.lse = Tensor(lse.data(), {c.B, c.H, c.Tq});
  ASSERT_TRUE(ops::attention_takes_bf16(probe)) << "the kernel should take bf16 q, k, v here";

  const Outputs want = run<float>(c, P, d_o, DType::f32);
  const Outputs got = run<uint16_t>(c, P, d_o, DType::bf16);
  EXPECT_TRUE(cpu::attn::last_path(false) == cpu::attn::KernelPath::short_amx);
  EXPECT_TRUE(cpu::attn::last_path(true) == cpu::attn::KernelPath::short_amx);
  EXPECT_EQ(count_diff("o", got.o, want.o), 0);
  EXPECT_EQ(count_diff("lse", got.lse, want.lse), 0);
  EXPECT_EQ(count_diff("dq", got.dq, want.dq), 0);
  EXPECT_EQ(count_diff("dk", got.dk, want.dk), 0);
  EXPECT_EQ(count_diff("dv", got.dv, want.dv), 0);
  EXPECT_EQ(count_diff("d_key_bias", got.dkb, want.dkb), 0);
  EXPECT_EQ(count_diff("d_slope", got.dslope, want.dslope), 0);
  EXPECT_EQ(count_diff("bf16 dq|dk|dv", got.g16, want.g16), 0);
  EXPECT_EQ(count_diff("bias sums", got.sums, want.sums), 0);
  // Not vacuous: the outputs were written (no sentinel left).
  for (float x : got.o) ASSERT_NE(x, 1e30f);
  for (float x : got.dk) ASSERT_NE(x, 1e30f);
}

INSTANTIATE_TEST_SUITE_P(Shapes, Bf16Inputs,
                         ::testing::Values(InCase{"d256", 2, 8, 8, 128, 128, 32, true, false, true, false},
                                           InCase{"odd_T", 3, 4, 4, 37, 37, 32, true, false, true, false},
                                           InCase{"gqa_noncausal_hd64", 2, 4, 2, 50, 50, 64, false, false, true, false},
                                           InCase{"prefill_gqa", 2, 4, 1, 20, 45, 32, true, false, false, false},
                                           InCase{"prior_T48", 2, 4, 2, 48, 48, 32, true, true, true, false},
                                           InCase{"misaligned", 2, 2, 2, 33, 33, 32, true, false, true, true}),
                         [](const auto& info) { return info.param.name; });

// Where the kernel would not round q, k, v to bf16 itself it takes no bf16 inputs.
TEST(Bf16Inputs, RefusedWhereTheProductsAreNotBf16) {
  const auto args_for = [](int64_t T, int64_t D, std::vector<uint16_t>& in, std::vector<float>& out, DType dt) {
    const InCase c{"x", 1, 2, 2, T, T, D, true, false, true, false};
    ops::AttentionArgs a;
    input_views(c, in, 0, dt, a);
    out.assign(static_cast<size_t>(2 * T * D + 2 * T), 0.f);
    a.o = Tensor(out.data(), {1, 2, T, D}), a.lse = Tensor(out.data() + 2 * T * D, {1, 2, T});
    a.scale = 0.125f;
    return a;
  };
  std::vector<uint16_t> in;
  std::vector<float> out;
  {
    const cpu::GemmPrecisionScope fp32(cpu::GemmPrecision::fp32);
    EXPECT_FALSE(ops::attention_takes_bf16(args_for(64, 32, in, out, DType::bf16))) << "fp32 GEMM precision";
  }
  const cpu::GemmPrecisionScope bf16(cpu::GemmPrecision::bf16);
  EXPECT_FALSE(ops::attention_takes_bf16(args_for(64, 48, in, out, DType::bf16))) << "head dim 48";
  EXPECT_FALSE(ops::attention_takes_bf16(args_for(300, 32, in, out, DType::bf16))) << "T past the short path";
  ops::AttentionArgs a = args_for(64, 48, in, out, DType::bf16);
  EXPECT_THROW(ops::attention_forward(a), Error);
  a = args_for(64, 32, in, out, DType::bf16);
  std::vector<float> ent(2 * 64);
  a.diag.entropy = ent.data();
  EXPECT_FALSE(ops::attention_takes_bf16(a)) << "diagnostics";
  EXPECT_THROW(ops::attention_forward(a), Error);
  if (cpu::attn::amx_ready()) {
    EXPECT_TRUE(ops::attention_takes_bf16(args_for(64, 32, in, out, DType::bf16)));
  }
}

}  // namespace
}  // namespace goat::test
