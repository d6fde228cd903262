// `goatlm train --config FILE [--set key=value ...] --run-dir DIR [--no-resume | --from STEP]`:
// trains from a JSON config and writes DIR/config.json (resolved), DIR/metrics.jsonl,
// DIR/checkpoints/step_N (docs/checkpoints.md) and DIR/model.safetensors. A run directory with
// checkpoints is continued from the newest valid one; SIGINT/SIGTERM stop after the current step
// with a checkpoint and exit 0.
#include "cli/commands.h"
#include "config/config.h"
#include "train/resume.h"
#include "train/stop_signal.h"
#include "train/trainer.h"

namespace goat::cli {

void register_train(CLI::App& app) {
  struct Opts {
    std::string config, run_dir;
    std::vector<std::string> sets;
    bool no_resume = false;
    int64_t from = -1;
  };
  static Opts o;
  auto* cmd = app.add_subcommand("train", "Train a GPT from a JSON config (CPU)");
  cmd->add_option("--config", o.config, "JSON config file (docs/config.md)")->required();
  cmd->add_option("--set", o.sets, "override a config key by dotted path, e.g. train.steps=50 (repeatable)");
  cmd->add_option("--run-dir", o.run_dir, "run directory (config.json, metrics.jsonl, checkpoints/, model.safetensors)")
      ->required();
  auto* no_resume = cmd->add_flag("--no-resume", o.no_resume, "refuse to continue when the run directory has checkpoints");
  cmd->add_option("--from", o.from, "continue from the checkpoint of this step (default: the newest valid one)")
      ->check(CLI::NonNegativeNumber)
      ->excludes(no_resume);
  cmd->callback([] {
    install_stop_handlers();  // before any other thread starts (stop_signal.h)
    const Config cfg = load_config(o.config, o.sets);
    const auto checkpoint = pick_checkpoint(o.run_dir, cfg, {!o.no_resume, o.from});
    Trainer trainer(cfg, o.run_dir);
    if (checkpoint) trainer.resume(*checkpoint);
    trainer.run();
  });
}

}  // namespace goat::cli
