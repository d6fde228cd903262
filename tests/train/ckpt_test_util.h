// Shared by the checkpoint tests: a very small training config (fast steps, ~100 KB of state),
// fresh temporary directories, and the two things two runs are compared by: the training and
// validation numbers of metrics.jsonl and the SHA-256 of every checkpoint tensor file.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../data/data_test_util.h"
#include "config/config.h"
#include "core/check.h"
#include "train/checkpoint.h"

namespace goat::test {

// The message of the goat::Error f throws, or "(no error)".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// tiny.json shrunk: 2 layers, d_model 32, batch 2 × 32 tokens, 2 micro-batches per step.
inline std::vector<std::string> ckpt_sets(int64_t steps, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> sets = {"model.d_model=32",      "model.n_head=2",       "model.max_seq_len=32",
                                   "train.seq_len=32",      "train.batch_size=2",   "train.grad_accum=2",
                                   "train.warmup_steps=2",  "train.eval_every=4",   "train.eval_batches=2",
                                   "train.log_every=1000",  "data.synthetic.train_tokens=16384",
                                   "data.synthetic.val_tokens=4096", "train.steps=" + std::to_string(steps)};
  sets.insert(sets.end(), extra.begin(), extra.end());
  return sets;
}

inline Config ckpt_config(int64_t steps, const std::vector<std::string>& extra = {}) {
  return load_config((source_dir() / "configs/tiny.json").string(), ckpt_sets(steps, extra));
}

// `goatlm train` arguments for the same config into run_dir.
inline std::string ckpt_cli_args(const std::filesystem::path& run_dir, int64_t steps,
                                 const std::vector<std::string>& extra = {}) {
  std::string s = "train --config " + (source_dir() / "configs/tiny.json").string() + " --run-dir " + run_dir.string();
  for (const auto& kv : ckpt_sets(steps, extra)) s += " --set " + kv;
  return s;
}

// (step, loss, lr, grad_norm) of training lines and (step, val_loss) of validation lines, as
// JSON text (so NaN and bit patterns compare exactly); timing fields are left out. A torn last
// line (a writer killed or still writing) is skipped.
inline std::vector<std::string> metric_numbers(const std::filesystem::path& run_dir) {
  std::ifstream f(run_dir / "metrics.jsonl");
  std::vector<std::string> out;
  std::string line;
  while (std::getline(f, line)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    nlohmann::json k;
    for (const char* key : {"step", "loss", "lr", "grad_norm", "val_loss", "skipped"})
      if (j.contains(key)) k[key] = j[key];
    out.push_back(k.dump());
  }
  return out;
}

// file name → SHA-256 of the tensor files of checkpoint `step` (from its verified state.json).
inline std::map<std::string, std::string> checkpoint_hashes(const std::filesystem::path& run_dir, int64_t step) {
  const auto c = ckpt::open(ckpt::step_dir(run_dir.string(), step));
  std::map<std::string, std::string> out;
  for (const auto& [name, d] : c.state.files) out[name] = d.sha256;
  return out;
}

}  // namespace goat::test
