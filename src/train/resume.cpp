// pick_checkpoint and the config comparison (leaf by leaf over the resolved JSON).
#include "train/resume.h"

#include <algorithm>
#include <fmt/ranges.h>

#include <map>

#include "core/check.h"

namespace goat {

namespace {

void flatten(const OrderedJson& j, const std::string& path, std::map<std::string, OrderedJson>& out) {
  if (!j.is_object()) {
    out[path] = j;
    return;
  }
  for (auto it = j.begin(); it != j.end(); ++it) flatten(it.value(), path.empty() ? it.key() : path + "." + it.key(), out);
}

bool is_safe(const std::string& key) {
  return std::find_if(std::begin(kSafeToChange), std::end(kSafeToChange), [&](const char* k) { return key == k; }) !=
         std::end(kSafeToChange);
}

}  // namespace

void check_resume_config(const Config& saved, const Config& now, const std::string& checkpoint_dir) {
  std::map<std::string, OrderedJson> a, b;
  flatten(to_json(saved), "", a);
  flatten(to_json(now), "", b);
  for (const auto& [key, was] : a) {
    const auto it = b.find(key);
    const OrderedJson is = it == b.end() ? OrderedJson() : it->second;
    if (was != is && !is_safe(key))
      fail("resume",
           "config key {} changed from {} to {} since checkpoint '{}'; it is not safe to change on resume (safe: "
           "train.steps, eval/log/checkpoint cadence, keep_last, max_bad_steps, recompute, dist.*). Restore it, or "
           "train into a new --run-dir",
           key, was.dump(), is.dump(), checkpoint_dir);
  }
}

std::optional<ckpt::Checkpoint> pick_checkpoint(const std::string& run_dir, const Config& cfg, const ResumeOptions& o) {
  const auto steps = ckpt::list_steps(run_dir);
  if (steps.empty()) {
    GOAT_CHECK(o.from_step < 0, "resume", "--from {}: '{}' has no checkpoints", o.from_step, ckpt::checkpoints_dir(run_dir));
    return std::nullopt;
  }
  GOAT_CHECK(o.resume, "resume",
             "--no-resume: '{}' already has {} checkpoint(s) (newest step {}); use a fresh --run-dir or remove that "
             "directory to start over",
             ckpt::checkpoints_dir(run_dir), steps.size(), steps.back());
  std::optional<ckpt::Checkpoint> c;
  if (o.from_step >= 0) {
    GOAT_CHECK(std::find(steps.begin(), steps.end(), o.from_step) != steps.end(), "resume",
               "--from {}: no checkpoint of that step in '{}' (have {})", o.from_step, ckpt::checkpoints_dir(run_dir),
               fmt::join(steps, ", "));
    c = ckpt::open(ckpt::step_dir(run_dir, o.from_step));
  } else {
    c = ckpt::find_latest_valid(run_dir);
    GOAT_CHECK(c.has_value(), "resume",
               "none of the {} checkpoint(s) in '{}' is valid (see the warnings above); remove the corrupt ones to "
               "start over",
               steps.size(), ckpt::checkpoints_dir(run_dir));
  }
  check_resume_config(c->state.cfg, cfg, c->dir);
  GOAT_CHECK(c->state.step <= cfg.train.steps, "resume", "checkpoint '{}' is at step {}, past train.steps = {}", c->dir,
             c->state.step, cfg.train.steps);
  return c;
}

}  // namespace goat
