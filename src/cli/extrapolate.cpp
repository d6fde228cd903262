// `goatlm extrapolate --run DIR --lengths L1,L2,... [--modes no,sw,...] --out FILE.json`: the
// length-extrapolation suite (src/eval, docs/evaluation.md) on a trained run's validation data.
// Writes FILE.json (every number plus the protocol) and FILE.<mode>.csv; progress on stderr.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>

#include "cli/commands.h"
#include "eval/extrapolate.h"
#include "train/run_dir.h"

namespace goat::cli {

void register_extrapolate(CLI::App& app) {
  struct Opts {
    std::string run, out, data;
    std::vector<int64_t> lengths;
    std::vector<std::string> modes;
    eval::ExtrapolateOptions e;
    bool quiet = false;
  };
  static Opts o;
  auto* cmd = app.add_subcommand("extrapolate", "Length-extrapolation evaluation of a trained run (docs/evaluation.md)");
  cmd->add_option("--run", o.run, "run directory")->required();
  cmd->add_option("--lengths", o.lengths, "evaluation lengths (default T·1,2,4,8,16; T is always added)")->delimiter(',');
  cmd->add_option("--modes", o.modes, "no,sw,ft,pp,passkey,recall,sinks (default all)")->delimiter(',');
  cmd->add_option("--out", o.out, "output JSON (CSVs are written beside it)")->required();
  cmd->add_option("--data", o.data, "token shards (glob) to evaluate on instead of the run's validation data");
  cmd->add_option("--windows", o.e.windows, "NO/PP: windows of Lmax in the scored prefix")->capture_default_str();
  cmd->add_option("--stride", o.e.stride, "SW stride (default T/4)");
  cmd->add_option("--sw-tokens", o.e.sw_tokens, "SW tokens scored per length (default 4·Lmax)");
  cmd->add_option("--ft-targets", o.e.ft_targets, "FT target tokens (default min(64, T/2))");
  cmd->add_option("--passkey-trials", o.e.passkey_trials, "passkey trials per (length, depth)")->capture_default_str();
  cmd->add_option("--recall-trials", o.e.recall_trials, "recall sequences per length")->capture_default_str();
  cmd->add_option("--batch-tokens", o.e.batch_tokens, "B·L per forward")->capture_default_str();
  cmd->add_option("--seed", o.e.seed, "probe seed")->capture_default_str();
  cmd->add_flag("--quiet", o.quiet, "no progress bar");
  cmd->callback([] {
    LoadedRun r = load_run(o.run);
    Config cfg = r.cfg;
    use_eval_shards(cfg, o.data);
    eval::ExtrapolateOptions e = o.e;
    e.lengths = o.lengths;
    if (!o.modes.empty()) e.modes = o.modes;
    e.train_len = cfg.train.seq_len;
    e.progress = !o.quiet;
    const auto val = data::make_source(cfg, true);
    eval::GptEvalModel model(*r.model);
    OrderedJson res{{"run", o.run}, {"variant", cfg.model.position.type}, {"params", r.model->num_params()},
                    {"max_seq_len", cfg.model.max_seq_len}};
    const OrderedJson ex = eval::extrapolate(model, *val, e);
    for (auto& [k, v] : ex.items()) res[k] = v;
    if (const auto dir = std::filesystem::path(o.out).parent_path(); !dir.empty()) std::filesystem::create_directories(dir);
    std::ofstream f(o.out, std::ios::trunc);
    GOAT_CHECK(f.good(), "extrapolate", "cannot write '{}'", o.out);
    f << res.dump(2) << "\n";
    const auto csvs = eval::write_csvs(res, o.out);
    spdlog::info("wrote {} and {} CSV files", o.out, csvs.size());
    if (res.contains("no"))
      for (const auto& row : res["no"])
        fmt::print("NO L={:>6}  {}\n", row["length"].get<int64_t>(),
                   row.contains("ppl") ? fmt::format("ppl {:.3f}", row["ppl"].get<double>()) : row["undefined"].get<std::string>());
  });
}

}  // namespace goat::cli
