// DeviceBuffer over the CUDA backend's allocator and copies (they throw "built without CUDA" in a
// stub build, so a CUDA tensor never silently becomes a CPU one).
#include "core/device_buffer.h"

#include "backend/cuda/cuda_ops.h"

namespace goat {

DeviceBuffer::~DeviceBuffer() {
  if (p_) cuda::free(p_);
}

void* DeviceBuffer::reserve(size_t bytes) {
  if (bytes <= bytes_ && p_) return p_;
  if (p_) cuda::free(p_);
  p_ = nullptr;
  p_ = cuda::alloc(bytes);
  bytes_ = bytes;
  return p_;
}

void* DeviceBuffer::upload(const void* src, size_t bytes) {
  void* p = reserve(bytes);
  cuda::copy_to_device(p, src, bytes);
  return p;
}

void DeviceBuffer::download(void* dst, size_t bytes) const {
  GOAT_CHECK(bytes <= bytes_, "device buffer", "download of {} bytes from a buffer of {}", bytes, bytes_);
  cuda::copy_to_host(dst, p_, bytes);
}

Tensor device_view(const std::vector<float>& host, Shape shape, Device device, DeviceBuffer& buf) {
  GOAT_CHECK(static_cast<int64_t>(host.size()) >= shape.numel(), "device buffer", "{} floats viewed as {}",
             host.size(), shape.str());
  if (device == Device::cpu) return Tensor(const_cast<float*>(host.data()), shape);
  return Tensor(buf.upload(host.data(), static_cast<size_t>(shape.numel()) * sizeof(float)), shape, DType::f32,
                Device::cuda);
}

}  // namespace goat
