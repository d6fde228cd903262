// Tensor view helpers: contiguous strides, typed access with dtype checks, shape messages.
#include "core/tensor.h"

#include <fmt/format.h>

namespace goat {

std::string Shape::str() const {
  std::string s = "(";
  for (int i = 0; i < ndim; ++i) s += fmt::format("{}{}", i ? ", " : "", dims[i]);
  return s + ")";
}

Tensor::Tensor(void* p, Shape s, DType t, Device d) : data(p), shape(s), dtype(t), device(d) {
  int64_t st = 1;
  for (int i = shape.ndim - 1; i >= 0; --i) {
    strides[i] = st;
    st *= shape.dims[i];
  }
}

bool Tensor::contiguous() const {
  int64_t st = 1;
  for (int i = shape.ndim - 1; i >= 0; --i) {
    if (shape.dims[i] != 1 && strides[i] != st) return false;
    st *= shape.dims[i];
  }
  return true;
}

float* Tensor::f32() const {
  GOAT_CHECK(dtype == DType::f32, "tensor", "expected f32, got {}", dtype_name(dtype));
  return static_cast<float*>(data);
}

bf16* Tensor::bf() const {
  GOAT_CHECK(dtype == DType::bf16, "tensor", "expected bf16, got {}", dtype_name(dtype));
  return static_cast<bf16*>(data);
}

Tensor Tensor::reshape(Shape s) const {
  GOAT_CHECK(contiguous(), "reshape", "view of shape {} is not contiguous", shape.str());
  GOAT_CHECK(s.numel() == numel(), "reshape", "cannot view {} as {}", shape.str(), s.str());
  return Tensor(data, s, dtype, device);
}

void check_shape(const char* where, const char* name, const Tensor& t, const Shape& want) {
  GOAT_CHECK(t.shape == want, where, "expected {} to be {}, got {}", name, want.str(), t.shape.str());
}

}  // namespace goat
