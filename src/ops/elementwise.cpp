// Elementwise ops: check that all operands share one shape and are contiguous f32 on the CPU,
// then call backend/cpu/elementwise.h over the flat span.
#include "ops/elementwise.h"

#include "backend/cpu/elementwise.h"
#include "ops/op_args.h"

namespace goat::ops {

namespace {

void check_same(const char* op, const Tensor& ref, const char* ref_name,
                std::initializer_list<std::pair<const Tensor*, const char*>> others) {
  require_contiguous_f32(op, ref_name, ref);
  for (const auto& [t, name] : others) {
    require_contiguous_f32(op, name, *t);
    check_shape(op, name, *t, ref.shape);
  }
}

}  // namespace

void gelu_forward(const Tensor& out, const Tensor& in) {
  require_cpu("gelu", {&out, &in});
  check_same("gelu", in, "in", {{&out, "out"}});
  cpu::gelu_forward(out.f32(), in.f32(), in.numel());
}

void gelu_backward(const Tensor& d_in, const Tensor& d_out, const Tensor& in) {
  require_cpu("gelu", {&d_in, &d_out, &in});
  check_same("gelu", in, "in", {{&d_in, "d_in"}, {&d_out, "d_out"}});
  cpu::gelu_backward(d_in.f32(), d_out.f32(), in.f32(), in.numel());
}

void add_forward(const Tensor& out, const Tensor& a, const Tensor& b) {
  require_cpu("add", {&out, &a, &b});
  check_same("add", a, "a", {{&b, "b"}, {&out, "out"}});
  cpu::add_forward(out.f32(), a.f32(), b.f32(), a.numel());
}

}  // namespace goat::ops
