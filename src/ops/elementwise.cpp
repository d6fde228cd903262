// Elementwise ops: check that all operands share one shape and are contiguous (f32 on the CPU;
// f32 or bf16 on CUDA), then call backend/cpu/elementwise.h or backend/cuda over the flat span.
#include "ops/elementwise.h"

#include "backend/cpu/elementwise.h"
#include "backend/cpu/fill.h"
#include "backend/cuda/cuda_ops.h"
#include "core/op_profile.h"
#include "ops/op_args.h"

namespace goat::ops {

namespace {

void check_same(const char* op, const Tensor& ref, const char* ref_name,
                std::initializer_list<std::pair<const Tensor*, const char*>> others, DType act) {
  require_contiguous(op, ref_name, ref, act);
  for (const auto& [t, name] : others) {
    require_contiguous(op, name, *t, act);
    check_shape(op, name, *t, ref.shape);
  }
}

}  // namespace

void gelu_forward(const Tensor& out, const Tensor& in) {
  const OpTimer timer("gelu.forward");
  const bool cuda = on_cuda("gelu", {&out, &in});
  check_same("gelu", in, "in", {{&out, "out"}}, cpu_bf16_or(in, cuda, act_dtype(in, cuda)));
  if (cuda) return cuda::gelu_forward(out.data, in.data, in.numel(), in.dtype);
  if (in.dtype == DType::bf16) return cpu::gelu_forward_bf16(bf16_bits(out), bf16_bits(in), in.numel());
  cpu::gelu_forward(out.f32(), in.f32(), in.numel());
}

void gelu_backward(const Tensor& d_in, const Tensor& d_out, const Tensor& in) {
  const OpTimer timer("gelu.backward");
  const bool cuda = on_cuda("gelu", {&d_in, &d_out, &in});
  check_same("gelu", in, "in", {{&d_in, "d_in"}, {&d_out, "d_out"}}, act_dtype(in, cuda));
  if (cuda) return cuda::gelu_backward(d_in.data, d_out.data, in.data, in.numel(), in.dtype);
  cpu::gelu_backward(d_in.f32(), d_out.f32(), in.f32(), in.numel());
}

void add_forward(const Tensor& out, const Tensor& a, const Tensor& b) {
  const OpTimer timer("add.forward");
  const bool cuda = on_cuda("add", {&out, &a, &b});
  check_same("add", a, "a", {{&b, "b"}, {&out, "out"}}, act_dtype(a, cuda));
  if (cuda) return cuda::add_forward(out.data, a.data, b.data, a.numel(), a.dtype);
  cpu::add_forward(out.f32(), a.f32(), b.f32(), a.numel());
}

void round_to_bf16(const Tensor& dst, const Tensor& src) {
  const OpTimer timer("bf16.convert");
  require_cpu("round_to_bf16", {&dst, &src});
  require_contiguous("round_to_bf16", "src", src, DType::f32);
  require_contiguous("round_to_bf16", "dst", dst, DType::bf16);
  check_shape("round_to_bf16", "dst", dst, src.shape);
  cpu::round_to_bf16(bf16_bits(dst), src.f32(), src.numel());
}

void fill_zero(const Tensor& t) {
  const OpTimer timer("fill_zero");
  GOAT_CHECK(t.contiguous(), "fill_zero", "expected a contiguous tensor, got {}", t.shape.str());
  if (!present(t)) return;
  if (on_cuda("fill_zero", {&t})) return cuda::memset_zero(t.data, t.nbytes());
  cpu::fill_zero(t.data, t.nbytes());
}

}  // namespace goat::ops
