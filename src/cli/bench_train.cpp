// `goatlm bench train --config F [--set k=v ...] [--steps N --warmup W] [--breakdown]`: times full
// training steps (forward, backward, AdamW) after a warm-up and reports the median. The last
// output line is one JSON object with tokens_per_s (scripts/bench/compare_pytorch.sh reads it).
// --breakdown adds per-op times (core/op_profile.h: mean ms per step over the timed steps, by
// phase and by op, each with its parallel efficiency: CPU time / (wall time × threads), which shows
// idle threads under OMP_WAIT_POLICY=passive). Every run prints the arena sizes, the activation arena under each
// train.recompute mode (computed from the layout, only this run's mode allocated) and the
// process's peak RSS. --clock cpu times steps and ops by process CPU time / threads instead of
// wall clock (stable on a loaded machine, e.g. with OMP_NUM_THREADS=1).
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <vector>

#include "backend/cpu/gemm.h"
#include "cli/commands.h"
#include "core/cpu_info.h"
#include "core/op_profile.h"
#include "train/device_placement.h"
#include "train/trainer.h"

namespace goat::cli {

namespace {

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

double mib(int64_t f32_elements) { return static_cast<double>(f32_elements) * 4.0 / (1024.0 * 1024.0); }
double bytes_mib(int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

// Per-phase ("step.*") and per-op rows, mean ms per step, with their share of the mean step and
// their parallel efficiency (core/op_profile.h). `step` sums the timed steps on both clocks.
void print_breakdown(const std::vector<OpTime>& times, const OpTime& outer_ops, const OpTime& step, int steps) {
  const int threads = cpu_info().threads;
  const auto row = [&](const std::string& name, const OpTime& t) {
    fmt::print("  {:<32} {:>9.3f} ms {:>6.1f}% {:>7} calls/step {:>6.2f}\n", name, t.seconds * 1e3 / steps,
               100.0 * t.seconds / step.seconds, t.calls / steps, parallel_efficiency(t.wall, t.cpu, threads));
  };
  // What the steps spent outside `parts` (on each clock; never negative).
  const auto rest = [&](const OpTime& parts) {
    return OpTime{"", std::max(0.0, step.seconds - parts.seconds), std::max(0.0, step.wall - parts.wall),
                  std::max(0.0, step.cpu - parts.cpu), step.calls};
  };
  fmt::print("breakdown (mean per step over {} steps; step {:.3f} ms; last column: parallel efficiency, CPU / "
             "(wall x {} threads), {:.2f} for the whole step):\n",
             steps, step.seconds * 1e3 / steps, threads, parallel_efficiency(step.wall, step.cpu, threads));
  OpTime phases;
  for (const auto& t : times)
    if (t.name.starts_with("step.")) {
      row(t.name, t);
      phases.seconds += t.seconds;
      phases.wall += t.wall;
      phases.cpu += t.cpu;
    }
  row("step.other (zeroing grads, timers)", rest(phases));
  std::vector<OpTime> op_rows;
  for (const auto& t : times)
    if (!t.name.starts_with("step.")) op_rows.push_back(t);
  std::sort(op_rows.begin(), op_rows.end(), [](const auto& a, const auto& b) { return a.seconds > b.seconds; });
  fmt::print(" by op (nested ops, e.g. bf16.convert in linear, also count in their caller's row):\n");
  for (const auto& t : op_rows) row(t.name, t);
  row("(not in an op: position schemes, glue)", rest(outer_ops));
}

}  // namespace

void register_bench_train(CLI::App& bench) {
  struct Opts {
    std::string config;
    std::vector<std::string> sets;
    int steps = 10, warmup = 3;
    bool breakdown = false;
    std::string clock = "wall";
  };
  static Opts o;
  auto* cmd = bench.add_subcommand("train", "Training-step throughput (median step time) of a config");
  cmd->add_option("--config", o.config, "JSON config")->required();
  cmd->add_option("--set", o.sets, "override a config key (repeatable)");
  cmd->add_option("--steps", o.steps, "timed steps (median reported)")->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", o.warmup, "untimed warm-up steps")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--breakdown", o.breakdown, "per-op times, arena sizes and peak RSS");
  cmd->add_option("--clock", o.clock, "wall, or cpu: process CPU time / threads (for a busy machine)")
      ->check(CLI::IsMember({"wall", "cpu"}));
  cmd->callback([] {
    Config cfg = load_config(o.config, o.sets);
    cfg.train.steps = std::max<int64_t>(cfg.train.steps, o.warmup + o.steps);
    set_profile_clock(o.clock == "cpu" ? ProfileClock::cpu : ProfileClock::wall);
    Trainer trainer(cfg, "", true);
    for (int i = 0; i < o.warmup; ++i) trainer.step(i);
    reset_profile();
    set_profiling(o.breakdown);
    std::vector<double> sec;
    OpTime steps{"step"};
    for (int i = 0; i < o.steps; ++i) {
      const ClockSample t0 = clock_sample();
      trainer.step(o.warmup + i);
      const ClockSample t1 = clock_sample();
      sec.push_back(profile_seconds(t1) - profile_seconds(t0));
      steps.add(t0, t1);
    }
    set_profiling(false);
    std::sort(sec.begin(), sec.end());
    const double med = sec[sec.size() / 2];
    const double tps = static_cast<double>(trainer.tokens_per_step()) / med;
    const double flops = trainer.model().flops_per_token(cfg.train.seq_len) * tps;
    const double mfu = trainer.peak_gflops() > 0 ? flops / (trainer.peak_gflops() * 1e9) : 0.0;
    fmt::print("config {}: {} params, B {} T {} accum {}, dtype {}, {} threads, GEMM ISA {}\n", o.config,
               trainer.model().num_params(), cfg.train.batch_size, cfg.train.seq_len, cfg.train.grad_accum, cfg.dtype,
               cpu_info().threads, cpu::gemm_kernel_isa());
    fmt::print("device: {}\n", describe_placement(cfg));
    fmt::print("step ms ({} clock): median {:.2f}, min {:.2f}, max {:.2f}; {:.0f} tokens/s; {:.1f} model GFLOP/s; MFU "
               "{:.1f}% of {:.0f} GFLOP/s measured {}\n",
               o.clock, med * 1e3, sec.front() * 1e3, sec.back() * 1e3, tps, flops * 1e-9, mfu * 100,
               trainer.peak_gflops(), peak_name(cfg));
    const int64_t n_params = trainer.model().params().numel();
    const Activations& acts = trainer.activations();
    const double params_mib = mib(n_params), acts_mib = bytes_mib(acts.bytes());
    const double rss = peak_rss_mib();
    if (o.breakdown) print_breakdown(profile_snapshot(), profile_outer_ops(), steps, o.steps);
    fmt::print("memory: params {:.1f} MiB, grads {:.1f} MiB, AdamW m+v {:.1f} MiB, activations {:.1f} MiB "
               "(train.recompute {}); peak RSS {:.1f} MiB\n",
               params_mib, params_mib, 2 * params_mib, acts_mib, cfg.train.recompute, rss);
    fmt::print("activation arena by train.recompute (B {} T {}):", acts.batch(), acts.seq_len());
    for (const char* mode : {"none", "attention", "block"})
      fmt::print(" {} {:.1f} MiB", mode,
                 bytes_mib(Activations::planned_bytes(cfg.model, acts.batch(), acts.seq_len(),
                                                      trainer.model().placement(),
                                                      ActivationPlan{parse_recompute(mode), true})));
    fmt::print("\n");
    OrderedJson j{{"config", o.config},
                  {"dtype", cfg.dtype},
                  {"params", trainer.model().num_params()},
                  {"tokens_per_step", trainer.tokens_per_step()},
                  {"step_ms", med * 1e3},
                  {"tokens_per_s", tps},
                  {"model_gflops", flops * 1e-9},
                  {"mfu", mfu},
                  {"sgemm_gflops", trainer.peak_gflops()},
                  {"recompute", cfg.train.recompute},
                  {"activations_mib", acts_mib},
                  {"activation_bytes", acts.bytes()},
                  {"peak_rss_mib", rss},
                  {"threads", cpu_info().threads},
                  {"clock", o.clock}};
    fmt::print("{}\n", j.dump());
  });
}

}  // namespace goat::cli
