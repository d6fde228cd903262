// Probe (not part of the build): c_proj's d_in GEMM followed by c_fc's GELU backward, unfused (the
// AMX GEMM writes the bf16 d_in, then to_bf16_column_sum with gelu_pre reads it back) against fused
// (amx_matmul's GeluBackwardEpilogue: each 32-row block staged in L2), interleaved in one process,
// CPU clock, median of PROBE_REPS (9) calls each preceded by a cache flush (PROBE_FLUSH_MIB, 256;
// 0: none, operands warm). Shape: d256's, m 4096, n 1024, k 256 (PROBE_M/N/K). Arguments: the
// sequence of variants, each "unfused" or "fused" (or "gemm", "pass": the unfused one's parts);
// OMP_NUM_THREADS as wanted.
//   ninja -C build src/libgoatlm_lib.a
//   L=$(grep -A3 "build goatlm:" build/build.ninja | grep LINK_LIBRARIES | sed 's/.*= //; s|src/|build/src/|g')
//   g++ -O3 -DNDEBUG -std=c++20 -march=native -fopenmp -Isrc -Ikernels -I. scripts/bench/gelu_into_ab.cpp
//       -o /tmp/gelu_into_ab $L        (one line)
//   OMP_NUM_THREADS=1 /tmp/gelu_into_ab unfused fused unfused fused
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "backend/cpu/aligned_scratch.h"
#include "backend/cpu/gemm_amx.h"
#include "backend/cpu/gemm_bf16.h"
#include "core/dtype.h"
using namespace goat;

namespace {

double cpu_ms() { return 1e3 * static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }  // process CPU time

int64_t env_int(const char* name, int64_t fallback) {
  const char* e = std::getenv(name);
  return e ? std::atoll(e) : fallback;
}

void flush_caches(int64_t mib) {
  static std::vector<float> junk;
  junk.resize(static_cast<size_t>(mib) << 18);
  static float sink = 0;
  for (size_t i = 0; i < junk.size(); i += 16) junk[i] += 1.f, sink += junk[i];
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t m = env_int("PROBE_M", 4096), n = env_int("PROBE_N", 1024), k = env_int("PROBE_K", 256);
  const int64_t reps = env_int("PROBE_REPS", 9), flush_mib = env_int("PROBE_FLUSH_MIB", 256);
  cpu::AlignedScratch sa, sb, sc, sp;
  uint16_t *a = sa.get<uint16_t>(m * k), *b = sb.get<uint16_t>(k * n), *c = sc.get<uint16_t>(m * n),
           *pre = sp.get<uint16_t>(m * n);
  for (int64_t i = 0; i < m * k; ++i) a[i] = bf16::from_float(static_cast<float>(i % 97) / 50.f - 1.f).bits;
  for (int64_t i = 0; i < k * n; ++i) b[i] = bf16::from_float(static_cast<float>(i % 89) / 500.f - 0.09f).bits;
  for (int64_t i = 0; i < m * n; ++i) pre[i] = bf16::from_float(static_cast<float>(i % 83) / 10.f - 4.f).bits;
  std::vector<float> bias_sum(static_cast<size_t>(n));
  std::printf("m %lld n %lld k %lld, flush %lld MiB, median of %lld, CPU ms per call\n", static_cast<long long>(m),
              static_cast<long long>(n), static_cast<long long>(k), static_cast<long long>(flush_mib),
              static_cast<long long>(reps));
  for (int v = 1; v < argc; ++v) {
    const std::string which = argv[v];
    std::vector<double> times;
    for (int64_t r = 0; r < reps; ++r) {
      if (flush_mib) flush_caches(flush_mib);
      const double t0 = cpu_ms();
      if (which == "fused") {
        const cpu::GeluBackwardEpilogue e{pre, bias_sum.data()};
        cpu::amx_matmul(false, m, n, k, a, k, b, n, false, cpu::Bf16Out{c, n, true}, nullptr, nullptr, &e);
      } else if (which == "gemm") {  // its parts alone: the GEMM, the pass
        cpu::amx_matmul(false, m, n, k, a, k, b, n, false, cpu::Bf16Out{c, n, true}, nullptr);
      } else if (which == "pass") {
        cpu::to_bf16_column_sum(0, c, m, n, n, bias_sum.data(), pre);
      } else {
        cpu::amx_matmul(false, m, n, k, a, k, b, n, false, cpu::Bf16Out{c, n, true}, nullptr);
        cpu::to_bf16_column_sum(0, c, m, n, n, bias_sum.data(), pre);
      }
      times.push_back(cpu_ms() - t0);
    }
    std::sort(times.begin(), times.end());
    std::printf("%-8s %.3f (min %.3f)\n", which.c_str(), times[times.size() / 2], times.front());
  }
}
