// `goatlm eval --run DIR [--data SHARDS] [--batches N]`: validation loss of a run's weights on
// its own validation data (or on the shards given), at its training length. The last output
// line is one JSON object with val_loss and tokens.
#include <fmt/format.h>

#include "cli/commands.h"
#include "data/loader.h"
#include "train/run_dir.h"
#include "train/trainer.h"

namespace goat::cli {

void register_eval(CLI::App& app) {
  struct Opts {
    std::string run, data;
    int64_t batches = 0;
  };
  static Opts o;
  auto* cmd = app.add_subcommand("eval", "Validation loss of a trained run");
  cmd->add_option("--run", o.run, "run directory")->required();
  cmd->add_option("--data", o.data, "token shards (glob) to evaluate on instead of the run's validation data");
  cmd->add_option("--batches", o.batches, "batches of train.batch_size × train.seq_len (default train.eval_batches)")
      ->check(CLI::PositiveNumber);
  cmd->callback([] {
    LoadedRun r = load_run(o.run);
    Config cfg = r.cfg;
    use_eval_shards(cfg, o.data);
    const int64_t batches = o.batches > 0 ? o.batches : cfg.train.eval_batches;
    const auto& t = cfg.train;
    data::Loader loader(data::make_source(cfg, true), t.batch_size, t.seq_len, static_cast<uint64_t>(t.seed),
                        RngPurpose::eval);
    Activations acts(cfg.model, t.batch_size, t.seq_len);
    const double loss = mean_loss(*r.model, acts, loader, batches);
    OrderedJson j{{"val_loss", loss},
                  {"tokens", batches * t.batch_size * t.seq_len},
                  {"batches", batches},
                  {"seq_len", t.seq_len},
                  {"weights", r.weights},
                  {"data", loader.source().describe()}};
    fmt::print("{}\n", j.dump());
  });
}

}  // namespace goat::cli
