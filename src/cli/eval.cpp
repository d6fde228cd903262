// `goatlm eval --run DIR [--data SHARDS] [--batches N] [--seq-len T] [--batch-size B]
// [--dump-logits FILE] [--diag]`: validation loss of a run's weights on its own validation data (or
// on the shards given), at its training length unless --seq-len says otherwise (the data source
// stays the run's). The last output line is one JSON object with val_loss and tokens.
// --dump-logits also writes the first batch's tokens, logits and losses (eval/logit_dump.h) for
// comparison with scripts/torch_model.py. --diag adds the per layer × head attention diagnostics
// of the evaluated batches (train/diagnostics_log.h) under "diag".
#include <fmt/format.h>

#include "cli/commands.h"
#include "data/loader.h"
#include "eval/logit_dump.h"
#include "train/diagnostics_log.h"
#include "train/run_dir.h"
#include "train/trainer.h"

namespace goat::cli {

void register_eval(CLI::App& app) {
  struct Opts {
    std::string run, data, dump;
    int64_t batches = 0, seq_len = 0, batch_size = 0;
    bool diag = false;
  };
  static Opts o;
  auto* cmd = app.add_subcommand("eval", "Validation loss of a trained run");
  cmd->add_option("--run", o.run, "run directory")->required();
  cmd->add_option("--data", o.data, "token shards (glob) to evaluate on instead of the run's validation data");
  cmd->add_option("--batches", o.batches, "batches of batch size × sequence length (default train.eval_batches)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seq-len", o.seq_len, "tokens per window (default train.seq_len)")->check(CLI::PositiveNumber);
  cmd->add_option("--batch-size", o.batch_size, "windows per batch (default train.batch_size)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--diag", o.diag, "also report attention diagnostics (entropy, sink mass, p_max, KL, omega)");
  cmd->add_option("--dump-logits", o.dump, "also write batch 0's inputs, targets, logits and losses (safetensors)");
  cmd->callback([] {
    LoadedRun r = load_run(o.run);
    Config cfg = r.cfg;
    use_eval_shards(cfg, o.data);
    const int64_t batches = o.batches > 0 ? o.batches : cfg.train.eval_batches;
    const int64_t B = o.batch_size > 0 ? o.batch_size : cfg.train.batch_size;
    const int64_t T = o.seq_len > 0 ? o.seq_len : cfg.train.seq_len;
    data::Loader loader(data::make_source(cfg, true), B, T, static_cast<uint64_t>(cfg.train.seed), RngPurpose::eval);
    Activations acts(cfg.model, B, T, Placement{}, kForwardOnly);
    DiagnosticsLog diag(cfg.model, o.diag ? 1 : 0, B, T);
    if (o.diag) diag.begin(*r.model);
    const double loss = mean_loss(*r.model, acts, loader, batches);
    OrderedJson j{{"val_loss", loss}, {"tokens", batches * B * T}, {"batches", batches},
                  {"seq_len", T},     {"weights", r.weights},      {"data", loader.source().describe()}};
    if (o.diag) j["diag"] = diag.end(*r.model);
    if (!o.dump.empty()) {
      loader.batch(0, 0, acts.inputs.data(), acts.targets.data());
      j["dump_loss"] = eval::dump_logits(*r.model, acts, o.dump);
      j["dump"] = o.dump;
    }
    fmt::print("{}\n", j.dump());
  });
}

}  // namespace goat::cli
