// Placement checks, the device line of the log, the GEMM peak for MFU and host copies.
#include "train/device_placement.h"

#include <chrono>

#include "backend/cpu/gemm.h"
#include "backend/cuda/cuda_ops.h"
#include "core/device_info.h"

namespace goat {

Placement placement_of(const Config& cfg) {
  Placement p;
  if (cfg.device == "cpu") return p;
  GOAT_CHECK(cuda::built(), "train", "device \"cuda\": built without CUDA ({})", cuda_status());
  GOAT_CHECK(cuda::device_count() > 0, "train", "device \"cuda\": no usable CUDA device ({})", cuda_status());
  p.device = Device::cuda;
  p.dtype = cfg.dtype == "bf16" ? DType::bf16 : DType::f32;
  return p;
}

std::string describe_placement(const Config& cfg) {
  if (cfg.device == "cpu") return "cpu, dtype " + cfg.dtype;
  return "cuda (" + cuda_status() + "), dtype " + cfg.dtype;
}

double measure_peak_gflops(const Placement& place) {
  if (place.device == Device::cpu) return cpu::measure_sgemm_gflops(1024, 5);
  if (cuda::emulated()) return 0.0;
  const int64_t n = 4096;
  const size_t bytes = static_cast<size_t>(n * n) * dtype_size(place.dtype);
  void* a = cuda::alloc(bytes);
  void* b = cuda::alloc(bytes);
  void* c = cuda::alloc(bytes);
  for (void* p : {a, b, c}) cuda::memset_zero(p, bytes);
  const auto run = [&] {
    cuda::gemm(false, true, n, n, n, 1.f, a, n, b, n, 0.f, c, n, place.dtype, place.dtype);
  };
  run();
  cuda::synchronize();
  const int reps = 10;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) run();
  cuda::synchronize();
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (void* p : {a, b, c}) cuda::free(p);
  return 2.0 * static_cast<double>(n) * n * n * reps / sec * 1e-9;
}

std::string peak_name(const Config& cfg) { return cfg.device == "cpu" ? "sgemm" : "cuda gemm (" + cfg.dtype + ")"; }

const Arena& on_host(const Arena& a, Arena& scratch) {
  if (a.device() == Device::cpu) return a;
  scratch = a.clone_layout(a.dtype(), Device::cpu);
  scratch.copy_from(a);
  return scratch;
}

}  // namespace goat
