// goatlm entry point: builds the CLI from the subcommand registrations and turns every
// goat::Error into a one-line message and exit code 1.
#include <spdlog/spdlog.h>

#include <exception>

#include "cli/commands.h"
#include "core/check.h"

int main(int argc, char** argv) {
  CLI::App app{"goatlm: GPT training with GOAT attention, and length-extrapolation evaluation"};
  app.require_subcommand(1);
  app.set_version_flag("--version", GOATLM_VERSION);
  goat::cli::register_info(app);
  goat::cli::register_tokenize(app);
  goat::cli::register_data(app);
  CLI::App* bench = goat::cli::register_bench(app);
  goat::cli::register_bench_gemm(*bench);
  goat::cli::register_bench_gemm_bf16(*bench);
  goat::cli::register_bench_ops(*bench);
  goat::cli::register_bench_tokenize(*bench);
  goat::cli::register_bench_attention(*bench);
  goat::cli::register_bench_allreduce(*bench);
  goat::cli::register_train(app);
  goat::cli::register_sample(app);
  goat::cli::register_eval(app);
  goat::cli::register_export(app);
  goat::cli::register_extrapolate(app);
  goat::cli::register_study(app);
  goat::cli::register_bench_train(*bench);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const goat::Error& e) {
    spdlog::error("{}", e.what());
    return 1;
  } catch (const std::exception& e) {
    spdlog::error("unexpected error: {}", e.what());
    return 1;
  }
  return 0;
}
