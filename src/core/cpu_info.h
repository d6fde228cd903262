// What the CPU offers: model name, SIMD features (AVX-512, AVX-512-BF16, AMX), thread count.
// Detected at run time with CPUID so one binary picks its fast path on any x86-64 machine.
#pragma once

#include <string>

namespace goat {

struct CpuInfo {
  std::string model;
  bool avx2 = false, avx512f = false, avx512_bf16 = false, amx_bf16 = false, amx_tile = false;
  int threads = 1;  // OpenMP threads goatlm will use
};

const CpuInfo& cpu_info();

}  // namespace goat
