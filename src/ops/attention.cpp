// attention op: checks shapes, dtypes and layouts (errors name the bad value), fills the plain
// parameter struct and dispatches on device. CPU kernels: backend/cpu/attention_{forward,backward}.
#include "ops/attention.h"

#include "backend/cpu/attention_kernel.h"

namespace goat::ops {

namespace {

constexpr const char* kWhere = "attention";

void check_view(const char* name, const Tensor& t, const Shape& want) {
  check_shape(kWhere, name, t, want);
  GOAT_CHECK(t.dtype == DType::f32, kWhere, "{} must be f32 on the CPU, got {}", name, dtype_name(t.dtype));
  GOAT_CHECK(t.device == Device::cpu, kWhere, "{} is on cuda: the CUDA attention is not built in this version", name);
  GOAT_CHECK(t.data != nullptr || t.numel() == 0, kWhere, "{} has no data", name);
  GOAT_CHECK(t.strides[3] == 1, kWhere, "{} must have a unit-stride last dim, got stride {}", name, t.strides[3]);
}

void copy_strides(const Tensor& t, int64_t (&s)[3]) {
  s[0] = t.strides[0];
  s[1] = t.strides[1];
  s[2] = t.strides[2];
}

cpu::AttentionParams make_params(const AttentionArgs& a) {
  GOAT_CHECK(a.q.ndim() == 4 && a.k.ndim() == 4, kWhere, "q and k must be 4-D (B, H, T, D), got q {} k {}",
             a.q.shape.str(), a.k.shape.str());
  const int64_t B = a.q.size(0), H = a.q.size(1), Tq = a.q.size(2), D = a.q.size(3);
  const int64_t Hkv = a.k.size(1), Tk = a.k.size(2);
  GOAT_CHECK(Hkv > 0 && H % Hkv == 0, kWhere, "query heads H = {} must be a multiple of kv heads Hkv = {}", H, Hkv);
  GOAT_CHECK(D > 0, kWhere, "head dim must be positive, got {}", D);
  GOAT_CHECK(Tk >= 1 || Tq == 0, kWhere, "need at least one key, got Tk = {}", Tk);
  GOAT_CHECK(!a.causal || Tk >= Tq, kWhere, "causal attention needs Tk >= Tq (queries at the end), got Tq = {} Tk = {}",
             Tq, Tk);
  check_view("q", a.q, {B, H, Tq, D});
  check_view("k", a.k, {B, Hkv, Tk, D});
  check_view("v", a.v, {B, Hkv, Tk, D});
  check_view("o", a.o, {B, H, Tq, D});
  check_shape(kWhere, "lse", a.lse, {B, H, Tq});
  GOAT_CHECK(a.lse.contiguous() && a.lse.dtype == DType::f32, kWhere, "lse must be contiguous f32");
  GOAT_CHECK(a.diag.content_dim >= 0 && a.diag.content_dim <= D, kWhere, "diag.content_dim = {} outside [0, {}]",
             a.diag.content_dim, D);
  cpu::AttentionParams p;
  p.q = a.q.f32(), p.k = a.k.f32(), p.v = a.v.f32(), p.o = a.o.f32(), p.lse = a.lse.f32();
  p.B = B, p.H = H, p.Hkv = Hkv, p.Tq = Tq, p.Tk = Tk, p.D = D;
  copy_strides(a.q, p.q_s), copy_strides(a.k, p.k_s), copy_strides(a.v, p.v_s), copy_strides(a.o, p.o_s);
  p.scale = a.scale, p.causal = a.causal;
  p.slope = a.prior.slope, p.key_bias = a.prior.key_bias;
  p.d_entropy = a.diag.entropy, p.d_sink = a.diag.sink_mass, p.d_pmax = a.diag.p_max;
  p.d_kl = a.diag.kl, p.d_omega = a.diag.omega;
  p.content_dim = a.diag.content_dim > 0 ? a.diag.content_dim : D;
  p.prior_shared_over_batch = a.diag.prior_shared_over_batch;
  return p;
}

}  // namespace

void attention_forward(const AttentionArgs& a) { cpu::attention_forward(make_params(a)); }

void attention_backward(const AttentionArgs& a, const Tensor& d_o, const AttentionGrads& g) {
  cpu::AttentionParams p = make_params(a);
  check_view("d_o", d_o, a.o.shape);
  check_view("dq", g.dq, a.q.shape);
  check_view("dk", g.dk, a.k.shape);
  check_view("dv", g.dv, a.v.shape);
  GOAT_CHECK(!g.d_key_bias || a.prior.key_bias, kWhere, "d_key_bias given without a key_bias");
  GOAT_CHECK(!g.d_slope || a.prior.slope, kWhere, "d_slope given without a slope");
  p.d_entropy = p.d_sink = p.d_pmax = p.d_kl = p.d_omega = nullptr;
  cpu::AttentionBackwardParams b;
  b.d_o = d_o.f32(), b.dq = g.dq.f32(), b.dk = g.dk.f32(), b.dv = g.dv.f32();
  copy_strides(d_o, b.do_s), copy_strides(g.dq, b.dq_s), copy_strides(g.dk, b.dk_s), copy_strides(g.dv, b.dv_s);
  b.d_key_bias = g.d_key_bias, b.d_slope = g.d_slope;
  cpu::attention_backward(p, b);
}

double attention_forward_flops(int64_t b, int64_t h, int64_t tq, int64_t tk, int64_t d, bool causal) {
  const double f = 4.0 * static_cast<double>(b) * h * tq * tk * d;
  return causal && tq == tk ? 0.5 * f : f;
}

}  // namespace goat::ops
