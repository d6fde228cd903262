// Tensor: a non-owning view (pointer, shape, strides in elements, dtype, device). Storage is
// owned elsewhere (an Arena, a Buffer); ops take views so the same op runs over any memory.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "core/check.h"
#include "core/dtype.h"

namespace goat {

enum class Device : uint8_t { cpu, cuda };

constexpr int kMaxDims = 6;

struct Shape {
  std::array<int64_t, kMaxDims> dims{};
  int ndim = 0;

  Shape() = default;
  Shape(std::initializer_list<int64_t> d) {
    GOAT_CHECK(d.size() <= kMaxDims, "shape", "at most {} dims, got {}", kMaxDims, d.size());
    for (int64_t x : d) dims[ndim++] = x;
  }
  int64_t operator[](int i) const { return dims[i < 0 ? i + ndim : i]; }
  int64_t& operator[](int i) { return dims[i < 0 ? i + ndim : i]; }
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= dims[i];
    return n;
  }
  bool operator==(const Shape& o) const {
    if (ndim != o.ndim) return false;
    for (int i = 0; i < ndim; ++i)
      if (dims[i] != o.dims[i]) return false;
    return true;
  }
  std::string str() const;  // "(4, 64, 256)"
};

struct Tensor {
  void* data = nullptr;
  Shape shape;
  std::array<int64_t, kMaxDims> strides{};  // in elements
  DType dtype = DType::f32;
  Device device = Device::cpu;

  Tensor() = default;
  // A contiguous (row-major) view.
  Tensor(void* p, Shape s, DType t = DType::f32, Device d = Device::cpu);

  int64_t numel() const { return shape.numel(); }
  int ndim() const { return shape.ndim; }
  int64_t size(int i) const { return shape[i]; }
  bool contiguous() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }

  float* f32() const;  // checks dtype
  bf16* bf() const;    // checks dtype

  // A view with the same data and a new contiguous shape of equal numel.
  Tensor reshape(Shape s) const;
};

// "[where] expected NAME to be (a, b, c), got (...)": shape check for op boundaries.
void check_shape(const char* where, const char* name, const Tensor& t, const Shape& want);

}  // namespace goat
