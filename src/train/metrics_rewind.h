// Cutting metrics.jsonl back to a checkpoint's step on resume, so a run that was killed after
// logging steps it never checkpointed logs them once, not twice (docs/checkpoints.md).
#pragma once

#include <cstdint>
#include <string>

namespace goat {

// Keeps the lines of `path` whose "step" is <= step (training and validation lines alike) and
// drops the rest, including a torn last line; rewrites the file atomically. A missing file is
// left missing.
void rewind_metrics(const std::string& path, int64_t step);

}  // namespace goat
