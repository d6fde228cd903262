// fp64 reference of one GOAT attention layer (goat.md §2, §4), written independently of
// model/position_goat.cpp: the explicit T×T log-prior K_h(i, j) from positions and parameters,
// content-slice attention through the naive reference, and the prior-parameter gradients as the
// reductions of dS listed in goat.md §4. Templated on the scalar so the fp32 evaluation sets the
// computed tolerance. Plus the pipeline under test: GoatPosition::forward_qk → prior → the fused
// attention kernel (scale 1) → backward → backward_prior → backward_qk.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "core/arena.h"
#include "model/position_goat.h"
#include "ops/attention.h"
#include "ops/test_attention_run.h"

namespace goat::test {

struct GoatSpec {
  int64_t B = 1, H = 2, Hkv = 2, Tq = 8, Tk = 8, Dh = 32, R = 4, M = 4, train_len = 64;
  bool key_bias = true, causal = true;
  int64_t k_pos0 = 0;  // queries sit at the end: q_pos0 = k_pos0 + Tk − Tq
  int64_t q_pos0() const { return k_pos0 + Tk - Tq; }
  int64_t dp() const { return 2 * R + (key_bias ? 1 : 0); }
  int64_t dc() const { return Dh - dp(); }
  int64_t nx() const { return 2 * M + 2; }
};

// Prior parameters (per KV head), in the export names' order and layouts.
struct GoatParams {
  std::vector<double> a, b;             // (Hkv, R)
  std::vector<double> gain, bump, rho;  // (Hkv)
  std::vector<double> w1, b1, w2, b2;   // (4, 2M+2), (4), (1, 4), (1)
  std::vector<std::vector<double>*> all() { return {&a, &b, &gain, &bump, &rho, &w1, &b1, &w2, &b2}; }
};
inline const char* kGoatParamNames[] = {"lambda_sym",        "lambda_asym",         "sink_gain",
                                        "sink_bump",         "recency_slope_raw",   "key_bias.fc1.weight",
                                        "key_bias.fc1.bias", "key_bias.fc2.weight", "key_bias.fc2.bias"};

// Random parameters large enough that every term shapes the output.
inline GoatParams random_goat_params(const GoatSpec& s, uint64_t seed) {
  GoatParams p;
  p.a = random_vec(s.Hkv * s.R, seed, 0.5), p.b = random_vec(s.Hkv * s.R, seed + 1, 0.5);
  p.gain = random_vec(s.Hkv, seed + 2, 0.3), p.bump = random_vec(s.Hkv, seed + 3, 1.0);
  p.rho = random_vec(s.Hkv, seed + 4, 0.5);
  for (auto& g : p.gain) g += 1.0;
  for (auto& r : p.rho) r -= 2.0;  // softplus ≈ 0.05–0.3
  p.w1 = random_vec(4 * s.nx(), seed + 5, 0.5), p.b1 = random_vec(4, seed + 6, 0.3);
  p.w2 = random_vec(4, seed + 7, 0.7), p.b2 = random_vec(1, seed + 8, 0.3);
  if (!s.key_bias)
    p.gain.clear(), p.bump.clear(), p.rho.clear(), p.w1.clear(), p.b1.clear(), p.w2.clear(), p.b2.clear();
  for (auto* v : p.all())
    for (auto& x : *v) x = static_cast<float>(x);  // exactly representable in the fp32 arena
  return p;
}

struct GoatInputs {
  std::vector<double> q, k, v, d_o;  // raw projections (B, H, Tq, Dh), (B, Hkv, Tk, Dh) ×2; d_o (B, H, Tq, Dh)
};
inline GoatInputs random_goat_inputs(const GoatSpec& s, uint64_t seed) {
  GoatInputs in{random_vec(s.B * s.H * s.Tq * s.Dh, seed, 1.0), random_vec(s.B * s.Hkv * s.Tk * s.Dh, seed + 1, 1.0),
                random_vec(s.B * s.Hkv * s.Tk * s.Dh, seed + 2, 1.0),
                random_vec(s.B * s.H * s.Tq * s.Dh, seed + 3, 1.0)};
  for (auto* v : {&in.q, &in.k, &in.v, &in.d_o})
    for (auto& x : *v) x = static_cast<float>(x);
  return in;
}

template <class T>
struct GoatResult {
  std::vector<T> o, lse, dq, dk, dv;
  std::vector<std::vector<T>> grads;  // in kGoatParamNames order (empty vectors when absent)
};

// Frequencies 10000^(−r / max(n−1, 1)) and the sink MLP, in T.
template <class T>
T ref_freq(int64_t r, int64_t n) {
  return std::pow(T(10000), -T(r) / T(std::max<int64_t>(n - 1, 1)));
}
template <class T>
std::vector<T> ref_features(const GoatSpec& s, T t) {
  std::vector<T> x;
  for (int64_t m = 0; m < s.M; ++m) x.push_back(std::cos(ref_freq<T>(m, s.M) * t));
  for (int64_t m = 0; m < s.M; ++m) x.push_back(std::sin(ref_freq<T>(m, s.M) * t));
  x.push_back(t / T(s.train_len));
  x.push_back(std::log1p(t) / std::log1p(T(s.train_len)));
  return x;
}
template <class T>
T ref_softplus(T x) {
  return x > T(20) ? x : std::log1p(std::exp(x));
}
template <class T>
T ref_sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}
// MLP(x(t)) and its hidden pre-activations.
template <class T>
T ref_mlp(const GoatSpec& s, const GoatParams& p, T t, std::vector<T>* hidden = nullptr,
          std::vector<T>* x_out = nullptr) {
  const std::vector<T> x = ref_features<T>(s, t);
  T out = T(p.b2[0]);
  for (int64_t k = 0; k < 4; ++k) {
    T h = T(p.b1[k]);
    for (int64_t m = 0; m < s.nx(); ++m) h += T(p.w1[k * s.nx() + m]) * x[m];
    if (hidden) hidden->push_back(h);
    out += T(p.w2[k]) * h * ref_sigmoid(h);
  }
  if (x_out) *x_out = x;
  return out;
}
// u_h(t): the full key term of goat.md §2, recency included as softplus(rho)·t.
template <class T>
T ref_u(const GoatSpec& s, const GoatParams& p, int64_t hk, T t) {
  if (!s.key_bias) return 0;
  T u = T(p.gain[hk]) * ref_mlp<T>(s, p, t) + (t == 0 ? T(p.bump[hk]) : T(0));
  if (s.causal) u += ref_softplus(T(p.rho[hk])) * t;
  return u;
}
// K_h(i, j) = Σ_r a cos(w_r Δ) + b sin(w_r Δ) + u_h(t_j), Δ = t_i − t_j.
template <class T>
T ref_K(const GoatSpec& s, const GoatParams& p, int64_t hk, T ti, T tj) {
  T acc = ref_u<T>(s, p, hk, tj);
  for (int64_t r = 0; r < s.R; ++r) {
    const T w = ref_freq<T>(r, s.R);
    acc += T(p.a[hk * s.R + r]) * std::cos(w * (ti - tj)) + T(p.b[hk * s.R + r]) * std::sin(w * (ti - tj));
  }
  return acc;
}

// The reference problem: content slices (zero-padded to Dh so v keeps all dims), scale
// 1/sqrt(d_c), explicit bias K.
inline RefProblem goat_ref_problem(const GoatSpec& s, const GoatParams& p, const GoatInputs& in) {
  RefProblem P;
  P.B = s.B, P.H = s.H, P.Hkv = s.Hkv, P.Tq = s.Tq, P.Tk = s.Tk, P.D = s.Dh, P.causal = s.causal;
  P.scale = 1.0 / std::sqrt(static_cast<double>(s.dc()));
  P.q = in.q, P.k = in.k, P.v = in.v;
  for (size_t i = 0; i < P.q.size(); ++i)
    if (static_cast<int64_t>(i) % s.Dh >= s.dc()) P.q[i] = 0;
  for (size_t i = 0; i < P.k.size(); ++i)
    if (static_cast<int64_t>(i) % s.Dh >= s.dc()) P.k[i] = 0;
  P.bias.resize(s.B * s.H * s.Tq * s.Tk);
  const int64_t G = s.H / s.Hkv;
  for (int64_t h = 0; h < s.H; ++h)
    for (int64_t i = 0; i < s.Tq; ++i)
      for (int64_t j = 0; j < s.Tk; ++j) {
        const double K = ref_K<double>(s, p, h / G, double(s.q_pos0() + i), double(s.k_pos0 + j));
        for (int64_t b = 0; b < s.B; ++b) P.bias[((b * s.H + h) * s.Tq + i) * s.Tk + j] = K;
      }
  return P;
}

// Layer reference: outputs, input gradients and every prior-parameter gradient (goat.md §4).
template <class T>
GoatResult<T> goat_reference(const GoatSpec& s, const GoatParams& p, const GoatInputs& in) {
  const RefProblem P = goat_ref_problem(s, p, in);
  const RefOut<T> f = ref_forward<T>(P);
  const RefGrads<T> g = ref_backward<T>(P, in.d_o);
  GoatResult<T> r;
  r.o = f.o, r.lse = f.lse, r.dq = g.dq, r.dk = g.dk, r.dv = g.dv;
  for (size_t i = 0; i < r.dq.size(); ++i)
    if (static_cast<int64_t>(i) % s.Dh >= s.dc()) r.dq[i] = 0;
  for (size_t i = 0; i < r.dk.size(); ++i)
    if (static_cast<int64_t>(i) % s.Dh >= s.dc()) r.dk[i] = 0;
  const int64_t G = s.H / s.Hkv, nx = s.nx();
  r.grads.assign(9, {});
  std::vector<T> da(s.Hkv * s.R, 0), db(s.Hkv * s.R, 0), du(s.Hkv * s.Tk, 0);
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h)
      for (int64_t i = 0; i < s.Tq; ++i)
        for (int64_t j = 0; j < s.Tk; ++j) {
          const T ds = g.dz[((b * s.H + h) * s.Tq + i) * s.Tk + j];
          const T delta = T(s.q_pos0() + i) - T(s.k_pos0 + j);
          for (int64_t rr = 0; rr < s.R; ++rr) {
            const T w = ref_freq<T>(rr, s.R);
            da[h / G * s.R + rr] += ds * std::cos(w * delta);
            db[h / G * s.R + rr] += ds * std::sin(w * delta);
          }
          du[h / G * s.Tk + j] += ds;
        }
  r.grads[0] = da, r.grads[1] = db;
  if (!s.key_bias) return r;
  std::vector<T> dgain(s.Hkv, 0), dbump(s.Hkv, 0), drho(s.Hkv, 0), dw1(4 * nx, 0), db1(4, 0), dw2(4, 0), db2(1, 0);
  for (int64_t j = 0; j < s.Tk; ++j) {
    const T t = T(s.k_pos0 + j);
    std::vector<T> hid, x;
    const T mlp = ref_mlp<T>(s, p, t, &hid, &x);
    T gout = 0;
    for (int64_t hk = 0; hk < s.Hkv; ++hk) {
      const T d = du[hk * s.Tk + j];
      dgain[hk] += d * mlp;
      if (t == 0) dbump[hk] += d;
      if (s.causal) drho[hk] += ref_sigmoid(T(p.rho[hk])) * t * d;
      gout += d * T(p.gain[hk]);
    }
    db2[0] += gout;
    for (int64_t k = 0; k < 4; ++k) {
      const T sg = ref_sigmoid(hid[k]);
      dw2[k] += gout * hid[k] * sg;
      const T dh = gout * T(p.w2[k]) * sg * (T(1) + hid[k] * (T(1) - sg));
      db1[k] += dh;
      for (int64_t m = 0; m < nx; ++m) dw1[k * nx + m] += dh * x[m];
    }
  }
  r.grads[2] = dgain, r.grads[3] = dbump, r.grads[4] = drho, r.grads[5] = dw1, r.grads[6] = db1, r.grads[7] = dw2,
  r.grads[8] = db2;
  return r;
}

// L = Σ o · d_o of the fp64 reference, for finite differences.
inline double goat_ref_loss(const GoatSpec& s, const GoatParams& p, const GoatInputs& in) {
  const RefOut<double> f = ref_forward<double>(goat_ref_problem(s, p, in));
  double L = 0;
  for (size_t i = 0; i < f.o.size(); ++i) L += f.o[i] * in.d_o[i];
  return L;
}

// A GoatPosition with its parameter and gradient arenas.
struct GoatLayer {
  Arena params, grads;
  std::unique_ptr<PositionScheme> pos;
  GoatPosition* goat = nullptr;
  std::string prefix = "h.0.attn.";

  // Parameters from `p`, or the scheme's own init ("seeded" | "uniform") when p is null.
  GoatLayer(const GoatSpec& s, const GoatParams* p, const std::string& init = "seeded") {
    GoatConfig c;
    c.pos_rank = s.R, c.abs_rank = s.M, c.key_bias = s.key_bias, c.train_len = s.train_len, c.causal = s.causal;
    c.init = init;
    pos = make_goat_position(c, AttentionShape{s.H, s.Hkv, s.Dh, s.B, s.Tk});
    goat = dynamic_cast<GoatPosition*>(pos.get());
    pos->declare(params, prefix);
    params.allocate();
    grads = params.clone_layout();
    pos->init(params, Rng(1, RngPurpose::init));
    if (p) set(*p);
  }
  void set(const GoatParams& p) {
    GoatParams copy = p;
    const auto vals = copy.all();
    for (size_t i = 0; i < vals.size(); ++i) {
      if (vals[i]->empty()) continue;
      const Tensor t = params.view(prefix + kGoatParamNames[i]);
      for (int64_t e = 0; e < t.numel(); ++e) t.f32()[e] = static_cast<float>((*vals[i])[e]);
    }
  }
  // The current parameter values, as GoatParams.
  GoatParams get() const {
    GoatParams p;
    const auto vals = p.all();
    for (size_t i = 0; i < vals.size(); ++i) {
      if (params.index_of(prefix + kGoatParamNames[i]) < 0) continue;
      const Tensor t = params.view(prefix + kGoatParamNames[i]);
      vals[i]->assign(t.f32(), t.f32() + t.numel());
    }
    return p;
  }
  std::vector<float> grad(size_t i) const {
    if (params.index_of(prefix + kGoatParamNames[i]) < 0) return {};
    const Tensor t = grads.view(prefix + kGoatParamNames[i]);
    return std::vector<float>(t.f32(), t.f32() + t.numel());
  }
};

struct PipelineOptions {
  bool backward = true;
  ops::AttentionDiagnostics diag;
};

// The system under test. q/k buffers are modified in place by forward_qk, as in the model.
inline GoatResult<float> goat_pipeline(const GoatSpec& s, GoatLayer& layer, const GoatInputs& in,
                                       const PipelineOptions& opt = {}) {
  std::vector<float> q = to_f32(in.q), k = to_f32(in.k), v = to_f32(in.v), dout = to_f32(in.d_o);
  std::vector<float> o(q.size()), lse(s.B * s.H * s.Tq), dq(q.size()), dk(k.size()), dv(v.size());
  ops::AttentionArgs a;
  a.q = Tensor(q.data(), {s.B, s.H, s.Tq, s.Dh});
  a.k = Tensor(k.data(), {s.B, s.Hkv, s.Tk, s.Dh});
  a.v = Tensor(v.data(), {s.B, s.Hkv, s.Tk, s.Dh});
  a.o = Tensor(o.data(), {s.B, s.H, s.Tq, s.Dh});
  a.lse = Tensor(lse.data(), {s.B, s.H, s.Tq});
  a.causal = s.causal;
  a.diag = opt.diag;
  PositionScheme& pos = *layer.pos;
  pos.forward_qk(a.q, a.k, s.q_pos0(), s.k_pos0);
  a.scale = pos.score_scale();
  a.prior = pos.prior(s.B, s.Tk, s.k_pos0);
  ops::attention_forward(a);
  GoatResult<float> r;
  r.o = o, r.lse = lse;
  if (!opt.backward) return r;
  std::fill(static_cast<float*>(layer.grads.data()), static_cast<float*>(layer.grads.data()) + layer.grads.numel(),
            0.f);
  ops::AttentionGrads g = pos.prior_grad_buffers();
  g.dq = Tensor(dq.data(), a.q.shape), g.dk = Tensor(dk.data(), a.k.shape), g.dv = Tensor(dv.data(), a.v.shape);
  a.diag = {};
  ops::attention_backward(a, Tensor(dout.data(), a.o.shape), g);
  pos.backward_prior(layer.params, layer.grads, s.B, s.Tk, s.k_pos0);
  pos.backward_qk(g.dq, g.dk, s.q_pos0(), s.k_pos0, layer.grads);
  r.dq = dq, r.dk = dk, r.dv = dv;
  for (size_t i = 0; i < 9; ++i) r.grads.push_back(layer.grad(i));
  return r;
}

}  // namespace goat::test
