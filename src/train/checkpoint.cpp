// Checkpoint directories: durable write, verification, discovery and pruning.
#include "train/checkpoint.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/check.h"
#include "core/durable_file.h"
#include "data/safetensors.h"

namespace goat::ckpt {

namespace fs = std::filesystem;

namespace {

constexpr const char* kStepPrefix = "step_";
constexpr const char* kTmpPrefix = ".tmp-";
constexpr const char* kTrashPrefix = ".trash-";

// step_NNNNNNNN → N; -1 for any other name.
int64_t parse_step_name(const std::string& name) {
  const std::string p = kStepPrefix;
  if (name.size() <= p.size() || name.compare(0, p.size(), p) != 0 || name.size() > p.size() + 18) return -1;
  int64_t v = 0;
  for (size_t i = p.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

std::string step_name(int64_t step) { return fmt::format("{}{:08d}", kStepPrefix, step); }

void rename_or_fail(const fs::path& from, const fs::path& to) {
  GOAT_CHECK(std::rename(from.c_str(), to.c_str()) == 0, "checkpoint", "rename '{}' -> '{}' failed: {}", from.string(),
             to.string(), std::strerror(errno));
}

// Removes a directory by first renaming it to a hidden trash name (atomic), so a crash midway
// never leaves a half-deleted step_N that looks like a checkpoint.
void discard(const fs::path& dir) {
  const fs::path trash = dir.parent_path() / (kTrashPrefix + dir.filename().string());
  std::error_code ec;
  fs::remove_all(trash, ec);
  rename_or_fail(dir, trash);
  fs::remove_all(trash, ec);
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  GOAT_CHECK(f.good(), "checkpoint", "'{}' is missing or unreadable", path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

std::string checkpoints_dir(const std::string& run_dir) { return (fs::path(run_dir) / "checkpoints").string(); }

std::string step_dir(const std::string& run_dir, int64_t step) {
  return (fs::path(checkpoints_dir(run_dir)) / step_name(step)).string();
}

std::vector<int64_t> list_steps(const std::string& run_dir) {
  std::vector<int64_t> steps;
  std::error_code ec;
  for (fs::directory_iterator it(checkpoints_dir(run_dir), ec), end; !ec && it != end; it.increment(ec)) {
    const int64_t s = parse_step_name(it->path().filename().string());
    if (s >= 0 && it->is_directory()) steps.push_back(s);
  }
  std::sort(steps.begin(), steps.end());
  return steps;
}

std::string save(const std::string& run_dir, const TrainState& s, int64_t keep_last) {
  GOAT_CHECK(s.cfg && s.params && s.adam_m && s.adam_v, "checkpoint", "save: incomplete TrainState");
  GOAT_CHECK(keep_last >= 1, "checkpoint", "keep_last must be >= 1, got {}", keep_last);
  const fs::path root = checkpoints_dir(run_dir);
  std::error_code ec;
  fs::create_directories(root, ec);
  GOAT_CHECK(!ec && fs::is_directory(root), "checkpoint", "cannot create directory '{}': {}", root.string(),
             ec ? ec.message() : "a file is in the way");
  // Leftovers of a writer or pruner that was killed.
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(kTmpPrefix, 0) == 0 || name.rfind(kTrashPrefix, 0) == 0) fs::remove_all(it->path(), ec);
  }
  const std::string name = step_name(s.step);
  const fs::path tmp = root / (kTmpPrefix + name), final_dir = root / name;
  fs::remove_all(tmp, ec);
  GOAT_CHECK(fs::create_directory(tmp, ec) && !ec, "checkpoint", "cannot create directory '{}': {}", tmp.string(),
             ec.message());
  try {
    const std::map<std::string, std::string> meta = {
        {"format", "goatlm"}, {"step", std::to_string(s.step)}, {"config", to_json(*s.cfg).dump()}};
    StateInfo info;
    info.step = s.step;
    info.tokens_seen = s.tokens_seen;
    info.world_size = s.world_size;
    info.bad_steps_in_a_row = s.bad_steps_in_a_row;
    info.bad_steps_total = s.bad_steps_total;
    info.cfg = *s.cfg;
    const std::pair<const char*, const Arena*> tensors[] = {{kModelFile, s.params}, {kAdamMFile, s.adam_m}, {kAdamVFile, s.adam_v}};
    for (const auto& [file, arena] : tensors) {
      const std::string path = (tmp / file).string();
      data::save_safetensors(path, *arena, meta);
      info.files[file] = sha256_file(path);
    }
    const std::string state = format_state(info);
    write_file_atomic((tmp / kStateFile).string(), state.data(), state.size());
    if (fs::exists(final_dir)) discard(final_dir);  // a corrupt one of the same step (it was skipped)
    rename_or_fail(tmp, final_dir);
    sync_dir(root.string());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  // Prune only now that the new checkpoint is complete.
  std::vector<int64_t> older;
  for (int64_t st : list_steps(run_dir)) {
    if (st > s.step) discard(root / step_name(st));
    if (st < s.step) older.push_back(st);
  }
  const size_t keep_older = static_cast<size_t>(keep_last - 1);
  for (size_t i = 0; i + keep_older < older.size(); ++i) discard(root / step_name(older[i]));
  sync_dir(root.string());
  return final_dir.string();
}

Checkpoint open(const std::string& dir) {
  Checkpoint c;
  c.dir = dir;
  const std::string state_path = (fs::path(dir) / kStateFile).string();
  c.state = parse_state(read_text(state_path), state_path);
  const int64_t named = parse_step_name(fs::path(dir).filename().string());
  GOAT_CHECK(named < 0 || named == c.state.step, "checkpoint", "'{}': field \"step\" is {} but the directory is step {}",
             state_path, c.state.step, named);
  for (const char* file : {kModelFile, kAdamMFile, kAdamVFile})
    GOAT_CHECK(c.state.files.count(file), "checkpoint", "'{}': field \"files\" does not list {}", state_path, file);
  for (const auto& [file, want] : c.state.files) {
    GOAT_CHECK(file.find('/') == std::string::npos && file != ".." && file != ".", "checkpoint",
               "'{}': field \"files\" names '{}', not a plain file name", state_path, file);
    const std::string path = (fs::path(dir) / file).string();
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    GOAT_CHECK(!ec, "checkpoint", "'{}' is missing: {}", path, ec.message());
    GOAT_CHECK(size == want.bytes, "checkpoint", "'{}' has {} bytes, state.json says {} (truncated?)", path, size,
               want.bytes);
    const FileDigest got = sha256_file(path);
    GOAT_CHECK(got.sha256 == want.sha256, "checkpoint", "'{}': SHA-256 {} does not match state.json's {} (corrupted)",
               path, got.sha256, want.sha256);
  }
  return c;
}

std::optional<Checkpoint> find_latest_valid(const std::string& run_dir, std::vector<std::string>* skipped) {
  const auto steps = list_steps(run_dir);
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    try {
      return open(step_dir(run_dir, *it));
    } catch (const Error& e) {
      spdlog::warn("skipping checkpoint {}: {}", step_dir(run_dir, *it), e.what());
      if (skipped != nullptr) skipped->push_back(e.what());
    }
  }
  return std::nullopt;
}

void load(const Checkpoint& c, const Arena* params, const Arena* adam_m, const Arena* adam_v) {
  const std::pair<const char*, const Arena*> tensors[] = {{kModelFile, params}, {kAdamMFile, adam_m}, {kAdamVFile, adam_v}};
  for (const auto& [file, arena] : tensors)
    if (arena != nullptr) data::load_safetensors((fs::path(c.dir) / file).string(), *arena);
}

}  // namespace goat::ckpt
