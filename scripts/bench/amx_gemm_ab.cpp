// Probe (not part of the build): our AMX GEMM (gemm_amx.h) of this tree against the same kernel
// from another git revision, interleaved in one process (old, new, old, new, … per shape), 1
// thread, CPU clock, median, a 64 MiB cache flush before each call (PROBE_NOFLUSH=1: none). The
// shapes: d256's and d512's linear-layer GEMMs that run on the AMX GEMM, plus c_fc / c_proj
// variants with the other B layout or a bias. A, B and C are 64-byte aligned, as the model's arenas
// give them. Arguments: the sequence of variants, each "old" or "new". PROBE_SHAPE=name: one
// shape; PROBE_REPS: repetitions (9).
//   ninja -C build src/libgoatlm_lib.a
//   git show REV:src/backend/cpu/gemm_amx.cpp | sed 's/^namespace goat::cpu {/namespace goat::cpu_old {\nusing
//       namespace goat::cpu;/' > /tmp/old_gemm_amx.cpp        (the sed script on one line)
//   L=$(grep -A3 "build goatlm:" build/build.ninja | grep LINK_LIBRARIES | sed 's/.*= //; s|src/|build/src/|g')
//   g++ -O3 -DNDEBUG -std=c++20 -march=native -fopenmp -Isrc -Ikernels -I. scripts/bench/amx_gemm_ab.cpp
//       /tmp/old_gemm_amx.cpp -o /tmp/amx_gemm_ab $L        (one line)
//   OMP_NUM_THREADS=1 /tmp/amx_gemm_ab old new old new
// (REV's amx_matmul must have this tree's signature.)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>
#include "backend/cpu/aligned_scratch.h"
#include "backend/cpu/gemm_amx.h"
namespace goat::cpu_old {  // the other revision's kernel (see the build lines above)
void amx_matmul(bool trans_b, int64_t m, int64_t n, int64_t k, const uint16_t* a, int64_t lda, const uint16_t* b,
                int64_t ldb, bool accumulate, goat::cpu::Bf16Out c, const float* bias,
                const goat::cpu::GeluEpilogue* gelu = nullptr);
}
using namespace goat;

namespace {

double cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

void flush_caches() {
  static std::vector<float> junk(16 << 20);
  for (size_t i = 0; i < junk.size(); i += 16) junk[i] += 1.f;
}

struct Shape {
  const char* name;
  bool trans_b;
  int64_t m, n, k;
  bool bias, c_bf16;
};

}  // namespace

int main(int argc, char** argv) {
  const Shape shapes[] = {
      {"in_proj fwd", true, 4096, 768, 256, true, false},   {"in_proj din", false, 4096, 256, 768, false, false},
      {"out_proj fwd", true, 4096, 256, 256, true, false},  {"out_proj din", false, 4096, 256, 256, false, false},
      {"c_fc fwd", true, 4096, 1024, 256, true, true},      {"c_fc din", false, 4096, 256, 1024, false, false},
      {"c_proj fwd", true, 4096, 256, 1024, true, false},   {"c_proj din", false, 4096, 1024, 256, false, true},
      {"cfc tbF", false, 4096, 1024, 256, true, true},      {"cpdin tbT", true, 4096, 1024, 256, false, true},
      {"cpdin bias", false, 4096, 1024, 256, true, true},   {"d512 qkv", true, 4096, 1536, 512, true, false},
      {"d512 fc", true, 4096, 2048, 512, true, true},       {"d512 proj", true, 4096, 512, 2048, true, false},
      {"d512 fc din", false, 4096, 512, 2048, false, false}};
  std::vector<std::string> variants(argv + 1, argv + argc);
  const int reps = getenv("PROBE_REPS") ? atoi(getenv("PROBE_REPS")) : 9;
  const char* only = getenv("PROBE_SHAPE");
  const bool flush = !getenv("PROBE_NOFLUSH");
  for (const Shape& s : shapes) {
    if (only && std::string(s.name) != only) continue;
    cpu::AlignedScratch a_store, b_store;
    uint16_t* const a = a_store.get<uint16_t>(s.m * s.k);
    uint16_t* const b = b_store.get<uint16_t>(s.n * s.k);
    std::fill_n(a, s.m * s.k, uint16_t{0x3f00});
    std::fill_n(b, s.n * s.k, uint16_t{0x3e80});
    std::vector<float> bias(static_cast<size_t>(s.n), 0.5f);
    cpu::AlignedScratch c_store;
    const cpu::Bf16Out out{c_store.get<float>(s.m * s.n), s.n, s.c_bf16};
    const int64_t ldb = s.trans_b ? s.k : s.n;
    const float* bp = s.bias ? bias.data() : nullptr;
    std::vector<std::vector<double>> t(variants.size());
    for (int r = 0; r < reps; ++r)
      for (size_t v = 0; v < variants.size(); ++v) {
        if (flush) flush_caches();
        const double t0 = cpu_seconds();
        if (variants[v] == "old")
          cpu_old::amx_matmul(s.trans_b, s.m, s.n, s.k, a, s.k, b, ldb, false, out, bp);
        else
          cpu::amx_matmul(s.trans_b, s.m, s.n, s.k, a, s.k, b, ldb, false, out, bp);
        t[v].push_back(cpu_seconds() - t0);
      }
    printf("%-13s m%5ld n%5ld k%5ld |", s.name, static_cast<long>(s.m), static_cast<long>(s.n), static_cast<long>(s.k));
    for (std::vector<double>& x : t) {
      std::sort(x.begin(), x.end());
      const double median = x[x.size() / 2];
      printf(" %s %7.3f ms %5.0f GF |", variants[&x - t.data()].c_str(), median * 1e3,
             2.0 * static_cast<double>(s.m * s.n * s.k) / median * 1e-9);
    }
    printf("\n");
  }
}
