// Arena: one flat, 64-byte aligned, zero-initialised allocation carved into named views.
// Parameters, gradients and AdamW moments each live in an arena with the same layout, so the
// optimizer step, the all-reduce and a checkpoint are one call over one span each.
// Usage: declare every view with add(), then allocate(); views are stable afterwards.
// An arena lives on one device: on cuda its storage comes from the CUDA backend's caching
// allocator (backend/cuda/cuda_ops.h) and its views carry Device::cuda.
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

  explicit Arena(DType dtype = DType::f32, Device device = Device::cpu) : dtype_(dtype), device_(device) {}

  // Declares a view; returns its index. Only before allocate().
  int add(const std::string& name, Shape shape);
  void allocate();
  // An arena with the same layout (names, shapes, offsets), freshly zeroed.
  Arena clone_layout() const;
  // The same layout (element offsets) with another dtype and/or device, freshly zeroed.
  Arena clone_layout(DType dtype, Device device) const;
  // Copies every element of `src` (same numel and dtype; any devices).
  void copy_from(const Arena& src) const;
  void zero() const;  // every element to 0 (the storage, not the layout, changes)

  Tensor view(int index) const;
  Tensor view(const std::string& name) const;  // throws naming the missing view
  int index_of(const std::string& name) const;  // -1 if absent
  const std::vector<Entry>& entries() const { return entries_; }

  Tensor flat() const;  // every element, as a 1-D view
  int64_t numel() const { return numel_; }
  void* data() const { return data_.get(); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  bool allocated() const { return data_ != nullptr; }

 private:
  struct Free {
    Device device = Device::cpu;
    void operator()(void* p) const;
  };
  size_t bytes() const;
  DType dtype_;
  Device device_;
  std::vector<Entry> entries_;
  int64_t numel_ = 0;
  std::unique_ptr<void, Free> data_{nullptr, Free{}};
};

// Copies `bytes` from src on src_device to dst on dst_device (any pair; copies within the device
// are ordered on the CUDA compute stream, copies to or from the host complete before returning).
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);

}  // namespace goat
