// Helpers of the CUDA benchmarks (bench_cuda_ops, bench_cuda_attention): wall-clock timing of a
// device computation (one warm-up call, then the mean over `reps` with a synchronize around) and
// a zero-filled device buffer freed at scope exit.
#pragma once

#include <chrono>
#include <functional>

#include "backend/cuda/cuda_ops.h"

namespace goat::cuda_bench {

inline double time_ms(const std::function<void()>& f, int reps = 10) {
  f();  // warm-up (allocations, cuBLASLt heuristics)
  cuda::synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) f();
  cuda::synchronize();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
}

struct Dev {
  void* p;
  explicit Dev(size_t bytes) : p(cuda::alloc(bytes)) { cuda::memset_zero(p, bytes); }
  ~Dev() { cuda::free(p); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  template <typename T>
  T* as() const {
    return static_cast<T*>(p);
  }
};

}  // namespace goat::cuda_bench
