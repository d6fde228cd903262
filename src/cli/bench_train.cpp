// `goatlm bench train --config F [--set k=v ...] [--steps N --warmup W]`: times full training
// steps (forward, backward, AdamW) after a warm-up and reports the median. The last output line
// is one JSON object with tokens_per_s (scripts/bench/compare_pytorch.sh reads it).
#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "cli/commands.h"
#include "core/cpu_info.h"
#include "train/device_placement.h"
#include "train/trainer.h"

namespace goat::cli {

void register_bench_train(CLI::App& bench) {
  struct Opts {
    std::string config;
    std::vector<std::string> sets;
    int steps = 10, warmup = 3;
  };
  static Opts o;
  auto* cmd = bench.add_subcommand("train", "Training-step throughput (median step time) of a config");
  cmd->add_option("--config", o.config, "JSON config")->required();
  cmd->add_option("--set", o.sets, "override a config key (repeatable)");
  cmd->add_option("--steps", o.steps, "timed steps (median reported)")->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", o.warmup, "untimed warm-up steps")->check(CLI::NonNegativeNumber);
  cmd->callback([] {
    Config cfg = load_config(o.config, o.sets);
    cfg.train.steps = std::max<int64_t>(cfg.train.steps, o.warmup + o.steps);
    Trainer trainer(cfg, "", true);
    for (int i = 0; i < o.warmup; ++i) trainer.step(i);
    std::vector<double> sec;
    for (int i = 0; i < o.steps; ++i) sec.push_back(trainer.step(o.warmup + i).seconds);
    std::sort(sec.begin(), sec.end());
    const double med = sec[sec.size() / 2];
    const double tps = static_cast<double>(trainer.tokens_per_step()) / med;
    const double flops = trainer.model().flops_per_token(cfg.train.seq_len) * tps;
    const double mfu = trainer.peak_gflops() > 0 ? flops / (trainer.peak_gflops() * 1e9) : 0.0;
    fmt::print("config {}: {} params, B {} T {} accum {}, {} threads\n", o.config, trainer.model().num_params(),
               cfg.train.batch_size, cfg.train.seq_len, cfg.train.grad_accum, cpu_info().threads);
    fmt::print("device: {}\n", describe_placement(cfg));
    fmt::print("step ms: median {:.2f}, min {:.2f}, max {:.2f}; {:.0f} tokens/s; {:.1f} model GFLOP/s; MFU {:.1f}% of "
               "{:.0f} GFLOP/s measured {}\n",
               med * 1e3, sec.front() * 1e3, sec.back() * 1e3, tps, flops * 1e-9, mfu * 100, trainer.peak_gflops(),
               peak_name(cfg));
    OrderedJson j{{"config", o.config},       {"params", trainer.model().num_params()},
                  {"tokens_per_step", trainer.tokens_per_step()}, {"step_ms", med * 1e3},
                  {"tokens_per_s", tps},      {"model_gflops", flops * 1e-9},
                  {"mfu", mfu},               {"threads", cpu_info().threads}};
    fmt::print("{}\n", j.dump());
  });
}

}  // namespace goat::cli
