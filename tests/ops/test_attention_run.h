// Runs the attention op (forward + backward) on a RefProblem, in guarded fp32 buffers, either
// contiguous (B, H, T, D) tensors or strided views into a fused (B, T, (H + 2·Hkv)·D) qkv buffer
// as the model uses. Shared by the attention and GOAT tests.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "ops/attention.h"
#include "ops/test_attention_ref.h"

namespace goat::test {

// One attention test problem: shape, causal or not, ALiBi-style slope, key bias, fused qkv views.
struct AttnCase {
  std::string name;
  int64_t B, H, Hkv, Tq, Tk, D;
  bool causal, slope, kb, fused;
};

// Random q, k (×1.5), v; slopes 2^(−1−2h); key bias ×2; scale 1/√D.
inline RefProblem make_attn_problem(const AttnCase& c, uint64_t seed) {
  RefProblem P;
  P.B = c.B, P.H = c.H, P.Hkv = c.Hkv, P.Tq = c.Tq, P.Tk = c.Tk, P.D = c.D, P.causal = c.causal;
  P.scale = 1.0 / std::sqrt(static_cast<double>(c.D));
  P.q = random_vec(c.B * c.H * c.Tq * c.D, seed, 1.5);
  P.k = random_vec(c.B * c.Hkv * c.Tk * c.D, seed + 1, 1.5);
  P.v = random_vec(c.B * c.Hkv * c.Tk * c.D, seed + 2);
  if (c.slope) {
    P.slope.resize(c.Hkv);
    for (int64_t h = 0; h < c.Hkv; ++h) P.slope[h] = std::pow(2.0, -1.0 - 2.0 * h);
  }
  if (c.kb) P.kb = random_vec(c.B * c.Hkv * c.Tk, seed + 3, 2.0);
  return P;
}

// x rounded to bf16 (round to nearest even, as the kernels), elementwise for vectors.
inline double round_bf16(double x) {
  float f = static_cast<float>(x);
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline std::vector<double> rounded(std::vector<double> x) {
  for (double& v : x) v = round_bf16(v);
  return x;
}

struct KernelRun {
  std::vector<float> o, lse, dq, dk, dv, dkb, dslope;
  std::vector<float> entropy, sink, pmax, kl, omega;
  bool guards_ok = true;
};

inline std::vector<float> to_f32(const std::vector<double>& x) { return std::vector<float>(x.begin(), x.end()); }

// Copies a (B, N, T, D) contiguous array into / out of a strided (B, N, T, D) view.
inline void scatter(const std::vector<double>& src, const Tensor& t) {
  const int64_t B = t.size(0), N = t.size(1), T = t.size(2), D = t.size(3);
  float* p = t.f32();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < T; ++i)
        for (int64_t c = 0; c < D; ++c)
          p[b * t.strides[0] + n * t.strides[1] + i * t.strides[2] + c] =
              static_cast<float>(src[((b * N + n) * T + i) * D + c]);
}
inline std::vector<float> gather(const Tensor& t) {
  const int64_t B = t.size(0), N = t.size(1), T = t.size(2), D = t.size(3);
  std::vector<float> out(static_cast<size_t>(t.numel()));
  const float* p = t.f32();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < T; ++i)
        for (int64_t c = 0; c < D; ++c)
          out[((b * N + n) * T + i) * D + c] = p[b * t.strides[0] + n * t.strides[1] + i * t.strides[2] + c];
  return out;
}

// A (B, N, T, D) view at column offset `col` of a (B, T, width) buffer.
inline Tensor fused_view(float* base, int64_t B, int64_t N, int64_t T, int64_t D, int64_t width, int64_t col) {
  Tensor t(base + col, {B, N, T, D});
  t.strides = {T * width, D, width, 1, 0, 0};
  return t;
}

struct RunOptions {
  bool fused = false;  // views into a fused qkv buffer (needs Tq == Tk)
  bool backward = true;
  bool diag = false;
};

inline KernelRun run_attention(const RefProblem& P, const std::vector<double>& d_o, const RunOptions& opt = {}) {
  KernelRun r;
  const int64_t nq = P.B * P.H * P.Tq * P.D, nk = P.B * P.Hkv * P.Tk * P.D, rows = P.B * P.H * P.Tq;
  const int64_t width = (P.H + 2 * P.Hkv) * P.D;
  // Buffers: fused → one qkv and one dqkv; else one each.
  Guarded qkv(opt.fused ? P.B * P.Tk * width : 0), dqkv(opt.fused ? P.B * P.Tk * width : 0);
  Guarded qb(nq), kb(nk), vb(nk), dqb(nq, 1e30f), dkb(nk, 1e30f), dvb(nk, 1e30f);
  Guarded ob(nq, 1e30f), lseb(rows, 1e30f), dob(nq);
  Guarded kbias(P.kb.size()), slope(P.slope.size()), dkbias(P.kb.size(), 1e30f), dslope(P.slope.size(), 1e30f);
  Guarded ent(rows, 1e30f), sink(rows, 1e30f), pmax(rows, 1e30f), kl(rows, 1e30f), omega(rows, 1e30f);
  ops::AttentionArgs a;
  ops::AttentionGrads g;
  if (opt.fused) {
    a.q = fused_view(qkv.data(), P.B, P.H, P.Tq, P.D, width, 0);
    a.k = fused_view(qkv.data(), P.B, P.Hkv, P.Tk, P.D, width, P.H * P.D);
    a.v = fused_view(qkv.data(), P.B, P.Hkv, P.Tk, P.D, width, (P.H + P.Hkv) * P.D);
    g.dq = fused_view(dqkv.data(), P.B, P.H, P.Tq, P.D, width, 0);
    g.dk = fused_view(dqkv.data(), P.B, P.Hkv, P.Tk, P.D, width, P.H * P.D);
    g.dv = fused_view(dqkv.data(), P.B, P.Hkv, P.Tk, P.D, width, (P.H + P.Hkv) * P.D);
  } else {
    a.q = Tensor(qb.data(), {P.B, P.H, P.Tq, P.D});
    a.k = Tensor(kb.data(), {P.B, P.Hkv, P.Tk, P.D});
    a.v = Tensor(vb.data(), {P.B, P.Hkv, P.Tk, P.D});
    g.dq = Tensor(dqb.data(), {P.B, P.H, P.Tq, P.D});
    g.dk = Tensor(dkb.data(), {P.B, P.Hkv, P.Tk, P.D});
    g.dv = Tensor(dvb.data(), {P.B, P.Hkv, P.Tk, P.D});
  }
  scatter(P.q, a.q), scatter(P.k, a.k), scatter(P.v, a.v);
  a.o = Tensor(ob.data(), {P.B, P.H, P.Tq, P.D});
  a.lse = Tensor(lseb.data(), {P.B, P.H, P.Tq});
  a.scale = static_cast<float>(P.scale);
  a.causal = P.causal;
  for (size_t i = 0; i < P.kb.size(); ++i) kbias.data()[i] = static_cast<float>(P.kb[i]);
  for (size_t i = 0; i < P.slope.size(); ++i) slope.data()[i] = static_cast<float>(P.slope[i]);
  if (!P.kb.empty()) a.prior.key_bias = kbias.data(), g.d_key_bias = dkbias.data();
  if (!P.slope.empty()) a.prior.slope = slope.data(), g.d_slope = dslope.data();
  if (opt.diag) {
    a.diag.entropy = ent.data(), a.diag.sink_mass = sink.data(), a.diag.p_max = pmax.data();
    a.diag.kl = kl.data(), a.diag.omega = omega.data(), a.diag.content_dim = P.content_dim;
  }
  ops::attention_forward(a);
  r.o = gather(a.o);
  r.lse.assign(lseb.data(), lseb.data() + rows);
  if (opt.diag) {
    r.entropy.assign(ent.data(), ent.data() + rows), r.sink.assign(sink.data(), sink.data() + rows);
    r.pmax.assign(pmax.data(), pmax.data() + rows), r.kl.assign(kl.data(), kl.data() + rows);
    r.omega.assign(omega.data(), omega.data() + rows);
  }
  if (opt.backward) {
    Tensor dot(dob.data(), {P.B, P.H, P.Tq, P.D});
    scatter(d_o, dot);
    ops::attention_backward(a, dot, g);
    r.dq = gather(g.dq), r.dk = gather(g.dk), r.dv = gather(g.dv);
    r.dkb.assign(dkbias.data(), dkbias.data() + dkbias.size());
    r.dslope.assign(dslope.data(), dslope.data() + dslope.size());
  }
  for (const Guarded* b : {&qkv, &dqkv,  &qb,    &kb,     &vb,     &dqb, &dkb,  &dvb,  &ob, &lseb,
                           &dob, &kbias, &slope, &dkbias, &dslope, &ent, &sink, &pmax, &kl, &omega})
    r.guards_ok = r.guards_ok && b->guards_intact();
  return r;
}

}  // namespace goat::test
