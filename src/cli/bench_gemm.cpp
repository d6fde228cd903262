// `goatlm bench gemm`: sgemm GFLOP/s over a sweep of shapes (square, and the transformer's
// tall-skinny linear shapes), median of repetitions.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "backend/cpu/gemm.h"
#include "cli/commands.h"
#include "core/cpu_info.h"

namespace goat::cli {

namespace {
struct GemmShape {
  int64_t m, n, k;
};

double time_gemm(const GemmShape& s, int reps) {
  std::vector<float> a(static_cast<size_t>(s.m * s.k), 0.5f), b(static_cast<size_t>(s.k * s.n), 0.25f),
      c(static_cast<size_t>(s.m * s.n));
  cpu::sgemm(false, false, s.m, s.n, s.k, 1.f, a.data(), s.k, b.data(), s.n, 0.f, c.data(), s.n);
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    cpu::sgemm(false, false, s.m, s.n, s.k, 1.f, a.data(), s.k, b.data(), s.n, 0.f, c.data(), s.n);
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}
}  // namespace

void register_bench_gemm(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("gemm", "sgemm GFLOP/s for a sweep of shapes");
  static int reps = 7;
  cmd->add_option("--reps", reps, "repetitions per shape (median reported)")->check(CLI::PositiveNumber);
  cmd->callback([] {
    fmt::print("engine: {} ({}), threads {}\n", cpu::gemm_engine_name(), cpu::gemm_kernel_isa(), cpu_info().threads);
    fmt::print("{:>6} {:>6} {:>6} {:>10} {:>10}\n", "m", "n", "k", "ms", "GFLOP/s");
    const std::vector<GemmShape> shapes = {{256, 256, 256},   {512, 512, 512},   {1024, 1024, 1024},
                                           {2048, 2048, 2048}, {4096, 384, 128}, {4096, 128, 128},
                                           {4096, 512, 128},   {4096, 128, 512}, {4096, 768, 256},
                                           {4096, 1024, 256},  {4096, 256, 1024}};
    for (const auto& s : shapes) {
      const double sec = time_gemm(s, reps);
      fmt::print("{:>6} {:>6} {:>6} {:>10.3f} {:>10.1f}\n", s.m, s.n, s.k, sec * 1e3,
                 2.0 * static_cast<double>(s.m) * s.n * s.k / sec * 1e-9);
    }
  });
}

}  // namespace goat::cli
