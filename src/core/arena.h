// Arena: one flat, 64-byte aligned, zero-initialised allocation carved into named views.
// Parameters, gradients and AdamW moments each live in an arena with the same layout, so the
// optimizer step, the all-reduce and a checkpoint are one call over one span each.
// Usage: declare every view with add(), then allocate(); views are stable afterwards.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace goat {

class Arena {
 public:
  struct Entry {
    std::string name;
    Shape shape;
    int64_t offset = 0;  // in elements
  };

  explicit Arena(DType dtype = DType::f32) : dtype_(dtype) {}

  // Declares a view; returns its index. Only before allocate().
  int add(const std::string& name, Shape shape);
  void allocate();
  // An arena with the same layout (names, shapes, offsets), freshly zeroed.
  Arena clone_layout() const;

  Tensor view(int index) const;
  Tensor view(const std::string& name) const;  // throws naming the missing view
  int index_of(const std::string& name) const;  // -1 if absent
  const std::vector<Entry>& entries() const { return entries_; }

  Tensor flat() const;  // every element, as a 1-D view
  int64_t numel() const { return numel_; }
  void* data() const { return data_.get(); }
  DType dtype() const { return dtype_; }
  bool allocated() const { return data_ != nullptr; }

 private:
  struct Free {
    void operator()(void* p) const;
  };
  DType dtype_;
  std::vector<Entry> entries_;
  int64_t numel_ = 0;
  std::unique_ptr<void, Free> data_;
};

}  // namespace goat
