// linear: checks shapes/dtypes/devices and dispatches to the CPU kernel (backend/cpu/linear.h) or
// the CUDA backend (in/out/weight/bias f32 or bf16, d_weight/d_bias f32).
// in/out (and d_in/d_out) may be any (..., C) views whose leading dims collapse into rows.
#include "ops/linear.h"

#include "backend/cpu/elementwise.h"
#include "backend/cpu/gemm_bf16.h"
#include "backend/cpu/linear.h"
#include "backend/cuda/cuda_ops.h"
#include "core/op_profile.h"
#include "ops/elementwise.h"
#include "ops/op_args.h"

namespace goat::ops {

namespace {

constexpr const char* kOp = "linear";

// in (..., Cin), out (..., Cout), weight (Cout, Cin), bias (Cout) or absent.
cpu::LinearDims check_linear(const Tensor& in, const MatView& x, const Tensor& out, const char* out_name,
                             const MatView& y, const Tensor& weight, const Tensor& bias, DType act, bool cuda) {
  require_contiguous(kOp, "weight", weight, cpu_bf16_or(weight, cuda, act));
  GOAT_CHECK(weight.ndim() == 2, kOp, "expected weight to be (Cout, Cin), got {}", weight.shape.str());
  const int64_t cout = weight.size(0), cin = weight.size(1);
  GOAT_CHECK(x.cols == cin, kOp, "expected in to be (..., {}), got {}", cin, in.shape.str());
  check_shape(kOp, out_name, out, with_last_dim(in.shape, cout));
  if (present(bias)) {
    require_contiguous(kOp, "bias", bias, act);
    check_shape(kOp, "bias", bias, Shape{cout});
  }
  return {x.rows, cin, cout, x.ld, y.ld};
}

// A CPU tensor as a bf16-GEMM operand / output (f32 or bf16 bits).
cpu::Operand operand(const Tensor& t, const void* p) { return {p, t.dtype == DType::bf16}; }
bool any_bf16(std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts)
    if (t->dtype == DType::bf16) return true;
  return false;
}
// The CPU fp32 path of the GELU layer: all operands f32 on the CPU and GEMM precision not bf16.
bool cpu_fp32(const Tensor& a, const Tensor& b, const Tensor& in, const Tensor& weight) {
  for (const Tensor* t : {&a, &b, &in, &weight})
    if (t->device != Device::cpu || t->dtype != DType::f32) return false;
  return cpu::gemm_precision() != cpu::GemmPrecision::bf16;
}

}  // namespace

void linear_forward(const Tensor& out, const Tensor& in, const Tensor& weight, const Tensor& bias) {
  const OpTimer timer("linear.forward");
  const bool cuda = on_cuda(kOp, {&out, &in, &weight, &bias});
  const DType act = act_dtype(in, cuda);
  const MatView x = as_matrix(kOp, "in", in, cpu_bf16_or(in, cuda, act)),
                y = as_matrix(kOp, "out", out, cpu_bf16_or(out, cuda, act));
  const cpu::LinearDims d = check_linear(in, x, out, "out", y, weight, bias, act, cuda);
  if (cuda)
    return cuda::linear_forward(y.ptr, y.ld, x.ptr, x.ld, weight.data, present(bias) ? bias.data : nullptr, d.n, d.cin,
                                d.cout, act);
  if (any_bf16({&in, &out, &weight}))  // the CPU bf16 model's rounded operands: bf16 GEMM
    return cpu::linear_forward_bf16(d, cpu::Output{y.ptr, out.dtype == DType::bf16}, operand(in, x.ptr),
                                    operand(weight, weight.data), present(bias) ? bias.f32() : nullptr);
  cpu::linear_forward(d, y.data, x.data, weight.f32(), present(bias) ? bias.f32() : nullptr);
}

bool linear_forward_gelu(const Tensor& out, const Tensor& gelu_out, const Tensor& in, const Tensor& weight,
                         const Tensor& bias, bool keep_grad) {
  if (out.device != Device::cpu || out.dtype != DType::bf16 || gelu_out.dtype != DType::bf16) {
    linear_forward(out, in, weight, bias);
    if (!keep_grad || !cpu_fp32(out, gelu_out, in, weight)) {
      gelu_forward(gelu_out, out);
      return false;
    }
    const OpTimer timer("gelu.forward");
    require_contiguous(kOp, "out", out, DType::f32);
    require_contiguous(kOp, "gelu_out", gelu_out, DType::f32);
    check_shape(kOp, "gelu_out", gelu_out, out.shape);
    cpu::gelu_forward_keep_grad(gelu_out.f32(), out.f32(), out.numel());
    return true;
  }
  const OpTimer timer("linear.forward");
  GOAT_CHECK(!on_cuda(kOp, {&out, &gelu_out, &in, &weight, &bias}), kOp, "expected all operands on the CPU");
  const DType act = act_dtype(in, false);
  const MatView x = as_matrix(kOp, "in", in, cpu_bf16_or(in, false, act)), y = as_matrix(kOp, "out", out, DType::bf16);
  const cpu::LinearDims d = check_linear(in, x, out, "out", y, weight, bias, act, false);
  check_shape(kOp, "gelu_out", gelu_out, out.shape);
  const MatView g = as_matrix(kOp, "gelu_out", gelu_out, DType::bf16);
  GOAT_CHECK(g.ld == y.ld, kOp, "expected gelu_out row stride {} to equal out's {}", g.ld, y.ld);
  cpu::linear_forward_gelu_bf16(d, static_cast<uint16_t*>(y.ptr), static_cast<uint16_t*>(g.ptr), operand(in, x.ptr),
                                operand(weight, weight.data), present(bias) ? bias.f32() : nullptr);
  return false;
}

namespace {

// linear_backward_into_gelu's GELU: in = GELU(pre), pre's layer's bias gradient pre_bias.
struct IntoGelu {
  const Tensor& pre;
  const Tensor& pre_bias;
};

// linear_backward, with gelu_pre (CPU only) for linear_backward_gelu, with into_gelu (CPU bf16
// only) for linear_backward_into_gelu.
void backward(const Tensor& d_in, const Tensor& d_weight, const Tensor& d_bias, const Tensor& d_out, const Tensor& in,
              const Tensor& weight, bool accumulate_d_in, const Tensor* gelu_pre, const IntoGelu* into_gelu = nullptr) {
  const bool cuda = on_cuda(kOp, {&d_in, &d_weight, &d_bias, &d_out, &in, &weight});
  const DType act = act_dtype(in, cuda);
  const MatView x = as_matrix(kOp, "in", in, cpu_bf16_or(in, cuda, act)),
                dy = as_matrix(kOp, "d_out", d_out, cpu_bf16_or(d_out, cuda, act));
  const cpu::LinearDims d = check_linear(in, x, d_out, "d_out", dy, weight, Tensor(), act, cuda);
  const void* pre = nullptr;
  if (gelu_pre) {
    GOAT_CHECK(!cuda && gelu_pre->device == Device::cpu, kOp, "the fused GELU backward runs on the CPU only");
    check_shape(kOp, "pre", *gelu_pre, d_out.shape);
    const MatView pm = as_matrix(kOp, "pre", *gelu_pre, d_out.dtype);  // pre has d_act's dtype
    GOAT_CHECK(pm.ld == dy.ld, kOp, "expected pre row stride {} to equal d_act's {}", pm.ld, dy.ld);
    pre = pm.ptr;
  }
  float* dx = nullptr;
  void* dx_ptr = nullptr;
  if (present(d_in)) {
    const MatView dxm = as_matrix(kOp, "d_in", d_in, cpu_bf16_or(d_in, cuda, act));
    dx_ptr = dxm.ptr;
    check_shape(kOp, "d_in", d_in, in.shape);
    GOAT_CHECK(dxm.ld == x.ld, kOp, "expected d_in row stride {} to equal in's {}", dxm.ld, x.ld);
    dx = dxm.data;
  }
  float* dw = nullptr;
  if (present(d_weight)) {
    require_contiguous_f32(kOp, "d_weight", d_weight);
    check_shape(kOp, "d_weight", d_weight, weight.shape);
    dw = d_weight.f32();
  }
  float* db = nullptr;
  if (present(d_bias)) {
    require_contiguous_f32(kOp, "d_bias", d_bias);
    check_shape(kOp, "d_bias", d_bias, Shape{d.cout});
    db = d_bias.f32();
  }
  if (into_gelu) {
    GOAT_CHECK(!cuda && dx_ptr && d_in.dtype == DType::bf16, kOp,
               "the backward into GELU needs a bf16 d_in on the CPU, got {} on {}", dtype_name(d_in.dtype),
               cuda ? "CUDA" : "the CPU");
    check_shape(kOp, "pre", into_gelu->pre, in.shape);
    const MatView pm = as_matrix(kOp, "pre", into_gelu->pre, DType::bf16);
    GOAT_CHECK(pm.ld == x.ld, kOp, "expected pre row stride {} to equal d_in's {}", pm.ld, x.ld);
    require_contiguous_f32(kOp, "pre_bias", into_gelu->pre_bias);
    check_shape(kOp, "pre_bias", into_gelu->pre_bias, Shape{d.cin});
    return cpu::linear_backward_into_gelu_bf16(d, static_cast<uint16_t*>(dx_ptr), dw, db, operand(d_out, dy.ptr),
                                               operand(in, x.ptr), operand(weight, weight.data),
                                               static_cast<const uint16_t*>(pm.ptr), into_gelu->pre_bias.f32());
  }
  if (cuda)
    return cuda::linear_backward(dx_ptr, x.ld, dw, db, dy.ptr, dy.ld, x.ptr, x.ld, weight.data, d.n, d.cin, d.cout,
                                 accumulate_d_in, act);
  if (any_bf16({&d_in, &d_out, &in, &weight}))  // the CPU bf16 model's rounded operands: bf16 GEMMs
    return cpu::linear_backward_bf16(d, cpu::Output{dx_ptr, d_in.dtype == DType::bf16}, dw, db, operand(d_out, dy.ptr),
                                     operand(in, x.ptr), operand(weight, weight.data), accumulate_d_in,
                                     operand(d_out, pre));
  cpu::linear_backward(d, dx, dw, db, dy.data, x.data, weight.f32(), accumulate_d_in, static_cast<const float*>(pre));
}

}  // namespace

void linear_backward(const Tensor& d_in, const Tensor& d_weight, const Tensor& d_bias, const Tensor& d_out,
                     const Tensor& in, const Tensor& weight, bool accumulate_d_in) {
  const OpTimer timer("linear.backward");
  backward(d_in, d_weight, d_bias, d_out, in, weight, accumulate_d_in, nullptr);
}

void linear_backward_into_gelu(const Tensor& d_pre, const Tensor& d_weight, const Tensor& d_bias, const Tensor& d_out,
                               const Tensor& in, const Tensor& weight, const Tensor& pre, const Tensor& pre_bias) {
  const OpTimer timer("linear.backward");
  const IntoGelu into_gelu{pre, pre_bias};
  backward(d_pre, d_weight, d_bias, d_out, in, weight, false, nullptr, &into_gelu);
}

void linear_backward_gelu(const Tensor& d_in, const Tensor& d_weight, const Tensor& d_bias, const Tensor& d_act,
                          const Tensor& pre, const Tensor& in, const Tensor& weight, bool holds_grad) {
  // CUDA: two ops, GELU's backward in place, then the layer's. CPU fp32: GELU's backward in place
  // in one pass with d_bias's column sum, then the layer's GEMMs. CPU bf16 (GEMM precision or bf16
  // operands): fused into the rounding of d_out.
  // holds_grad: pre is gelu'(pre) (linear_forward_gelu's keep_grad), d_act ∘ pre in the same pass.
  GOAT_CHECK(!holds_grad || cpu_fp32(d_act, pre, in, weight), kOp,
             "backward with gelu' saved (holds_grad) runs on the CPU in fp32 only, as the forward that saved it");
  if (!holds_grad && on_cuda(kOp, {&d_act, &pre})) {
    gelu_backward(d_act, d_act, pre);
    return linear_backward(d_in, d_weight, d_bias, d_act, in, weight);
  }
  if (holds_grad || (cpu::gemm_precision() != cpu::GemmPrecision::bf16 && !any_bf16({&d_act, &pre, &in, &weight}))) {
    if (present(d_bias) || holds_grad) {
      const OpTimer timer("gelu.backward");
      require_contiguous(kOp, "d_act", d_act, DType::f32);
      require_contiguous(kOp, "pre", pre, DType::f32);
      check_shape(kOp, "pre", pre, d_act.shape);
      const int64_t cols = d_act.shape.ndim ? d_act.shape[-1] : 1, rows = cols ? d_act.numel() / cols : 0;
      if (present(d_bias)) {
        require_contiguous_f32(kOp, "d_bias", d_bias);
        check_shape(kOp, "d_bias", d_bias, Shape{cols});
        (holds_grad ? cpu::gelu_grad_backward_column_sum : cpu::gelu_backward_column_sum)(d_act.f32(), pre.f32(), rows,
                                                                                        cols, d_bias.f32());
      } else {
        cpu::gelu_grad_backward(d_act.f32(), pre.f32(), d_act.numel());
      }
    } else {
      gelu_backward(d_act, d_act, pre);
    }
    return linear_backward(d_in, d_weight, Tensor(), d_act, in, weight);
  }
  const OpTimer timer("linear.backward");
  backward(d_in, d_weight, d_bias, d_act, in, weight, false, &pre);
}

}  // namespace goat::ops
