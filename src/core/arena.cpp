// Arena layout and allocation. Views are padded to 16 elements (64 bytes for f32) so every
// named view starts on a cache line and SIMD loops need no peeling at view starts. Device arenas
// allocate, zero and copy through the CUDA backend (a stub that throws in builds without it).
#include "core/arena.h"

#include <cstdlib>
#include <cstring>

#include "backend/cuda/cuda_ops.h"

namespace goat {

void Arena::Free::operator()(void* p) const {
  if (device == Device::cuda)
    cuda::free(p);
  else
    std::free(p);
}

size_t Arena::bytes() const { return std::max<size_t>(64, static_cast<size_t>(numel_) * dtype_size(dtype_)); }

int Arena::add(const std::string& name, Shape shape) {
  GOAT_CHECK(!allocated(), "arena", "cannot add '{}' after allocate()", name);
  GOAT_CHECK(index_of(name) < 0, "arena", "duplicate view name '{}'", name);
  entries_.push_back({name, shape, numel_});
  numel_ += (shape.numel() + 15) / 16 * 16;
  return static_cast<int>(entries_.size()) - 1;
}

void Arena::allocate() {
  GOAT_CHECK(!allocated(), "arena", "allocate() called twice");
  const size_t n = bytes();
  if (device_ == Device::cuda) {
    void* p = cuda::alloc(n);
    data_ = std::unique_ptr<void, Free>(p, Free{Device::cuda});
    cuda::memset_zero(p, n);
    return;
  }
  void* p = std::aligned_alloc(64, (n + 63) / 64 * 64);
  GOAT_CHECK(p != nullptr, "arena", "out of memory allocating {} bytes", n);
  std::memset(p, 0, n);
  data_ = std::unique_ptr<void, Free>(p, Free{Device::cpu});
}

Arena Arena::clone_layout() const { return clone_layout(dtype_, device_); }

Arena Arena::clone_layout(DType dtype, Device device) const {
  Arena a(dtype, device);
  a.entries_ = entries_;
  a.numel_ = numel_;
  if (allocated()) a.allocate();
  return a;
}

void Arena::copy_from(const Arena& src) const {
  GOAT_CHECK(allocated() && src.allocated(), "arena", "copy_from needs two allocated arenas");
  GOAT_CHECK(src.numel_ == numel_ && src.dtype_ == dtype_, "arena",
             "copy_from: layouts differ ({} {} elements vs {} {})", src.numel_, dtype_name(src.dtype_), numel_,
             dtype_name(dtype_));
  copy_bytes(data(), device_, src.data(), src.device_, static_cast<size_t>(numel_) * dtype_size(dtype_));
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device == Device::cpu && src_device == Device::cpu)
    std::memcpy(dst, src, bytes);
  else if (dst_device == Device::cuda && src_device == Device::cuda)
    cuda::copy_device(dst, src, bytes);
  else if (dst_device == Device::cuda)
    cuda::copy_to_device(dst, src, bytes);
  else
    cuda::copy_to_host(dst, src, bytes);
}

void Arena::zero() const {
  GOAT_CHECK(allocated(), "arena", "zero() before allocate()");
  if (device_ == Device::cuda)
    cuda::memset_zero(data(), bytes());
  else
    std::memset(data(), 0, bytes());
}

int Arena::index_of(const std::string& name) const {
  for (size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].name == name) return static_cast<int>(i);
  return -1;
}

Tensor Arena::view(int index) const {
  GOAT_CHECK(allocated(), "arena", "view before allocate()");
  const Entry& e = entries_.at(static_cast<size_t>(index));
  char* base = static_cast<char*>(data_.get()) + e.offset * static_cast<int64_t>(dtype_size(dtype_));
  return Tensor(base, e.shape, dtype_, device_);
}

Tensor Arena::view(const std::string& name) const {
  const int i = index_of(name);
  GOAT_CHECK(i >= 0, "arena", "no view named '{}'", name);
  return view(i);
}

Tensor Arena::flat() const {
  GOAT_CHECK(allocated(), "arena", "flat() before allocate()");
  return Tensor(data_.get(), Shape{numel_}, dtype_, device_);
}

}  // namespace goat
