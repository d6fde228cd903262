// Checkpoints: RUN/checkpoints/step_NNNNNNNN/{model,adam_m,adam_v}.safetensors + state.json
// (format and guarantees: docs/checkpoints.md).
//
// A checkpoint holds the FULL, unsharded fp32 training state — parameters and both AdamW moment
// arenas in the parameter layout — and the step; the data loader is a pure function of (seed,
// step), so nothing else is needed to continue bit-exactly. The layout does not depend on the
// number of ranks: a run saved on N ranks resumes on M (a ZeRO run gathers its moment shards
// into full arenas on the writing rank before save(), and slices its shard after load()).
// Only one process (rank 0) may call save() for a run directory; any number may read.
//
// save() writes into checkpoints/.tmp-step_N, fsyncs every file and the directory, renames it
// to step_N and fsyncs checkpoints/, then prunes: a crash at any moment leaves every earlier
// checkpoint intact and the new one either complete or absent. open() verifies the size and
// SHA-256 of every file listed in state.json (and state.json's own checksum) before anything
// is loaded; find_latest_valid() skips, and reports, every checkpoint that fails.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/arena.h"
#include "train/checkpoint_state.h"

namespace goat::ckpt {

// What save() writes: views of the full training state.
struct TrainState {
  const Config* cfg = nullptr;    // resolved config
  const Arena* params = nullptr;  // model parameters (fp32)
  const Arena* adam_m = nullptr;  // AdamW first moments, parameter layout
  const Arena* adam_v = nullptr;  // AdamW second moments, parameter layout
  int64_t step = 0;               // completed optimizer steps
  int64_t tokens_seen = 0;
  int64_t world_size = 1;
  int64_t bad_steps_in_a_row = 0, bad_steps_total = 0;
};

// A checkpoint that passed open()'s checks.
struct Checkpoint {
  std::string dir;
  StateInfo state;
};

inline constexpr const char* kModelFile = "model.safetensors";
inline constexpr const char* kAdamMFile = "adam_m.safetensors";
inline constexpr const char* kAdamVFile = "adam_v.safetensors";
inline constexpr const char* kStateFile = "state.json";

std::string checkpoints_dir(const std::string& run_dir);          // RUN/checkpoints
std::string step_dir(const std::string& run_dir, int64_t step);  // RUN/checkpoints/step_%08d

// Writes the checkpoint of s.step and then keeps only the keep_last newest (>= 1); checkpoints
// with a step above s.step (an abandoned future after `--from`, or corrupt ones) are removed
// too. Returns the checkpoint's directory. Errors (disk full, unwritable) name the file and
// leave the previous checkpoints as they were.
std::string save(const std::string& run_dir, const TrainState& s, int64_t keep_last);

// The steps of RUN/checkpoints/step_* directories, ascending (not verified).
std::vector<int64_t> list_steps(const std::string& run_dir);

// Reads and verifies one checkpoint directory; throws an Error naming the file and what is wrong.
Checkpoint open(const std::string& dir);

// The newest checkpoint that verifies, or none. Each one skipped is logged as a warning with
// its reason and appended to *skipped.
std::optional<Checkpoint> find_latest_valid(const std::string& run_dir, std::vector<std::string>* skipped = nullptr);

// Fills the arenas (each may be null to skip it) from a verified checkpoint.
void load(const Checkpoint& c, const Arena* params, const Arena* adam_m, const Arena* adam_v);

}  // namespace goat::ckpt
