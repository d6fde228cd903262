// Attention cases of the CUDA op-case table: causal with Tq = Tk and Tq < Tk (queries at the end),
// grouped kv heads, the prior hook (slope and key bias) and its gradients, and a non-causal case
// without a prior. (Strided q/k/v views are exercised on the CPU side only, tests/ops.)
#include <cmath>

#include "cuda_case.h"
#include "ops/attention.h"

namespace goat::cuda_test {

namespace {

struct Dims {
  int64_t b, h, hkv, tq, tk, d;
  bool causal, prior;
};

// Args: q, k, v, slope, key_bias, o, lse [, d_o, dq, dk, dv, d_key_bias, d_slope]
CudaCase make_case(const std::string& name, Dims m, bool backward) {
  CudaCase c;
  c.name = name;
  c.args = attention_forward_args(m.b, m.h, m.hkv, m.tq, m.tk, m.d);
  if (backward) {
    c.args.push_back({"d_o", {m.b, m.h, m.tq, m.d}});
    c.args.push_back({"dq", {m.b, m.h, m.tq, m.d}, Kind::act, Role::out});
    c.args.push_back({"dk", {m.b, m.hkv, m.tk, m.d}, Kind::act, Role::out});
    c.args.push_back({"dv", {m.b, m.hkv, m.tk, m.d}, Kind::act, Role::out});
    c.args.push_back({"d_key_bias", {m.b, m.hkv, m.tk}, Kind::f32, Role::out});
    c.args.push_back({"d_slope", {m.hkv}, Kind::f32, Role::out});
  }
  c.reduction = std::max(m.tk, m.d) * (backward ? m.b * m.tq * (m.h / m.hkv) : 1);
  const float scale = 1.f / std::sqrt(static_cast<float>(m.d));
  c.run = [m, backward, scale](const CaseEnv& e) {
    ops::AttentionArgs a;
    a.q = e.t[0], a.k = e.t[1], a.v = e.t[2], a.o = e.t[5], a.lse = e.t[6];
    a.scale = scale;
    a.causal = m.causal;
    if (m.prior) a.prior.slope = e.t[3].f32(), a.prior.key_bias = e.t[4].f32();
    ops::attention_forward(a);
    if (!backward) return 0.0;
    ops::AttentionGrads g;
    g.dq = e.t[8], g.dk = e.t[9], g.dv = e.t[10];
    if (m.prior) g.d_key_bias = e.t[11].f32(), g.d_slope = e.t[12].f32();
    ops::attention_backward(a, e.t[7], g);
    return 0.0;
  };
  if (backward && !m.prior) c.args.resize(11);  // no prior gradients to compare
  return c;
}

}  // namespace

std::vector<ArgSpec> attention_forward_args(int64_t b, int64_t h, int64_t hkv, int64_t tq, int64_t tk, int64_t d) {
  return {{"q", {b, h, tq, d}},
          {"k", {b, hkv, tk, d}},
          {"v", {b, hkv, tk, d}},
          {"slope", {hkv}, Kind::f32, Role::in, 0.2f, true},
          {"key_bias", {b, hkv, tk}, Kind::f32},
          {"o", {b, h, tq, d}, Kind::act, Role::out},
          {"lse", {b, h, tq}, Kind::f32, Role::out}};
}

std::vector<CudaCase> make_attention_cases() {
  std::vector<CudaCase> v;
  const Dims base{2, 2, 1, 9, 9, 8, true, true};
  for (bool bwd : {false, true}) {
    const std::string dir = bwd ? "attention_backward/" : "attention_forward/";
    v.push_back(make_case(dir + "causal_gqa_prior", base, bwd));
    v.push_back(make_case(dir + "causal_tq_lt_tk", {1, 2, 2, 5, 12, 16, true, true}, bwd));
    v.push_back(make_case(dir + "noncausal_noprior", {1, 1, 1, 7, 7, 5, false, false}, bwd));
  }
  return v;
}

}  // namespace goat::cuda_test
