// Choosing the checkpoint a `goatlm train` run continues from, and refusing unsafe config changes.
//
// Default: the newest checkpoint that verifies (corrupt ones are reported and skipped).
// `--from STEP` picks one (it must verify); `--no-resume` refuses to start when the run
// directory already has checkpoints. On resume every config key must equal the checkpoint's,
// except the keys in kSafeToChange, which only steer cadence, length, bookkeeping, how the work is
// spread over ranks (a checkpoint's layout does not depend on the world size or ZeRO) and
// activation recomputation (bitwise the same training).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "config/config.h"
#include "train/checkpoint.h"

namespace goat {

inline constexpr const char* kSafeToChange[] = {
    "train.steps",    "train.eval_every",  "train.eval_batches", "train.log_every",   "train.ckpt_every",
    "train.keep_last", "train.max_bad_steps", "dist.backend",     "dist.zero",         "dist.timeout_s",
    "dist.deterministic", "dist.bucket_mb", "train.recompute"};

struct ResumeOptions {
  bool resume = true;      // false: --no-resume
  int64_t from_step = -1;  // >= 0: --from STEP
};

// Throws an Error naming the first key whose value differs between `saved` (the checkpoint's
// config) and `now` and that is not in kSafeToChange.
void check_resume_config(const Config& saved, const Config& now, const std::string& checkpoint_dir);

// The checkpoint to continue from, or none for a fresh run; throws when the options or the
// config forbid continuing (the message says what to do).
std::optional<ckpt::Checkpoint> pick_checkpoint(const std::string& run_dir, const Config& cfg, const ResumeOptions& o);

}  // namespace goat
