// state.json of a checkpoint (docs/checkpoints.md): everything but the tensors.
//
//   {"format": "goatlm-checkpoint", "version": 1, "step": S, "tokens_seen": ..., "world_size": W,
//    "bad_steps_in_a_row": ..., "bad_steps_total": ...,
//    "rng": {"seed": ..., "generator": "philox4x32-10"}, "loader": {"next_step": S},
//    "config": {resolved config}, "files": {"model.safetensors": {"bytes": n, "sha256": hex}, ...},
//    "state_sha256": hex of this object's compact dump without "state_sha256"}
//
// The data loader has no hidden state: the batch of step s is a pure function of (seed, s, micro,
// rank) (data/loader.h), so "loader" is the next step and "rng" the seed. parse_state() treats
// the text as untrusted: every field is type- and range-checked and errors name the file and
// the field.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "config/config.h"
#include "core/sha256.h"

namespace goat::ckpt {

inline constexpr const char* kFormat = "goatlm-checkpoint";
inline constexpr int64_t kFormatVersion = 1;

struct StateInfo {
  int64_t step = 0;         // completed optimizer steps
  int64_t tokens_seen = 0;  // training tokens consumed over all ranks
  int64_t world_size = 1;   // ranks of the run that wrote it (the tensors are unsharded)
  int64_t bad_steps_in_a_row = 0, bad_steps_total = 0;
  Config cfg;
  OrderedJson config_json;                    // the resolved config as stored
  std::map<std::string, FileDigest> files;  // file name → size and SHA-256
};

// The state.json text for `s` (with its self-checksum).
std::string format_state(const StateInfo& s);

// Parses and checks state.json text; `path` names it in messages.
StateInfo parse_state(const std::string& text, const std::string& path);

}  // namespace goat::ckpt
