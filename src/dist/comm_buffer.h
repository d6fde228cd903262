// CommBuffer: an owned f32 buffer in a communicator's device memory, for `bench allreduce` and
// the GPU collective test, which must not include CUDA headers themselves. Host memory for
// Device::cpu; cudaMalloc'd for Device::cuda (NCCL builds only; otherwise an error).
#pragma once

#include <cstdint>
#include <span>

#include "core/tensor.h"

namespace goat {

class CommBuffer {
 public:
  CommBuffer(Device device, int64_t n);
  ~CommBuffer();
  CommBuffer(const CommBuffer&) = delete;
  CommBuffer& operator=(const CommBuffer&) = delete;

  std::span<float> span() const { return {data_, static_cast<size_t>(n_)}; }
  float* data() const { return data_; }
  int64_t size() const { return n_; }
  Device device() const { return device_; }

  void upload(std::span<const float> host);    // host (size()) -> buffer
  void download(std::span<float> host) const;  // buffer -> host (size())

 private:
  Device device_;
  int64_t n_;
  float* data_ = nullptr;
};

// CUDA devices visible to the NCCL communicator; 0 in builds without NCCL or without a GPU.
int dist_cuda_device_count();

namespace detail {  // device memory, defined by nccl/ (real) or nccl/no_nccl.cpp (throws)
float* cuda_alloc_floats(int64_t n);
void cuda_free(float* p);
void cuda_copy(void* dst, const void* src, int64_t bytes);  // any direction (cudaMemcpyDefault)
}  // namespace detail

}  // namespace goat
