// `goatlm train --config FILE [--set key=value ...] --run-dir DIR`: trains from a JSON config and
// writes DIR/config.json (resolved), DIR/metrics.jsonl and DIR/model.safetensors.
#include "cli/commands.h"
#include "config/config.h"
#include "train/trainer.h"

namespace goat::cli {

void register_train(CLI::App& app) {
  struct Opts {
    std::string config, run_dir;
    std::vector<std::string> sets;
  };
  static Opts o;
  auto* cmd = app.add_subcommand("train", "Train a GPT from a JSON config (CPU)");
  cmd->add_option("--config", o.config, "JSON config file (docs/config.md)")->required();
  cmd->add_option("--set", o.sets, "override a config key by dotted path, e.g. train.steps=50 (repeatable)");
  cmd->add_option("--run-dir", o.run_dir, "run directory (config.json, metrics.jsonl, model.safetensors)")->required();
  cmd->callback([] {
    const Config cfg = load_config(o.config, o.sets);
    Trainer trainer(cfg, o.run_dir);
    trainer.run();
  });
}

}  // namespace goat::cli
