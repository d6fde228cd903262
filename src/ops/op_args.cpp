// Implementation of the op-layer argument checks (see op_args.h).
#include "ops/op_args.h"

namespace goat::ops {

void require_cpu(const char* op, std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts)
    GOAT_CHECK(!present(*t) || t->device == Device::cpu, op,
               "device cuda not supported: this build has no CUDA backend for {}", op);
}

bool on_cuda(const char* op, std::initializer_list<const Tensor*> ts) {
  int cpu = 0, cuda = 0;
  for (const Tensor* t : ts) {
    if (!present(*t)) continue;
    (t->device == Device::cuda ? cuda : cpu)++;
  }
  GOAT_CHECK(cpu == 0 || cuda == 0, op,
             "device cuda not supported together with cpu tensors (mixed devices: {} on cpu, {} on cuda)", cpu, cuda);
  return cuda > 0;
}

DType act_dtype(const Tensor& ref, bool cuda) { return cuda ? ref.dtype : DType::f32; }

DType cpu_bf16_or(const Tensor& t, bool cuda, DType act) { return !cuda && t.dtype == DType::bf16 ? DType::bf16 : act; }

uint16_t* bf16_bits(const Tensor& t) { return reinterpret_cast<uint16_t*>(t.bf()); }

void require_dtype(const char* op, const char* name, const Tensor& t, DType want) {
  GOAT_CHECK(t.dtype == want, op, "expected {} to be {}, got {}", name, dtype_name(want), dtype_name(t.dtype));
}

void require_contiguous(const char* op, const char* name, const Tensor& t, DType want) {
  require_dtype(op, name, t, want);
  GOAT_CHECK(t.contiguous(), op, "expected {} {} to be contiguous", name, t.shape.str());
}

void require_f32(const char* op, const char* name, const Tensor& t) {
  GOAT_CHECK(t.dtype == DType::f32, op, "expected {} to be f32, got {}", name, dtype_name(t.dtype));
}

void require_contiguous_f32(const char* op, const char* name, const Tensor& t) {
  require_f32(op, name, t);
  GOAT_CHECK(t.contiguous(), op, "expected {} {} to be contiguous", name, t.shape.str());
}

MatView as_matrix(const char* op, const char* name, const Tensor& t, DType want) {
  require_dtype(op, name, t, want);
  GOAT_CHECK(t.ndim() >= 1, op, "expected {} to have at least one dim, got {}", name, t.shape.str());
  const int nd = t.ndim();
  MatView m;
  m.ptr = t.data;
  if (want == DType::f32) m.data = static_cast<float*>(t.data);
  m.cols = t.shape[nd - 1];
  GOAT_CHECK(m.cols <= 1 || t.strides[nd - 1] == 1, op, "expected {} {} to have unit stride in its last dim, got {}",
             name, t.shape.str(), t.strides[nd - 1]);
  m.rows = 1;
  for (int i = 0; i < nd - 1; ++i) m.rows *= t.shape[i];
  m.ld = m.cols;
  // The innermost leading dim of size > 1 sets the row stride; the others must nest inside it.
  int64_t expect = -1;
  for (int i = nd - 2; i >= 0; --i) {
    if (t.shape[i] == 1) continue;
    if (expect < 0) {
      m.ld = t.strides[i];
      GOAT_CHECK(m.ld >= m.cols, op, "expected {} {} rows not to overlap (row stride {})", name, t.shape.str(), m.ld);
    } else {
      GOAT_CHECK(t.strides[i] == expect, op, "expected {} {} leading dims to collapse into rows (strides)", name,
                 t.shape.str());
    }
    expect = t.strides[i] * t.shape[i];
  }
  return m;
}

Shape with_last_dim(const Shape& like, int64_t last) {
  Shape s = like;
  s[s.ndim - 1] = last;
  return s;
}

}  // namespace goat::ops
