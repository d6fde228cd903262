// Attention in the shared op-case table (op_harness.h): forward (o, and the saved lse) against the
// fp64 naive reference, backward for q, k, v, key bias and slope against finite differences of
// the reference, guard canaries around every buffer. Odd lengths, GQA, decode (Tq < Tk),
// non-causal; the deeper attention tests are in test_attention.cpp.
#include <fmt/format.h>

#include <cmath>

#include "op_harness.h"
#include "ops/attention.h"
#include "ops/test_attention_ref.h"

namespace goat::test {
namespace {

OpCase attention_case(int64_t b, int64_t h, int64_t hkv, int64_t tq, int64_t tk, int64_t d, bool causal, bool prior) {
  OpCase c;
  c.name = fmt::format("attention/B{}_H{}_Hkv{}_Tq{}_Tk{}_D{}{}{}", b, h, hkv, tq, tk, d, causal ? "" : "_full",
                       prior ? "_prior" : "");
  c.inputs = {{"q", {b, h, tq, d}, gen_normal(1.2f), Grad::overwrite},
              {"k", {b, hkv, tk, d}, gen_normal(1.2f), Grad::overwrite},
              {"v", {b, hkv, tk, d}, gen_normal(), Grad::overwrite}};
  if (prior) {
    c.inputs.push_back({"key_bias", {b, hkv, tk}, gen_normal(1.5f), Grad::overwrite});
    c.inputs.push_back({"slope", {hkv}, gen_uniform(0.05f, 0.5f), Grad::overwrite});
  }
  c.outputs = {{"o", {b, h, tq, d}}, {"lse", {b, h, tq}, false}};
  const float scale = 1.f / std::sqrt(static_cast<float>(d));
  const auto args = [=](const OpBuffers& x) {
    ops::AttentionArgs a;
    a.q = x.in(0), a.k = x.in(1), a.v = x.in(2), a.o = x.out(0), a.lse = x.out(1);
    a.scale = scale, a.causal = causal;
    if (prior) a.prior.key_bias = x.in(3).f32(), a.prior.slope = x.in(4).f32();
    return a;
  };
  c.forward = [=](const OpBuffers& x) { ops::attention_forward(args(x)); };
  c.backward = [=](const OpBuffers& x) {
    ops::AttentionGrads g;
    g.dq = x.grad(0), g.dk = x.grad(1), g.dv = x.grad(2);
    if (prior) g.d_key_bias = x.grad(3).f32(), g.d_slope = x.grad(4).f32();
    ops::attention_backward(args(x), x.d_out(0), g);
  };
  c.reference = [=](const Vecs& in, Vecs& out) {
    RefProblem P;
    P.B = b, P.H = h, P.Hkv = hkv, P.Tq = tq, P.Tk = tk, P.D = d, P.causal = causal, P.scale = scale;
    P.q = in[0], P.k = in[1], P.v = in[2];
    if (prior) P.kb = in[3], P.slope = in[4];
    const RefOut<double> r = ref_forward<double>(P);
    out[0] = r.o, out[1] = r.lse;
  };
  c.reduction = tk + d;
  c.reduction_bwd = b * (h / hkv) * tq + tk + d;  // d_slope sums over batch, group, rows and keys
  return c;
}

std::vector<OpCase> make_attention_cases() {
  return {attention_case(1, 1, 1, 1, 1, 8, true, false),   attention_case(2, 2, 2, 7, 7, 16, true, true),
          attention_case(1, 2, 1, 65, 65, 16, true, true), attention_case(1, 4, 2, 1, 70, 16, true, true),
          attention_case(1, 2, 2, 5, 33, 7, true, false),  attention_case(2, 2, 1, 9, 13, 16, false, true)};
}

const bool registered = register_op_cases("attention", &make_attention_cases);

}  // namespace
}  // namespace goat::test
