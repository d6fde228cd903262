// CommBuffer: host memory here; device memory through detail::cuda_* (see comm_buffer.h).
#include "dist/comm_buffer.h"

#include <algorithm>

#include "core/check.h"

namespace goat {

CommBuffer::CommBuffer(Device device, int64_t n) : device_(device), n_(n) {
  GOAT_CHECK(n >= 0, "comm_buffer", "size must be >= 0, got {}", n);
  data_ =
      device == Device::cpu ? new float[static_cast<size_t>(std::max<int64_t>(n, 1))]() : detail::cuda_alloc_floats(n);
}

CommBuffer::~CommBuffer() {
  if (device_ == Device::cpu) {
    delete[] data_;
  } else {
    detail::cuda_free(data_);
  }
}

void CommBuffer::upload(std::span<const float> host) {
  GOAT_CHECK(static_cast<int64_t>(host.size()) == n_, "comm_buffer", "upload of {} elements into {}", host.size(), n_);
  if (device_ == Device::cpu) {
    std::copy(host.begin(), host.end(), data_);
  } else {
    detail::cuda_copy(data_, host.data(), n_ * 4);
  }
}

void CommBuffer::download(std::span<float> host) const {
  GOAT_CHECK(static_cast<int64_t>(host.size()) == n_, "comm_buffer", "download of {} elements into {}", n_,
             host.size());
  if (device_ == Device::cpu) {
    std::copy(data_, data_ + n_, host.begin());
  } else {
    detail::cuda_copy(host.data(), data_, n_ * 4);
  }
}

}  // namespace goat
