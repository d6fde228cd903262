// The device side of the model (gpt.h, "Placement"): token ids copied up per micro-batch, the bf16
// working copy of the weights made from the fp32 master weights, and host tables (sinusoidal
// positions) copied up in the activation dtype. Conversions to bf16 round to nearest even on the
// host (core/dtype.h), the same rounding as the AdamW kernel's __float2bfloat16.
#include <vector>

#include "backend/cuda/cuda_ops.h"
#include "model/gpt.h"

namespace goat {

namespace {

// n floats → the bytes of dt (f32 as is, or bf16-rounded).
std::vector<char> convert(const float* x, int64_t n, DType dt) {
  std::vector<char> out(static_cast<size_t>(n) * dtype_size(dt));
  if (dt == DType::f32) {
    std::copy_n(reinterpret_cast<const char*>(x), out.size(), out.data());
    return out;
  }
  bf16* b = reinterpret_cast<bf16*>(out.data());
  for (int64_t i = 0; i < n; ++i) b[i] = bf16::from_float(x[i]);
  return out;
}

}  // namespace

void Activations::upload_ids() {
  if (place_.device == Device::cpu) return;
  const size_t n = inputs.size();
  std::vector<int32_t> both(2 * n);
  std::copy(inputs.begin(), inputs.end(), both.begin());
  std::copy(targets.begin(), targets.end(), both.begin() + static_cast<std::ptrdiff_t>(n));
  ids_dev_.upload(both.data(), both.size() * sizeof(int32_t));
}

const int32_t* Activations::input_ids() const {
  if (place_.device == Device::cpu) return inputs.data();
  return static_cast<const int32_t*>(ids_dev_.data());
}

const int32_t* Activations::target_ids() const {
  if (place_.device == Device::cpu) return targets.data();
  return static_cast<const int32_t*>(ids_dev_.data()) + inputs.size();
}

void Gpt::refresh_working_copy() {
  if (!work_.allocated()) return;
  Arena host = params_.clone_layout(DType::f32, Device::cpu);
  host.copy_from(params_);
  const std::vector<char> b = convert(static_cast<const float*>(host.data()), host.numel(), DType::bf16);
  cuda::copy_to_device(work_.data(), b.data(), b.size());
}

Tensor device_rows(const Tensor& host_rows, DType dt, DeviceBuffer& buf) {
  GOAT_CHECK(host_rows.device == Device::cpu && host_rows.contiguous(), "gpt", "device_rows: expected a host table");
  const std::vector<char> b = convert(host_rows.f32(), host_rows.numel(), dt);
  return Tensor(buf.upload(b.data(), b.size()), host_rows.shape, dt, Device::cuda);
}

}  // namespace goat
