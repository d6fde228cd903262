// DeviceBuffer: owned CUDA device memory for small tables and per-step vectors (position tables,
// the GOAT prior's key bias and slope, token ids), grown on demand through the backend's caching
// allocator. device_view() gives a host vector's data as a tensor on a device: the vector itself
// on the CPU, an uploaded copy on CUDA.
#pragma once

#include <cstddef>
#include <vector>

#include "core/tensor.h"

namespace goat {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();

  void* reserve(size_t bytes);  // at least `bytes` of device memory (contents lost when it grows)
  void* upload(const void* src, size_t bytes);  // reserve, copy host → device; returns the device pointer
  void download(void* dst, size_t bytes) const;  // device → host (bytes ≤ the reserved size)
  void* data() const { return p_; }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

// host (shape.numel() floats) as an f32 tensor on `device`; on CUDA `buf` receives a copy.
Tensor device_view(const std::vector<float>& host, Shape shape, Device device, DeviceBuffer& buf);

}  // namespace goat
