// position ops: checks shapes, dtypes and devices, then dispatches to backend/cpu/position.h or
// the CUDA backend (kernels/position.cuh).
#include "ops/position.h"

#include "backend/cpu/position.h"
#include "backend/cuda/cuda_ops.h"
#include "ops/op_args.h"

namespace goat::ops {

namespace {

cpu::HeadRows cpu_rows(const Tensor& t) {
  return {t.f32(), t.size(0), t.size(1), t.size(2), t.size(3), {t.strides[0], t.strides[1], t.strides[2]}};
}

cuda::HeadRows cuda_rows(const Tensor& t) {
  return {t.data, t.size(0), t.size(1), t.size(2), t.size(3), {t.strides[0], t.strides[1], t.strides[2]}};
}

void check_heads(const char* op, const char* name, const Tensor& t, DType act) {
  require_dtype(op, name, t, act);
  GOAT_CHECK(t.ndim() == 4 && (t.size(3) <= 1 || t.strides[3] == 1), op,
             "expected {} to be (B, H, T, D) with a unit-stride last dim, got {}", name, t.shape.str());
}

void check_table(const char* op, const char* name, const Tensor& t, int64_t min_rows, int64_t cols) {
  require_contiguous_f32(op, name, t);
  GOAT_CHECK(t.ndim() == 2 && t.size(0) >= min_rows && t.size(1) == cols, op,
             "expected {} to be (>= {}, {}), got {}", name, min_rows, cols, t.shape.str());
}

}  // namespace

void rope_rotate(const Tensor& x, const Tensor& cos, const Tensor& sin, int64_t pos0, float sign, bool interleaved) {
  constexpr const char* kOp = "rope";
  const bool cuda = on_cuda(kOp, {&x, &cos, &sin});
  check_heads(kOp, "x", x, act_dtype(x, cuda));
  GOAT_CHECK(x.size(3) % 2 == 0, kOp, "head dim must be even, got {}", x.size(3));
  GOAT_CHECK(pos0 >= 0, kOp, "pos0 must be >= 0, got {}", pos0);
  check_table(kOp, "cos", cos, pos0 + x.size(2), x.size(3) / 2);
  check_table(kOp, "sin", sin, pos0 + x.size(2), x.size(3) / 2);
  if (cuda) return cuda::rope_rotate(cuda_rows(x), cos.f32(), sin.f32(), pos0, sign, interleaved, x.dtype);
  cpu::rope_rotate(cpu_rows(x), cos.f32(), sin.f32(), pos0, sign, interleaved);
}

namespace {

constexpr const char* kGoat = "goat_lanes";

// Checks q (B, H, Tq, D), k (B, Hkv, Tk, D), a/b (Hkv, R), the q tables (Tq, R) and dc + 2R <= D.
int64_t check_goat(const Tensor& q, const Tensor& k, const Tensor& a, const Tensor& b, const Tensor& cq,
                   const Tensor& sq, int64_t dc, DType act) {
  check_heads(kGoat, "q", q, act);
  check_heads(kGoat, "k", k, act);
  const int64_t B = q.size(0), H = q.size(1), D = q.size(3), Hkv = k.size(1);
  GOAT_CHECK(Hkv > 0 && H % Hkv == 0 && k.size(0) == B && k.size(3) == D, kGoat,
             "q {} and k {} are not (B, H, Tq, D) and (B, Hkv, Tk, D) with Hkv | H", q.shape.str(), k.shape.str());
  require_contiguous_f32(kGoat, "a", a);
  GOAT_CHECK(a.ndim() == 2 && a.size(0) == Hkv, kGoat, "expected a to be ({}, R), got {}", Hkv, a.shape.str());
  const int64_t r = a.size(1);
  require_contiguous_f32(kGoat, "b", b);
  check_shape(kGoat, "b", b, a.shape);
  GOAT_CHECK(dc > 0 && dc + 2 * r <= D, kGoat, "content dims {} + 2·R = {} lanes exceed head dim {}", dc, 2 * r, D);
  check_table(kGoat, "cq", cq, q.size(2), r);
  check_table(kGoat, "sq", sq, q.size(2), r);
  return r;
}

}  // namespace

void goat_lanes_forward(const Tensor& q, const Tensor& k, const Tensor& a, const Tensor& b, const Tensor& cq,
                        const Tensor& sq, const Tensor& ck, const Tensor& sk, int64_t dc, float qscale) {
  const bool cuda = on_cuda(kGoat, {&q, &k, &a, &b, &cq, &sq, &ck, &sk});
  const int64_t r = check_goat(q, k, a, b, cq, sq, dc, act_dtype(q, cuda));
  check_table(kGoat, "ck", ck, k.size(2), r);
  check_table(kGoat, "sk", sk, k.size(2), r);
  if (cuda) {
    cuda::GoatLanesDesc d{cuda_rows(q), cuda_rows(k), a.f32(), b.f32(), nullptr, nullptr,
                          cq.f32(),     sq.f32(),     ck.f32(), sk.f32(), r,      dc, qscale};
    return cuda::goat_lanes_forward(d, q.dtype);
  }
  cpu::goat_lanes_forward(cpu_rows(q), cpu_rows(k), a.f32(), b.f32(), cq.f32(), sq.f32(), ck.f32(), sk.f32(), r, dc,
                          qscale);
}

void goat_lanes_backward(const Tensor& dq, const Tensor& dk, const Tensor& da, const Tensor& db, const Tensor& cq,
                         const Tensor& sq, int64_t dc, float qscale) {
  const bool cuda = on_cuda(kGoat, {&dq, &dk, &da, &db, &cq, &sq});
  const int64_t r = check_goat(dq, dk, da, db, cq, sq, dc, act_dtype(dq, cuda));
  if (cuda) {
    cuda::GoatLanesDesc d{cuda_rows(dq), cuda_rows(dk), nullptr, nullptr, da.f32(), db.f32(),
                          cq.f32(),      sq.f32(),      nullptr, nullptr, r,        dc,       qscale};
    return cuda::goat_lanes_backward(d, dq.dtype);
  }
  cpu::goat_lanes_backward(cpu_rows(dq), cpu_rows(dk), da.f32(), db.f32(), cq.f32(), sq.f32(), r, dc, qscale);
}

}  // namespace goat::ops
