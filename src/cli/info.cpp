// `goatlm info`: what this build and machine offer — CPU features, GEMM engine and the kernel it
// dispatches to, threads, a measured sgemm GFLOP/s, and the CUDA/MPI state, stated honestly.
#include <fmt/format.h>

#include "backend/cpu/gemm.h"
#include "cli/commands.h"
#include "core/cpu_info.h"
#include "core/device_info.h"

namespace goat::cli {

void register_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print build, CPU, GEMM engine and device information");
  cmd->callback([] {
    const CpuInfo& c = cpu_info();
    fmt::print("goatlm {}\n", GOATLM_VERSION);
    fmt::print("cpu:      {}\n", c.model);
    fmt::print("features: avx2={} avx512f={} avx512_bf16={} amx_bf16={} amx_tile={}\n", c.avx2, c.avx512f,
               c.avx512_bf16, c.amx_bf16, c.amx_tile);
    fmt::print("threads:  {}\n", c.threads);
    fmt::print("gemm:     {} (kernel isa: {})\n", cpu::gemm_engine_name(), cpu::gemm_kernel_isa());
    fmt::print("sgemm:    {:.1f} GFLOP/s f32 (n=1024, {} threads, measured now)\n", cpu::measure_sgemm_gflops(),
               c.threads);
    fmt::print("cuda:     {}\n", cuda_status());
    fmt::print("mpi:      {}\n", mpi_status());
  });
}

}  // namespace goat::cli
