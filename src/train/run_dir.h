// Reading a run directory back: RUN/config.json (the resolved config) and the weights, for
// `goatlm sample`, `eval` and `extrapolate`: those of the newest valid checkpoint
// (RUN/checkpoints/step_N/model.safetensors) when the run has one, else RUN/model.safetensors.
#pragma once

#include <memory>
#include <string>

#include "config/config.h"
#include "model/gpt.h"

namespace goat {

struct LoadedRun {
  Config cfg;
  std::unique_ptr<Gpt> model;
  std::string weights;  // the file the weights came from
};

LoadedRun load_run(const std::string& run_dir);

// Points cfg's data at token shards (a glob) for evaluation, replacing the run's own data source;
// an empty glob leaves cfg unchanged (`--data` of eval and extrapolate).
void use_eval_shards(Config& cfg, const std::string& shard_glob);

}  // namespace goat
