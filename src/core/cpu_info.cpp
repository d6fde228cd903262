// CPUID-based feature detection (leaf 7 subleaf 0/1) and the CPU brand string.
#include "core/cpu_info.h"

#include <cpuid.h>
#include <omp.h>

#include <cstring>

namespace goat {

static CpuInfo detect() {
  CpuInfo c;
  unsigned a = 0, b = 0, cx = 0, d = 0;
  if (__get_cpuid_count(7, 0, &a, &b, &cx, &d)) {
    c.avx2 = b & (1u << 5);
    c.avx512f = b & (1u << 16);
    c.amx_bf16 = d & (1u << 22);
    c.amx_tile = d & (1u << 24);
  }
  if (__get_cpuid_count(7, 1, &a, &b, &cx, &d)) c.avx512_bf16 = a & (1u << 5);
  char brand[49] = {};
  for (unsigned i = 0; i < 3; ++i) {
    unsigned r[4] = {};
    if (!__get_cpuid(0x80000002 + i, &r[0], &r[1], &r[2], &r[3])) break;
    std::memcpy(brand + 16 * i, r, 16);
  }
  c.model = brand;
  while (!c.model.empty() && c.model.back() == ' ') c.model.pop_back();
  c.threads = omp_get_max_threads();
  return c;
}

const CpuInfo& cpu_info() {
  static const CpuInfo info = detect();
  return info;
}

}  // namespace goat
