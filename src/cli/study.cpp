// `goatlm study --config configs/studies/NAME.json --out DIR`: trains the study's variants × seeds
// (resumable), runs the extrapolation suite on each, writes DIR/results.json and DIR/report.md,
// and prints the headline table (NO perplexity per length, mean ± std over seeds).
#include <fmt/format.h>

#include "cli/commands.h"
#include "eval/study.h"

namespace goat::cli {

void register_study(CLI::App& app) {
  struct Opts {
    std::string config, out;
    eval::StudyOptions s;
    bool quiet = false;
  };
  static Opts o;
  auto* cmd = app.add_subcommand("study", "Train position variants and compare their length extrapolation");
  cmd->add_option("--config", o.config, "study config (configs/studies/*.json)")->required();
  cmd->add_option("--out", o.out, "output directory (runs/, results.json, report.md, plots/)")->required();
  cmd->add_option("--python", o.s.python, "python with matplotlib for the plots")->capture_default_str();
  cmd->add_option("--plot-script", o.s.plot_script, "plot script")->capture_default_str();
  cmd->add_flag("--quiet", o.quiet, "no progress bar");
  cmd->callback([] {
    const eval::StudyConfig s = eval::load_study(o.config);
    eval::StudyOptions so = o.s;
    so.out_dir = o.out;
    so.progress = !o.quiet;
    const OrderedJson r = eval::run_study(s, so);
    fmt::print("\nNO perplexity (mean ± std over seeds {}), study {}:\n\n{}\nfull report: {}/report.md\n", r["seeds"].dump(),
               s.name, eval::headline_table(r), o.out);
  });
}

}  // namespace goat::cli
