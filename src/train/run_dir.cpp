// load_run: config then weights, with errors that name the run directory.
#include "train/run_dir.h"

#include <filesystem>

#include "data/safetensors.h"
#include "train/checkpoint.h"

namespace goat {

LoadedRun load_run(const std::string& run_dir) {
  GOAT_CHECK(std::filesystem::is_directory(run_dir), "run", "'{}' is not a directory", run_dir);
  LoadedRun r;
  r.cfg = load_config(run_dir + "/config.json", {});
  r.model = std::make_unique<Gpt>(r.cfg.model, r.cfg.train.seq_len);
  if (const auto c = ckpt::find_latest_valid(run_dir)) {
    r.weights = c->dir + "/" + ckpt::kModelFile;
    ckpt::load(*c, &r.model->params(), nullptr, nullptr);
    return r;
  }
  r.weights = run_dir + "/model.safetensors";
  GOAT_CHECK(std::filesystem::exists(r.weights), "run", "'{}' has no weights (model.safetensors); train it first", run_dir);
  data::load_safetensors(r.weights, r.model->params());
  return r;
}

void use_eval_shards(Config& cfg, const std::string& shard_glob) {
  if (shard_glob.empty()) return;
  cfg.data.source = "shards";
  cfg.data.train_shards = cfg.data.val_shards = shard_glob;
}

}  // namespace goat
