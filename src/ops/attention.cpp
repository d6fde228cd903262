// attention op: checks shapes, dtypes and layouts (errors name the bad value), fills the plain
// parameter struct and dispatches on device. CPU kernels: backend/cpu/attention_{forward,backward};
// CUDA (q/k/v/o and gradients f32 or bf16, lse and the prior fp32; diagnostics by a separate pass
// after the forward, into host arrays): backend/cuda.
#include "ops/attention.h"

#include <vector>

#include "backend/cpu/attention_kernel.h"
#include "backend/cpu/gemm_bf16.h"
#include "backend/cuda/cuda_ops.h"
#include "core/op_profile.h"
#include "ops/op_args.h"

namespace goat::ops {

namespace {

constexpr const char* kWhere = "attention";

void check_view(const char* name, const Tensor& t, const Shape& want, DType act = DType::f32) {
  check_shape(kWhere, name, t, want);
  GOAT_CHECK(t.dtype == act, kWhere, "{} must be {}, got {}", name, dtype_name(act), dtype_name(t.dtype));
  GOAT_CHECK(t.data != nullptr || t.numel() == 0, kWhere, "{} has no data", name);
  GOAT_CHECK(t.strides[3] == 1, kWhere, "{} must have a unit-stride last dim, got stride {}", name, t.strides[3]);
}

void copy_strides(const Tensor& t, int64_t (&s)[3]) {
  s[0] = t.strides[0];
  s[1] = t.strides[1];
  s[2] = t.strides[2];
}

// act: the dtype of q, k, v, o (CUDA f32 or bf16; CPU f32, where q, k, v and o may also be bf16:
// the bf16 inputs and output of cpu::bf16_inputs).
cpu::AttentionParams make_params(const AttentionArgs& a, DType act = DType::f32) {
  GOAT_CHECK(a.q.ndim() == 4 && a.k.ndim() == 4, kWhere, "q and k must be 4-D (B, H, T, D), got q {} k {}",
             a.q.shape.str(), a.k.shape.str());
  const int64_t B = a.q.size(0), H = a.q.size(1), Tq = a.q.size(2), D = a.q.size(3);
  const int64_t Hkv = a.k.size(1), Tk = a.k.size(2);
  GOAT_CHECK(Hkv > 0 && H % Hkv == 0, kWhere, "query heads H = {} must be a multiple of kv heads Hkv = {}", H, Hkv);
  GOAT_CHECK(D > 0, kWhere, "head dim must be positive, got {}", D);
  GOAT_CHECK(Tk >= 1 || Tq == 0, kWhere, "need at least one key, got Tk = {}", Tk);
  GOAT_CHECK(!a.causal || Tk >= Tq, kWhere, "causal attention needs Tk >= Tq (queries at the end), got Tq = {} Tk = {}",
             Tq, Tk);
  const DType in = a.q.device == Device::cpu && a.q.dtype == DType::bf16 ? DType::bf16 : act;
  check_view("q", a.q, {B, H, Tq, D}, in);
  check_view("k", a.k, {B, Hkv, Tk, D}, in);
  check_view("v", a.v, {B, Hkv, Tk, D}, in);
  const DType out = a.o.device == Device::cpu && a.o.dtype == DType::bf16 ? DType::bf16 : act;
  check_view("o", a.o, {B, H, Tq, D}, out);
  check_shape(kWhere, "lse", a.lse, {B, H, Tq});
  GOAT_CHECK(a.lse.contiguous() && a.lse.dtype == DType::f32, kWhere, "lse must be contiguous f32");
  GOAT_CHECK(a.diag.content_dim >= 0 && a.diag.content_dim <= D, kWhere, "diag.content_dim = {} outside [0, {}]",
             a.diag.content_dim, D);
  cpu::AttentionParams p;
  if (act == DType::f32 && in == DType::f32) p.q = a.q.f32(), p.k = a.k.f32(), p.v = a.v.f32();
  if (act == DType::f32 && in == DType::bf16)
    p.q16 = static_cast<const uint16_t*>(a.q.data), p.k16 = static_cast<const uint16_t*>(a.k.data),
    p.v16 = static_cast<const uint16_t*>(a.v.data);
  if (act == DType::f32 && out == DType::f32) p.o = a.o.f32();
  if (act == DType::f32 && out == DType::bf16) p.o16 = static_cast<uint16_t*>(a.o.data);
  p.lse = a.lse.f32();
  p.B = B, p.H = H, p.Hkv = Hkv, p.Tq = Tq, p.Tk = Tk, p.D = D;
  copy_strides(a.q, p.q_s), copy_strides(a.k, p.k_s), copy_strides(a.v, p.v_s), copy_strides(a.o, p.o_s);
  p.scale = a.scale, p.causal = a.causal;
  p.slope = a.prior.slope, p.key_bias = a.prior.key_bias;
  p.d_entropy = a.diag.entropy, p.d_sink = a.diag.sink_mass, p.d_pmax = a.diag.p_max;
  p.d_kl = a.diag.kl, p.d_omega = a.diag.omega;
  p.content_dim = a.diag.content_dim > 0 ? a.diag.content_dim : D;
  p.prior_shared_over_batch = a.diag.prior_shared_over_batch;
  // CPU dtype bf16 (the linear layers' GEMM precision): bf16 products on AMX where supported.
  p.bf16 = cpu::gemm_precision() == cpu::GemmPrecision::bf16;
  return p;
}

// CPU bf16 q, k, v or o: only where the kernel takes them (the caller asked attention_takes_bf16).
void check_bf16_inputs(const cpu::AttentionParams& p) {
  GOAT_CHECK((!p.q16 && !p.o16) || cpu::bf16_inputs(p), kWhere,
             "bf16 {} need the CPU bf16 attention's short path (GEMM precision bf16, AMX, head dim {} a multiple "
             "of 32, Tq {} <= Tk {} <= 256, no diagnostics): use f32",
             p.q16 ? "q, k, v" : "o", p.D, p.Tq, p.Tk);
}

// The CUDA descriptor of checked arguments (pointers and (b, h, t) strides).
cuda::AttentionDesc cuda_desc(const AttentionArgs& a, const cpu::AttentionParams& p) {
  cuda::AttentionDesc d;
  d.q = a.q.data, d.k = a.k.data, d.v = a.v.data, d.o = a.o.data, d.lse = p.lse;
  d.slope = p.slope, d.key_bias = p.key_bias;
  copy_strides(a.q, d.q_s), copy_strides(a.k, d.k_s), copy_strides(a.v, d.v_s), copy_strides(a.o, d.o_s);
  d.B = p.B, d.H = p.H, d.Hkv = p.Hkv, d.Tq = p.Tq, d.Tk = p.Tk, d.D = p.D, d.scale = p.scale, d.causal = p.causal;
  const AttentionLanes& l = a.prior.lanes;
  if (l.on) {
    d.lanes = true, d.lane_a = l.a, d.lane_b = l.b, d.lane_R = l.R, d.lane_dc = l.content_dim;
    d.k_pos0 = a.prior.pos_offset, d.q_pos0 = a.prior.pos_offset + p.Tk - p.Tq;  // queries at the end
  }
  return d;
}

bool attention_on_cuda(const AttentionArgs& a, std::initializer_list<const Tensor*> more) {
  std::vector<const Tensor*> ts = {&a.q, &a.k, &a.v, &a.o, &a.lse};
  ts.insert(ts.end(), more.begin(), more.end());
  bool cuda = false;
  for (const Tensor* t : ts) cuda |= present(*t) && t->device == Device::cuda;
  for (const Tensor* t : ts)
    GOAT_CHECK(!present(*t) || (t->device == Device::cuda) == cuda, kWhere,
               "device cuda not supported together with cpu tensors (mixed devices)");
  GOAT_CHECK(cuda || !a.prior.lanes.on, kWhere,
             "in-kernel GOAT lanes are a CUDA fused-kernel mode; on the cpu the position scheme folds them into q/k");
  return cuda;
}

}  // namespace

void attention_forward(const AttentionArgs& a) {
  const OpTimer timer("attention.forward");
  const bool cuda = attention_on_cuda(a, {});
  if (!cuda) {
    const cpu::AttentionParams p = make_params(a);
    check_bf16_inputs(p);
    return cpu::attention_forward(p);
  }
  const cpu::AttentionParams p = make_params(a, a.q.dtype);
  const cuda::AttentionDesc d = cuda_desc(a, p);
  cuda::attention_forward(d, a.q.dtype);
  if (!a.diag.any()) return;
  cuda::AttentionDiagHost out;
  out.entropy = a.diag.entropy, out.sink_mass = a.diag.sink_mass, out.p_max = a.diag.p_max;
  out.kl = a.diag.kl, out.omega = a.diag.omega, out.content_dim = p.content_dim;
  cuda::attention_diagnostics(d, out, a.q.dtype);
}

void attention_backward(const AttentionArgs& a, const Tensor& d_o, const AttentionGrads& g) {
  const OpTimer timer("attention.backward");
  const bool cuda = attention_on_cuda(a, {&d_o, &g.dq, &g.dk, &g.dv});
  const DType act = cuda ? a.q.dtype : DType::f32;
  cpu::AttentionParams p = make_params(a, act);
  check_view("d_o", d_o, a.o.shape, act);
  // CPU: the gradients f32 or bf16 (the bf16 model's in_proj d_out)
  const DType gdt = !cuda && g.dq.dtype == DType::bf16 ? DType::bf16 : act;
  check_view("dq", g.dq, a.q.shape, gdt);
  check_view("dk", g.dk, a.k.shape, gdt);
  check_view("dv", g.dv, a.v.shape, gdt);
  GOAT_CHECK(!g.dq_sum == !g.dk_sum && !g.dq_sum == !g.dv_sum, kWhere, "dq_sum, dk_sum, dv_sum: give all three or none");
  GOAT_CHECK(!cuda || !g.dq_sum, kWhere, "dq_sum, dk_sum, dv_sum are CPU-only (not supported on device cuda)");
  GOAT_CHECK(!g.d_key_bias || a.prior.key_bias, kWhere, "d_key_bias given without a key_bias");
  GOAT_CHECK(!g.d_slope || a.prior.slope, kWhere, "d_slope given without a slope");
  if (cuda) {
    cuda::AttentionDesc d = cuda_desc(a, p);
    d.d_o = d_o.data, d.dq = g.dq.data, d.dk = g.dk.data, d.dv = g.dv.data;
    copy_strides(d_o, d.do_s), copy_strides(g.dq, d.dq_s), copy_strides(g.dk, d.dk_s), copy_strides(g.dv, d.dv_s);
    d.d_key_bias = g.d_key_bias, d.d_slope = g.d_slope;
    d.d_lane_a = g.d_lane_a, d.d_lane_b = g.d_lane_b;
    return cuda::attention_backward(d, act);
  }
  p.d_entropy = p.d_sink = p.d_pmax = p.d_kl = p.d_omega = nullptr;
  check_bf16_inputs(p);
  cpu::AttentionBackwardParams b;
  b.d_o = d_o.f32();
  if (gdt == DType::bf16)
    b.dq16 = static_cast<uint16_t*>(g.dq.data), b.dk16 = static_cast<uint16_t*>(g.dk.data),
    b.dv16 = static_cast<uint16_t*>(g.dv.data);
  else
    b.dq = g.dq.f32(), b.dk = g.dk.f32(), b.dv = g.dv.f32();
  b.dq_sum = g.dq_sum, b.dk_sum = g.dk_sum, b.dv_sum = g.dv_sum;
  copy_strides(d_o, b.do_s), copy_strides(g.dq, b.dq_s), copy_strides(g.dk, b.dk_s), copy_strides(g.dv, b.dv_s);
  b.d_key_bias = g.d_key_bias, b.d_slope = g.d_slope;
  cpu::attention_backward(p, b);
}

bool attention_takes_bf16(const AttentionArgs& a) {
  return !attention_on_cuda(a, {}) && cpu::bf16_inputs(make_params(a));
}

double attention_forward_flops(int64_t b, int64_t h, int64_t tq, int64_t tk, int64_t d, bool causal) {
  const double f = 4.0 * static_cast<double>(b) * h * tq * tk * d;
  return causal && tq == tk ? 0.5 * f : f;
}

}  // namespace goat::ops
