// Arena layout and allocation. Views are padded to 16 elements (64 bytes for f32) so every
// named view starts on a cache line and SIMD loops need no peeling at view starts.
#include "core/arena.h"

#include <cstdlib>
#include <cstring>

namespace goat {

void Arena::Free::operator()(void* p) const { std::free(p); }

int Arena::add(const std::string& name, Shape shape) {
  GOAT_CHECK(!allocated(), "arena", "cannot add '{}' after allocate()", name);
  GOAT_CHECK(index_of(name) < 0, "arena", "duplicate view name '{}'", name);
  entries_.push_back({name, shape, numel_});
  numel_ += (shape.numel() + 15) / 16 * 16;
  return static_cast<int>(entries_.size()) - 1;
}

void Arena::allocate() {
  GOAT_CHECK(!allocated(), "arena", "allocate() called twice");
  const size_t bytes = std::max<size_t>(64, static_cast<size_t>(numel_) * dtype_size(dtype_));
  void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  GOAT_CHECK(p != nullptr, "arena", "out of memory allocating {} bytes", bytes);
  std::memset(p, 0, bytes);
  data_.reset(p);
}

Arena Arena::clone_layout() const {
  Arena a(dtype_);
  a.entries_ = entries_;
  a.numel_ = numel_;
  if (allocated()) a.allocate();
  return a;
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
  return Tensor(base, e.shape, dtype_);
}

Tensor Arena::view(const std::string& name) const {
  const int i = index_of(name);
  GOAT_CHECK(i >= 0, "arena", "no view named '{}'", name);
  return view(i);
}

Tensor Arena::flat() const {
  GOAT_CHECK(allocated(), "arena", "flat() before allocate()");
  return Tensor(data_.get(), Shape{numel_}, dtype_);
}

}  // namespace goat
