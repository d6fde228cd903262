// Checkpoints in-process: exact resume, corruption detection (truncate, bit flip, delete), config
// changes on resume, pruning, disk full / unwritable directory, and non-finite steps.
#include <gtest/gtest.h>
#include <omp.h>
#include <sys/resource.h>

#include <cmath>
#include <csignal>
#include <cstring>
#include <functional>
#include <filesystem>
#include <fstream>
#include <limits>

#include "ckpt_test_util.h"
#include "core/check.h"
#include "train/nonfinite.h"
#include "train/resume.h"
#include "train/trainer.h"

using namespace goat;
using namespace goat::test;
namespace fs = std::filesystem;

namespace {

// One OpenMP thread: these runs are tiny, and ctest -j oversubscribes the cores.
const bool kOneThread = (omp_set_num_threads(1), true);

// Trains `steps` steps into dir with a checkpoint every `every` steps.
void train(const fs::path& dir, int64_t steps, int64_t every, int64_t keep = 10) {
  Trainer(ckpt_config(steps, {"train.ckpt_every=" + std::to_string(every), "train.keep_last=" + std::to_string(keep)}),
          dir.string(), false)
      .run();
}

void resume_and_train(const fs::path& dir, int64_t steps, int64_t every, const ResumeOptions& o = {}) {
  const Config cfg = ckpt_config(steps, {"train.ckpt_every=" + std::to_string(every), "train.keep_last=10"});
  const auto c = pick_checkpoint(dir.string(), cfg, o);
  Trainer t(cfg, dir.string(), false);
  if (c) t.resume(*c);
  t.run();
}

TEST(Checkpoint, ResumeIsBitwiseExact) {
  const fs::path straight = fresh_temp_dir("straight"), resumed = fresh_temp_dir("resumed");
  train(straight, 8, 4);
  // The resumed run: the straight run's directory as a crash would leave it after step 8's
  // metrics but before checkpoint 8 — so resume starts at 4 and must cut metrics back to 4.
  fs::copy(straight, resumed, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  fs::remove_all(ckpt::step_dir(resumed.string(), 8));
  fs::remove(resumed / "model.safetensors");
  resume_and_train(resumed, 8, 4);
  const auto a = metric_numbers(straight), b = metric_numbers(resumed);
  ASSERT_EQ(a.size(), 8u + 2u);  // 8 training lines, validation at 4 and 8
  EXPECT_EQ(a, b);
  EXPECT_EQ(checkpoint_hashes(straight, 8), checkpoint_hashes(resumed, 8));  // weights and both moments
  EXPECT_EQ(read_file(straight / "model.safetensors"), read_file(resumed / "model.safetensors"));
  // and the resumed half really trained: its weights moved away from checkpoint 4's
  EXPECT_NE(checkpoint_hashes(straight, 4).at(ckpt::kModelFile), checkpoint_hashes(resumed, 8).at(ckpt::kModelFile));
}

TEST(Checkpoint, StateJsonRecordsStepTokensAndConfig) {
  const fs::path dir = fresh_temp_dir("state");
  train(dir, 4, 2);
  const auto c = ckpt::open(ckpt::step_dir(dir.string(), 4));
  const Config cfg = ckpt_config(4, {"train.ckpt_every=2", "train.keep_last=10"});
  EXPECT_EQ(c.state.step, 4);
  EXPECT_EQ(c.state.tokens_seen, 4 * cfg.train.batch_size * cfg.train.seq_len * cfg.train.grad_accum);
  EXPECT_EQ(c.state.world_size, 1);
  EXPECT_EQ(to_json(c.state.cfg), to_json(cfg));
  for (const char* f : {ckpt::kModelFile, ckpt::kAdamMFile, ckpt::kAdamVFile}) {
    ASSERT_TRUE(c.state.files.count(f)) << f;
    EXPECT_EQ(c.state.files.at(f).bytes, fs::file_size(fs::path(c.dir) / f));
    EXPECT_EQ(c.state.files.at(f).sha256, sha256_file((fs::path(c.dir) / f).string()).sha256);
  }
}

TEST(Checkpoint, KeepLastPrunesOldestAfterTheNewOneIsComplete) {
  const fs::path dir = fresh_temp_dir("prune");
  train(dir, 8, 2, 2);
  EXPECT_EQ(ckpt::list_steps(dir.string()), (std::vector<int64_t>{6, 8}));
  for (const auto& e : fs::directory_iterator(ckpt::checkpoints_dir(dir.string())))
    EXPECT_EQ(e.path().filename().string().rfind("step_", 0), 0u) << "leftover " << e.path();
}

// Corrupts one file of the newest checkpoint (step 6) of a copy of `base`; the previous one
// (step 4) must be used and the skip must say why.
struct Corruption {
  const char* file;
  const char* how;  // truncate | flip | delete
  const char* expect;
};

class Corrupt : public ::testing::TestWithParam<Corruption> {};

TEST_P(Corrupt, NewestIsSkippedAndPreviousUsed) {
  const Corruption k = GetParam();
  const std::string how = k.how;
  // An 8-step run, and a copy as a crash after step 7 would leave it (checkpoints 2, 4, 6)
  // whose newest checkpoint then gets damaged.
  const fs::path clean = fresh_temp_dir("clean_" + how), dir = fresh_temp_dir("corrupt_" + how);
  train(clean, 8, 2);
  fs::copy(clean, dir, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  fs::remove_all(ckpt::step_dir(dir.string(), 8));
  fs::remove(dir / "model.safetensors");
  const fs::path victim = fs::path(ckpt::step_dir(dir.string(), 6)) / k.file;
  if (how == "truncate") {
    fs::resize_file(victim, fs::file_size(victim) / 2);
  } else if (how == "flip") {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    const auto pos = static_cast<std::streamoff>(fs::file_size(victim) * 3 / 4);
    f.seekg(pos);
    char c = 0;
    f.get(c);
    f.seekp(pos);
    f.put(static_cast<char>(c ^ 0x10));
  } else {
    fs::remove(victim);
  }
  std::vector<std::string> skipped;
  const auto c = ckpt::find_latest_valid(dir.string(), &skipped);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->state.step, 4);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find(k.file), std::string::npos) << skipped[0];
  EXPECT_NE(skipped[0].find(k.expect), std::string::npos) << skipped[0];
  // training continues from 4 to the same end as the untouched run
  resume_and_train(dir, 8, 2);
  EXPECT_EQ(checkpoint_hashes(dir, 8), checkpoint_hashes(clean, 8));
  EXPECT_EQ(metric_numbers(dir), metric_numbers(clean));
}

INSTANTIATE_TEST_SUITE_P(
    Files, Corrupt,
    ::testing::Values(Corruption{"model.safetensors", "truncate", "truncated"},
                      Corruption{"adam_m.safetensors", "flip", "does not match"},
                      Corruption{"adam_v.safetensors", "delete", "missing"},
                      Corruption{"model.safetensors", "delete", "missing"},
                      Corruption{"state.json", "truncate", "not valid JSON"},
                      Corruption{"state.json", "flip", "state.json"},
                      Corruption{"state.json", "delete", "missing"}),
    [](const auto& info) {
      std::string n = std::string(info.param.file) + "_" + info.param.how;
      for (char& ch : n)
        if (ch == '.') ch = '_';
      return n;
    });

TEST(Resume, ConfigChangeIsRefusedNamingTheKeyUnlessSafe) {
  const fs::path dir = fresh_temp_dir("cfgchange");
  train(dir, 4, 2);
  const auto with = [&](const std::vector<std::string>& sets) {
    return ckpt_config(4, [&] {
      std::vector<std::string> s = {"train.ckpt_every=2", "train.keep_last=10"};
      s.insert(s.end(), sets.begin(), sets.end());
      return s;
    }());
  };
  for (const char* key : {"train.lr=0.01", "model.n_layer=3", "train.seed=5", "data.synthetic.task=copy",
                          "train.batch_size=3"}) {
    const std::string k = std::string(key).substr(0, std::string(key).find('='));
    const std::string msg = error_of([&] { pick_checkpoint(dir.string(), with({key}), {}); });
    EXPECT_NE(msg.find("config key " + k + " changed"), std::string::npos) << key << ": " << msg;
  }
  // safe keys: more steps, other cadences, activation recomputation (bitwise the same training)
  const auto c = pick_checkpoint(dir.string(), with({"train.steps=10", "train.eval_every=3", "train.log_every=2",
                                                      "train.keep_last=3", "train.max_bad_steps=4",
                                                      "train.recompute=block"}),
                                 {});
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->state.step, 4);
}

TEST(Resume, NoResumeRefusesAndFromPicks) {
  const fs::path dir = fresh_temp_dir("from");
  train(dir, 6, 2);
  const Config cfg = ckpt_config(6, {"train.ckpt_every=2", "train.keep_last=10"});
  EXPECT_NE(error_of([&] { pick_checkpoint(dir.string(), cfg, {false, -1}); }).find("--no-resume"), std::string::npos);
  EXPECT_EQ(pick_checkpoint(dir.string(), cfg, {true, 2})->state.step, 2);
  EXPECT_NE(error_of([&] { pick_checkpoint(dir.string(), cfg, {true, 3}); }).find("no checkpoint of that step"),
            std::string::npos);
  EXPECT_FALSE(pick_checkpoint(fresh_temp_dir("empty").string(), cfg, {false, -1}).has_value());
  // --from 2 then training discards the abandoned future (steps 4, 6) at its first checkpoint
  resume_and_train(dir, 6, 2, {true, 2});
  EXPECT_EQ(ckpt::list_steps(dir.string()), (std::vector<int64_t>{2, 4, 6}));
  const fs::path clean = fresh_temp_dir("from_clean");
  train(clean, 6, 2);
  EXPECT_EQ(checkpoint_hashes(dir, 6), checkpoint_hashes(clean, 6));
}

// A run directory whose previous checkpoint must survive a failing save.
struct SaveFixture {
  fs::path dir = fresh_temp_dir("savefail");
  Config cfg = ckpt_config(2, {"train.ckpt_every=2"});
  std::unique_ptr<Trainer> t;
  SaveFixture() {
    t = std::make_unique<Trainer>(cfg, dir.string(), false);
    t->run();  // checkpoint 2
  }
};

TEST(Checkpoint, DiskFullLeavesPreviousIntact) {
  SaveFixture f;
  const auto before = checkpoint_hashes(f.dir, 2);
  // RLIMIT_FSIZE makes write(2) fail with EFBIG past 16 KiB, as a full disk fails with ENOSPC.
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  auto* prev = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = 16 << 10;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const std::string msg = error_of([&] { ckpt::save(f.dir.string(), f.t->train_state(3), 1); });
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, prev);
  EXPECT_NE(msg.find("write to"), std::string::npos) << msg;
  EXPECT_NE(msg.find("disk full"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
  EXPECT_EQ(ckpt::list_steps(f.dir.string()), std::vector<int64_t>{2});
  EXPECT_EQ(checkpoint_hashes(f.dir, 2), before);
  for (const auto& e : fs::directory_iterator(ckpt::checkpoints_dir(f.dir.string())))
    EXPECT_EQ(e.path().filename().string(), "step_00000002") << "leftover " << e.path();
}

TEST(Checkpoint, UnwritableDirectoryIsAClearError) {
  SaveFixture f;
  // checkpoints/ replaced by a plain file: nothing can be created inside (works as root too)
  const fs::path root = ckpt::checkpoints_dir(f.dir.string());
  const fs::path aside = f.dir / "aside";
  fs::rename(root, aside);
  std::ofstream(root) << "not a directory";
  const std::string msg = error_of([&] { ckpt::save(f.dir.string(), f.t->train_state(3), 1); });
  EXPECT_NE(msg.find("cannot create directory '" + root.string() + "'"), std::string::npos) << msg;
  fs::remove(root);
  fs::rename(aside, root);
  EXPECT_EQ(checkpoint_hashes(f.dir, 2).size(), 3u);
}

TEST(NonFinite, BadStepSkipsTheUpdateAndStopsAfterMaxInARow) {
  const fs::path dir = fresh_temp_dir("nan");
  const Config cfg = ckpt_config(10, {"train.max_bad_steps=3", "train.ckpt_every=1"});
  Trainer t(cfg, dir.string(), false);
  const Arena& p = t.model().params();
  const auto& victim = p.entries().back();
  // one step with a poisoned parameter: no update anywhere (params and both moments unchanged)
  float* w = p.view(victim.name).f32();
  const float saved = w[0];
  w[0] = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> before(p.numel());
  std::memcpy(before.data(), p.data(), before.size() * sizeof(float));
  const StepStats s = t.step(0);
  EXPECT_TRUE(s.skipped);
  EXPECT_EQ(s.bad_tensor.rfind("grad of ", 0), 0u) << s.bad_tensor;
  EXPECT_EQ(std::memcmp(before.data(), p.data(), before.size() * sizeof(float)), 0);
  EXPECT_EQ(first_non_finite(*t.train_state(0).adam_m), "");
  // poisoned for good: stops at the third bad step in a row, naming it and the tensor
  const std::string msg = error_of([&] { t.run(); });
  EXPECT_NE(msg.find("stopping at step 3: 3 steps in a row"), std::string::npos) << msg;
  EXPECT_NE(msg.find("first, step 1, had non-finite grad of "), std::string::npos) << msg;
  EXPECT_NE(msg.find("step_00000002"), std::string::npos) << msg;  // the last checkpoint, not one of step 3
  EXPECT_EQ(ckpt::list_steps(dir.string()), (std::vector<int64_t>{1, 2}));
  const auto lines = metric_numbers(dir);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[0].find("\"skipped\""), std::string::npos) << lines[0];
  w[0] = saved;
}

}  // namespace
