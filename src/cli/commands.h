// Subcommand registration. Each subcommand lives in its own file and adds itself to the CLI11
// app through one function here; main.cpp calls them in order. No model logic in cli/.
#pragma once

#include <CLI/CLI.hpp>

namespace goat::cli {

void register_info(CLI::App& app);
// `goatlm bench ...`: returns the bench parent so bench_*.cpp files can add their children.
CLI::App* register_bench(CLI::App& app);
void register_bench_gemm(CLI::App& bench);
void register_bench_gemm_bf16(CLI::App& bench);
void register_bench_ops(CLI::App& bench);
void register_bench_attention(CLI::App& bench);
void register_bench_allreduce(CLI::App& bench);
void register_train(CLI::App& app);
void register_sample(CLI::App& app);
void register_eval(CLI::App& app);
void register_export(CLI::App& app);
void register_extrapolate(CLI::App& app);
void register_study(CLI::App& app);
void register_bench_train(CLI::App& bench);
void register_tokenize(CLI::App& app);
// `goatlm data ...` (data prepare NAME); `goatlm bench tokenize`.
void register_data(CLI::App& app);
void register_bench_tokenize(CLI::App& bench);

}  // namespace goat::cli
