// Data-parallel training through the real binary: `goatlm train` as one process against
// `mpirun -np 2 goatlm train` with the same config (same global batch), ZeRO-1 against plain data
// parallel, a rank that exits mid-step, and a batch the world size does not divide. Each run is the
// tiny config shrunk to a few seconds, one OpenMP thread per rank. Not itself run under mpirun.
//
// Equality: the 2-rank run sums the two ranks' gradients (each a mean over its 4 rows) in rank
// order, while one process with batch 8 sums all 8 rows inside its GEMMs; that differs by fp32
// reduction order only. One process with batch 4 × grad_accum 2 sees the same 8 samples per step
// (the loader keys draws by global sample index) and associates the sum as the ranks do, so it is
// the bitwise reference for the 2-rank run (train/grad_accumulator.h); the batch-8 run is checked
// against a tolerance taken from that reference's own distance to it (reduction-order noise) and
// an absolute cap.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "timed_shell.h"

namespace {

using Launch = goat::test::TimedRun;

Launch shell(const std::string& cmd) { return goat::test::timed_shell(cmd); }

std::string run_dir(const std::string& name) {
  const auto p = std::filesystem::temp_directory_path() / ("goatlm_mpi_train_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  return p.string();
}

constexpr int kSteps = 20;

// `goatlm train` on the tiny config, 20 steps, batch 8 of 32 tokens; ranks = 0: no launcher.
Launch train(int ranks, const std::string& dir, const std::string& extra, const std::string& env = "") {
  std::string cmd = "timeout -k 5 120 env OMP_NUM_THREADS=1 " + env + " ";
  if (ranks > 0)
    cmd += std::string(GOATLM_MPIRUN) + " --allow-run-as-root --oversubscribe --bind-to none -x OMP_NUM_THREADS" +
           (env.empty() ? "" : " -x " + env.substr(0, env.find('='))) + " -np " + std::to_string(ranks) + " ";
  cmd += std::string(GOATLM_BINARY) + " train --config " + GOATLM_SOURCE_DIR + "/configs/tiny.json --run-dir " + dir +
         " --set train.steps=" + std::to_string(kSteps) +
         " --set train.batch_size=8 --set train.seq_len=32 --set train.eval_every=10 --set train.eval_batches=2"
         " --set train.warmup_steps=5 --set data.synthetic.train_tokens=65536 --set data.synthetic.val_tokens=8192 " +
         extra;
  return shell(cmd);
}

struct Metrics {
  std::vector<double> loss, grad_norm, val_loss;
};

Metrics read_metrics(const std::string& dir) {
  Metrics m;
  std::ifstream f(dir + "/metrics.jsonl");
  std::string line;
  while (std::getline(f, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("val_loss")) {
      m.val_loss.push_back(j["val_loss"].get<double>());
    } else {
      m.loss.push_back(j["loss"].get<double>());
      m.grad_norm.push_back(j["grad_norm"].get<double>());
    }
  }
  return m;
}

// One training run per configuration, shared by the tests (each costs seconds).
class MpiTrain : public ::testing::Test {
 protected:
  static const Metrics& get(const std::string& name, int ranks, const std::string& extra) {
    static std::map<std::string, Metrics> cache;
    const auto it = cache.find(name);
    if (it != cache.end()) return it->second;
    const std::string dir = run_dir(name);
    const Launch r = train(ranks, dir, extra);
    EXPECT_EQ(r.status, 0) << name << ":\n" << r.output;
    Metrics m = read_metrics(dir);
    EXPECT_EQ(m.loss.size(), static_cast<size_t>(kSteps)) << name << ": metrics.jsonl incomplete\n" << r.output;
    EXPECT_EQ(m.val_loss.size(), 2u) << name;
    std::filesystem::remove_all(dir);
    return cache.emplace(name, std::move(m)).first->second;
  }
  static const Metrics& one_rank() { return get("one_rank_b8", 0, ""); }
  static const Metrics& one_rank_accum() {
    return get("one_rank_b4x2", 0, "--set train.batch_size=4 --set train.grad_accum=2");
  }
  static const Metrics& two_ranks() { return get("two_ranks", 2, ""); }
  static const Metrics& two_ranks_zero() { return get("two_ranks_zero", 2, "--set dist.zero=1"); }
};

// Bitwise equal training losses (and validation losses when `val`); gradient norms bitwise when
// norm_rel_tol is 0, else within that relative distance.
void expect_bitwise(const Metrics& a, const Metrics& b, const std::string& what, bool val = true,
                    double norm_rel_tol = 0) {
  ASSERT_EQ(a.loss.size(), b.loss.size()) << what;
  for (size_t s = 0; s < a.loss.size(); ++s) {
    EXPECT_EQ(a.loss[s], b.loss[s]) << what << ": loss at step " << s + 1;
    if (norm_rel_tol == 0)
      EXPECT_EQ(a.grad_norm[s], b.grad_norm[s]) << what << ": grad_norm at step " << s + 1;
    else
      EXPECT_NEAR(a.grad_norm[s], b.grad_norm[s], norm_rel_tol * b.grad_norm[s]) << what << ": grad_norm at step " << s + 1;
  }
  if (!val) return;
  ASSERT_EQ(a.val_loss.size(), b.val_loss.size()) << what;
  for (size_t i = 0; i < a.val_loss.size(); ++i) EXPECT_EQ(a.val_loss[i], b.val_loss[i]) << what << ": val_loss " << i;
}

TEST_F(MpiTrain, TwoRanksEqualOneProcessWithTheSameMicroBatchesBitwise) {
  // Validation differs by construction: its batches are train.batch_size rows (8 vs 4 samples).
  expect_bitwise(two_ranks(), one_rank_accum(), "2 ranks x 4 rows vs 1 process 4 rows x grad_accum 2", false);
}

TEST_F(MpiTrain, TwoRanksEqualOneProcessWithTheGlobalBatchWithinReductionOrderTolerance) {
  const Metrics &two = two_ranks(), &one = one_rank(), &ref = one_rank_accum();
  ASSERT_EQ(two.loss.size(), one.loss.size());
  double noise = 0, worst = 0;  // relative distances: reference vs batch 8, 2 ranks vs batch 8
  for (size_t s = 0; s < one.loss.size(); ++s) {
    noise = std::max(noise, std::abs(ref.loss[s] - one.loss[s]) / one.loss[s]);
    worst = std::max(worst, std::abs(two.loss[s] - one.loss[s]) / one.loss[s]);
  }
  // The same samples, summed in another fp32 order: the distance must be of reduction-order size
  // (a different batch moves losses by percents; a tiny model in 20 steps amplifies rounding
  // little), and no larger than the reference's, which associates exactly as the ranks do.
  EXPECT_LT(worst, 1e-4) << "2 ranks drift from one process with the same global batch";
  EXPECT_LE(worst, 4 * noise + 1e-7) << "2 ranks are further from batch 8 than reduction order explains";
  for (size_t i = 0; i < one.val_loss.size(); ++i)
    EXPECT_NEAR(two.val_loss[i], one.val_loss[i], 1e-4 * one.val_loss[i]) << "val_loss " << i;
  std::printf("[ mpi ] 2 ranks vs 1 process (batch 8): max relative loss difference %.3g over %d steps\n", worst,
              kSteps);
}

// ZeRO-1's parameters equal plain data parallel's bitwise: the reduce-scatter is the rank-ordered
// sum of the all-reduce and AdamW is elementwise. Only the reported norm may differ in its last
// bits: ZeRO sums the shards' f64 sums of squares, plain DP sums the whole arena in one f64 pass
// (about 1e-16 relative; the fp32 clip factor computed from it comes out the same).
TEST_F(MpiTrain, ZeroOneEqualsPlainDataParallel) {
  expect_bitwise(two_ranks_zero(), two_ranks(), "ZeRO-1 vs plain DP", true, 1e-13);
}

TEST_F(MpiTrain, BatchNotDivisibleByTheWorldSizeIsAClearError) {
  const std::string dir = run_dir("indivisible");
  const Launch r = train(2, dir, "--set train.batch_size=5");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("train.batch_size = 5 is not divisible by the world size 2"), std::string::npos) << r.output;
  std::filesystem::remove_all(dir);
}

TEST_F(MpiTrain, RankExitingMidStepStopsTheOthersWithAMessage) {
  const std::string dir = run_dir("fault");
  const Launch r = train(2, dir, "--set train.steps=50 --set dist.timeout_s=10", "GOATLM_DIST_FAULT=1:3");
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.status, 124) << "the job hung:\n" << r.output;
  EXPECT_LT(r.seconds, 60) << r.output;
  EXPECT_NE(r.output.find("[dist] GOATLM_DIST_FAULT: rank 1 exits in step 3"), std::string::npos) << r.output;
  // Rank 0 waits in the gradient all-reduce; the launcher stops it (or its watchdog fires).
  const bool stopped = r.output.find("[dist] rank 0/2: stopped by the launcher (SIGTERM) while waiting in all_reduce") !=
                       std::string::npos;
  const bool timed_out = r.output.find("[dist] rank 0/2: all_reduce of") != std::string::npos &&
                         r.output.find("did not complete within 10 s (dist.timeout_s)") != std::string::npos;
  EXPECT_TRUE(stopped || timed_out) << "rank 0 gave no clear message:\n" << r.output;
  // Rank 0 logged steps 1 and 2 only; step 3 never completed.
  std::ifstream f(dir + "/metrics.jsonl");
  int lines = 0;
  for (std::string line; std::getline(f, line);) ++lines;
  EXPECT_EQ(lines, 2) << r.output;
  std::filesystem::remove_all(dir);
}

// Save at step 10 on one world size, die, resume on another: the checkpoint (train/checkpoint.h)
// holds full unsharded parameters and moments, so the losses after the resume follow the
// uninterrupted run to fp32 reduction order (1 vs 2 ranks), and before it equal the saving run's.
// The saving run is killed in step 12 (GOATLM_DIST_FAULT), after checkpoint 10 is on disk.
void resume_across_world_sizes(int save_ranks, const std::string& save_extra, int resume_ranks,
                               const std::string& resume_extra, const Metrics& saver_uninterrupted,
                               const Metrics& one_process, const Metrics& reference) {
  const std::string dir = run_dir("resume_" + std::to_string(save_ranks) + "_" + std::to_string(resume_ranks));
  const std::string ckpt = "--set train.ckpt_every=10 ";
  const Launch died = train(save_ranks, dir, ckpt + save_extra, "GOATLM_DIST_FAULT=" + std::to_string(std::max(save_ranks - 1, 0)) + ":12");
  ASSERT_NE(died.status, 0) << died.output;
  ASSERT_TRUE(std::filesystem::exists(dir + "/checkpoints/step_00000010")) << died.output;
  const Launch resumed = train(resume_ranks, dir, ckpt + resume_extra);
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resuming from"), std::string::npos) << resumed.output;
  const Metrics m = read_metrics(dir);
  ASSERT_EQ(m.loss.size(), static_cast<size_t>(kSteps)) << resumed.output;
  for (size_t s = 0; s < 10; ++s) EXPECT_EQ(m.loss[s], saver_uninterrupted.loss[s]) << "step " << s + 1;
  double noise = 0, worst = 0;
  for (size_t s = 10; s < m.loss.size(); ++s) {
    noise = std::max(noise, std::abs(reference.loss[s] - one_process.loss[s]) / one_process.loss[s]);
    worst = std::max(worst, std::abs(m.loss[s] - one_process.loss[s]) / one_process.loss[s]);
  }
  EXPECT_LT(worst, 1e-4) << "the resumed run drifts from the uninterrupted one";
  EXPECT_LE(worst, 4 * noise + 1e-7) << "the resumed run is further off than reduction order explains";
  std::printf("[ mpi ] saved on %d, resumed on %d ranks: max relative loss difference to the uninterrupted run %.3g\n",
              std::max(save_ranks, 1), std::max(resume_ranks, 1), worst);
  std::filesystem::remove_all(dir);
}

TEST_F(MpiTrain, SavedOnTwoZeroRanksResumesOnOneProcess) {
  resume_across_world_sizes(2, "--set dist.zero=1", 0, "", two_ranks_zero(), one_rank(), one_rank_accum());
}

TEST_F(MpiTrain, SavedOnOneProcessResumesOnTwoZeroRanks) {
  resume_across_world_sizes(0, "", 2, "--set dist.zero=1", one_rank(), one_rank(), one_rank_accum());
}

}  // namespace
