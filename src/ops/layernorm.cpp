// layernorm: checks shapes/dtypes/devices and dispatches to backend/cpu/layernorm.h, or to
// backend/cuda/cuda_ops.h for CUDA tensors (activations and weights f32 or bf16, mean/rstd and
// d_weight/d_bias f32). in/out (..., C) contiguous; mean/rstd hold one value per row.
#include "ops/layernorm.h"

#include "backend/cpu/layernorm.h"
#include "backend/cuda/cuda_ops.h"
#include "core/op_profile.h"
#include "ops/op_args.h"

namespace goat::ops {

namespace {

constexpr const char* kOp = "layernorm";

struct Rows {
  int64_t n, c;
};

// Checks x (..., C) contiguous f32, a tensor of x's shape, weight/bias (C) and the (N) stats.
Rows check_ln(const Tensor& x, const char* x_name, const Tensor& weight, const Tensor& bias, const Tensor& mean,
              const Tensor& rstd, DType act) {
  require_contiguous(kOp, x_name, x, act);
  GOAT_CHECK(x.ndim() >= 1, kOp, "expected {} to be (..., C), got {}", x_name, x.shape.str());
  const int64_t c = x.size(-1), n = c ? x.numel() / c : 0;
  for (const auto& [t, name] : {std::pair{&weight, "weight"}, std::pair{&bias, "bias"}}) {
    if (!present(*t)) continue;
    require_contiguous(kOp, name, *t, act);
    check_shape(kOp, name, *t, Shape{c});
  }
  for (const auto& [t, name] : {std::pair{&mean, "mean"}, std::pair{&rstd, "rstd"}}) {
    require_contiguous_f32(kOp, name, *t);
    GOAT_CHECK(t->numel() == n, kOp, "expected {} to hold {} rows, got {}", name, n, t->shape.str());
  }
  return {n, c};
}

void check_like(const Tensor& t, const char* name, const Tensor& like, DType dt) {
  require_contiguous(kOp, name, t, dt);
  check_shape(kOp, name, t, like.shape);
}

}  // namespace

void layernorm_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& in,
                       const Tensor& weight, const Tensor& bias) {
  const OpTimer timer("layernorm.forward");
  const bool cuda = on_cuda(kOp, {&out, &mean, &rstd, &in, &weight, &bias});
  const DType act = act_dtype(in, cuda);
  GOAT_CHECK(present(weight) && present(bias), kOp, "weight and bias are required");
  const Rows r = check_ln(in, "in", weight, bias, mean, rstd, act);
  check_like(out, "out", in, cpu_bf16_or(out, cuda, act));
  if (cuda)
    return cuda::layernorm_forward(out.data, mean.f32(), rstd.f32(), in.data, weight.data, bias.data, nullptr, nullptr,
                                   nullptr, r.n, r.c, kLayerNormEps, act);
  if (out.dtype == DType::bf16)
    return cpu::layernorm_forward_bf16(bf16_bits(out), mean.f32(), rstd.f32(), in.f32(), weight.f32(), bias.f32(), r.n,
                                       r.c, kLayerNormEps);
  cpu::layernorm_forward(out.f32(), mean.f32(), rstd.f32(), in.f32(), weight.f32(), bias.f32(), r.n, r.c,
                         kLayerNormEps);
}

void layernorm_backward(const Tensor& d_in, const Tensor& d_weight, const Tensor& d_bias, const Tensor& d_out,
                        const Tensor& in, const Tensor& weight, const Tensor& mean, const Tensor& rstd,
                        const Tensor& d_in_bf16, const Tensor& d_in_col_sum) {
  const OpTimer timer("layernorm.backward");
  const bool cuda = on_cuda(kOp, {&d_in, &d_weight, &d_bias, &d_out, &in, &weight, &mean, &rstd});
  const bool round = present(d_in_bf16);
  GOAT_CHECK(round == present(d_in_col_sum), kOp, "d_in_bf16 and d_in_col_sum come together (got {} and {})",
             round ? "d_in_bf16" : "no d_in_bf16", present(d_in_col_sum) ? "d_in_col_sum" : "no d_in_col_sum");
  if (round) {
    require_cpu(kOp, {&d_in_bf16, &d_in_col_sum});
    GOAT_CHECK(!cuda, kOp, "d_in_bf16 / d_in_col_sum: CPU tensors only");
    check_like(d_in_bf16, "d_in_bf16", d_in, DType::bf16);
    require_contiguous_f32(kOp, "d_in_col_sum", d_in_col_sum);
    check_shape(kOp, "d_in_col_sum", d_in_col_sum, Shape{d_in.size(-1)});
  }
  const DType act = act_dtype(in, cuda);
  GOAT_CHECK(present(weight), kOp, "weight is required");
  const Rows r = check_ln(in, "in", weight, Tensor(), mean, rstd, act);
  check_like(d_in, "d_in", in, act);
  check_like(d_out, "d_out", in, cpu_bf16_or(d_out, cuda, act));
  for (const auto& [t, name] : {std::pair{&d_weight, "d_weight"}, std::pair{&d_bias, "d_bias"}})
    if (present(*t)) check_like(*t, name, weight, DType::f32);
  if (cuda)
    return cuda::layernorm_backward(d_in.data, present(d_weight) ? d_weight.f32() : nullptr,
                                    present(d_bias) ? d_bias.f32() : nullptr, d_out.data, in.data, weight.data,
                                    mean.f32(), rstd.f32(), r.n, r.c, act);
  float* const dw = present(d_weight) ? d_weight.f32() : nullptr;
  float* const db = present(d_bias) ? d_bias.f32() : nullptr;
  uint16_t* const d16 = round ? bf16_bits(d_in_bf16) : nullptr;
  float* const dsum = round ? d_in_col_sum.f32() : nullptr;
  if (d_out.dtype == DType::bf16)
    return cpu::layernorm_backward(d_in.f32(), dw, db, bf16_bits(d_out), in.f32(), weight.f32(), mean.f32(),
                                   rstd.f32(), r.n, r.c, d16, dsum);
  cpu::layernorm_backward(d_in.f32(), dw, db, d_out.f32(), in.f32(), weight.f32(), mean.f32(), rstd.f32(), r.n, r.c,
                          d16, dsum);
}

void residual_layernorm_forward(const Tensor& residual, const Tensor& out, const Tensor& mean, const Tensor& rstd,
                                const Tensor& a, const Tensor& b, const Tensor& weight, const Tensor& bias) {
  const OpTimer timer("residual_layernorm.forward");
  const bool cuda = on_cuda(kOp, {&residual, &out, &mean, &rstd, &a, &b, &weight, &bias});
  const DType act = act_dtype(a, cuda);
  GOAT_CHECK(present(weight) && present(bias), kOp, "weight and bias are required");
  const Rows r = check_ln(a, "a", weight, bias, mean, rstd, act);
  check_like(b, "b", a, act);
  check_like(residual, "residual", a, act);
  check_like(out, "out", a, cpu_bf16_or(out, cuda, act));
  if (cuda)
    return cuda::layernorm_forward(out.data, mean.f32(), rstd.f32(), nullptr, weight.data, bias.data, residual.data,
                                   a.data, b.data, r.n, r.c, kLayerNormEps, act);
  if (out.dtype == DType::bf16)
    return cpu::residual_layernorm_forward_bf16(residual.f32(), bf16_bits(out), mean.f32(), rstd.f32(), a.f32(),
                                                b.f32(), weight.f32(), bias.f32(), r.n, r.c, kLayerNormEps);
  cpu::residual_layernorm_forward(residual.f32(), out.f32(), mean.f32(), rstd.f32(), a.f32(), b.f32(), weight.f32(),
                                  bias.f32(), r.n, r.c, kLayerNormEps);
}

}  // namespace goat::ops
