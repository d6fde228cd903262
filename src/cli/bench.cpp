// `goatlm bench`: parent of the benchmark subcommands (gemm, attention, train). Benchmarks print
// figures side by side; they are never tests.
#include "cli/commands.h"

namespace goat::cli {

CLI::App* register_bench(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Benchmarks that print figures (gemm, attention, train)");
  bench->require_subcommand(1);
  return bench;
}

}  // namespace goat::cli
