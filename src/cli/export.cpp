// `goatlm export --run DIR --out OUTDIR`: a run's weights as OUTDIR/model.safetensors (fp32, the
// PyTorch / reference GoatAttention tensor names) and OUTDIR/config.json (the resolved config),
// for scripts/torch_model.py and the authors' module. Format: docs/goat.md "Export".
#include "train/export.h"

#include <fmt/format.h>

#include "cli/commands.h"
#include "train/run_dir.h"

namespace goat::cli {

void register_export(CLI::App& app) {
  struct Opts {
    std::string run, out;
  };
  static Opts o;
  auto* cmd = app.add_subcommand("export", "Write a run's weights for PyTorch (safetensors + config.json)");
  cmd->add_option("--run", o.run, "run directory")->required();
  cmd->add_option("--out", o.out, "output directory (created)")->required();
  cmd->callback([] {
    const LoadedRun r = load_run(o.run);
    export_model(*r.model, r.cfg, o.out, r.weights);
    fmt::print("wrote {}/model.safetensors and {}/config.json from {}\n", o.out, o.out, r.weights);
  });
}

}  // namespace goat::cli
