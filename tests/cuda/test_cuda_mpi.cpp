// Data parallel on device cuda with real `mpirun -np 2` processes. In the EMU build the device is
// the host SIMT emulation, whose device memory is host memory, so the ranks' communicator is MPI
// over the model's device arenas (dist.backend auto picks it there; on GPUs it is NCCL). The
// trainer's CUDA path runs unchanged: the overlapped bucketed all-reduce on the comm stream
// (train/overlapped_allreduce.h), ZeRO-1's reduce-scatter / sharded fused AdamW / all-gather in
// device memory. Emulated steps are slow, so the tiny config is shrunk (d_model 32, batch 4 of 8
// tokens, 3 steps, small buckets so the arena spans several), one OpenMP and one emulation
// thread per process. Skips without a CUDA device (the real build here), without MPI or mpirun.
//
// Bitwise references (as tests/mpi/test_mpi_train.cpp on the CPU):
//   2 ranks x 2 rows            = 1 process, 2 rows x grad_accum 2 (the same samples, the same
//                                 association of the sum; the MPI sum is rank-ordered);
//   ZeRO-1 on 2 ranks           = plain data parallel on 2 ranks (AdamW is elementwise);
//   ZeRO-1, bf16, on 2 ranks    = plain, bf16, on 2 ranks (the gathered working copy's bits are
//                                 the fused AdamW kernel's own).
// And a checkpoint saved on 2 ZeRO-1 ranks resumes on one process (reduction-order tolerance).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../mpi/timed_shell.h"
#include "backend/cuda/cuda_ops.h"
#include "core/device_info.h"
#include "dist/communicator.h"

namespace goat {
namespace {

struct Metrics {
  std::vector<double> loss, grad_norm;
  std::string output;
};

// `goatlm train` on device cuda in `dir`; ranks 0: one process without a launcher; env: one
// VAR=value for every process.
test::TimedRun train_in(const std::string& dir, int ranks, const std::string& extra, const std::string& env = "") {
#if defined(GOATLM_MPIRUN)
  const char* src = std::getenv("GOATLM_SOURCE_DIR");
  const auto build = std::filesystem::canonical("/proc/self/exe").parent_path().parent_path().parent_path();
  std::string cmd = "timeout -k 5 400 env OMP_NUM_THREADS=1 GOATLM_SIMT_THREADS=1 " + env + " ";
  if (ranks > 0)
    cmd += std::string(GOATLM_MPIRUN) +
           " --allow-run-as-root --oversubscribe --bind-to none -x OMP_NUM_THREADS -x GOATLM_SIMT_THREADS " +
           (env.empty() ? "" : "-x " + env.substr(0, env.find('=')) + " ") + "-np " + std::to_string(ranks) + " ";
  cmd += (build / "goatlm").string() + " train --config " + (src ? src : ".") + "/configs/tiny.json --run-dir " + dir +
         " --set device=cuda --set model.d_model=32 --set model.n_head=2 --set train.steps=3 --set train.batch_size=4"
         " --set train.seq_len=8 --set train.eval_every=0 --set train.eval_batches=1 --set train.warmup_steps=1"
         " --set data.synthetic.train_tokens=16384 --set data.synthetic.val_tokens=4096 --set dist.bucket_mb=0.02 " +
         extra;
  test::TimedRun r = test::timed_shell(cmd);
  r.output = cmd + "\n" + r.output;
  return r;
#else
  (void)dir, (void)ranks, (void)extra, (void)env;
  return {};
#endif
}

std::string fresh_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("goatlm_cuda_mpi_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

Metrics read_metrics(const std::string& dir) {
  Metrics m;
  std::ifstream f(dir + "/metrics.jsonl");
  for (std::string line; std::getline(f, line);) {
    const auto j = nlohmann::json::parse(line);
    if (!j.contains("loss")) continue;
    m.loss.push_back(j["loss"].get<double>());
    m.grad_norm.push_back(j["grad_norm"].get<double>());
  }
  return m;
}

Metrics train(const std::string& name, int ranks, const std::string& extra) {
  const std::string dir = fresh_dir(name);
  const test::TimedRun r = train_in(dir, ranks, extra);
  EXPECT_EQ(r.status, 0) << r.output;
  Metrics m = read_metrics(dir);
  m.output = r.output;
  EXPECT_EQ(m.loss.size(), 3u) << m.output;
  std::filesystem::remove_all(dir);
  return m;
}

class CudaMpi : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda::built() || cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device: " << cuda_status();
#if !defined(GOATLM_MPIRUN)
    GTEST_SKIP() << "built without MPI or mpirun";
#endif
    if (!cuda::emulated() && !nccl_built()) GTEST_SKIP() << "a real GPU build without NCCL";
  }
  static const Metrics& get(const std::string& name, int ranks, const std::string& extra) {
    static std::map<std::string, Metrics> cache;
    const auto it = cache.find(name);
    if (it != cache.end()) return it->second;
    return cache.emplace(name, train(name, ranks, extra)).first->second;
  }
};

// Bitwise equal losses; gradient norms bitwise (norm_rel_tol 0) or within norm_rel_tol.
void expect_bitwise(const Metrics& a, const Metrics& b, const std::string& what, double norm_rel_tol = 0) {
  ASSERT_EQ(a.loss.size(), b.loss.size()) << what;
  for (size_t s = 0; s < a.loss.size(); ++s) {
    EXPECT_EQ(a.loss[s], b.loss[s]) << what << ": loss at step " << s + 1 << "\n" << a.output;
    EXPECT_NEAR(a.grad_norm[s], b.grad_norm[s], norm_rel_tol * b.grad_norm[s]) << what << ": grad_norm at step " << s + 1;
  }
}

TEST_F(CudaMpi, TwoRanksEqualOneProcessBitwise) {
  const Metrics& two = get("two", 2, "");
  EXPECT_NE(two.output.find("dist: backend "), std::string::npos) << two.output;
  expect_bitwise(two, get("one_accum", 0, "--set train.batch_size=2 --set train.grad_accum=2"),
                 "2 ranks x 2 rows vs 1 process 2 rows x grad_accum 2");
}

TEST_F(CudaMpi, ZeroEqualsPlainDataParallel) {
  // The norm: the sum of the two shards' f64 partial sums vs one pass (~1e-16 relative).
  expect_bitwise(get("two_zero", 2, "--set dist.zero=1"), get("two", 2, ""), "ZeRO-1 vs plain, fp32", 1e-13);
}

TEST_F(CudaMpi, ZeroEqualsPlainDataParallelBf16) {
  expect_bitwise(get("two_zero_bf16", 2, "--set dist.zero=1 --set dtype=bf16"),
                 get("two_bf16", 2, "--set dtype=bf16"), "ZeRO-1 vs plain, bf16 working copy", 1e-13);
}

// Checkpoint at step 2 on 2 ZeRO-1 ranks, rank 1 dies in step 3, the run resumes on one process
// (the moments are gathered on the device, copied down, written unsharded; read back and copied
// up): steps 1-2 bitwise the saving configuration's, step 3 within reduction-order distance of
// the uninterrupted one-process run (the distance between the two one-process references).
TEST_F(CudaMpi, SavedOnTwoZeroRanksResumesOnOneProcess) {
  const std::string dir = fresh_dir("resume");
  const std::string ckpt = "--set train.ckpt_every=2 ";
  const test::TimedRun died = train_in(dir, 2, ckpt + "--set dist.zero=1", "GOATLM_DIST_FAULT=1:3");
  ASSERT_NE(died.status, 0) << died.output;
  ASSERT_TRUE(std::filesystem::exists(dir + "/checkpoints/step_00000002")) << died.output;
  const test::TimedRun resumed = train_in(dir, 0, ckpt);
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resuming from"), std::string::npos) << resumed.output;
  const Metrics m = read_metrics(dir);
  std::filesystem::remove_all(dir);
  ASSERT_EQ(m.loss.size(), 3u) << resumed.output;
  const Metrics& saver = get("two_zero", 2, "--set dist.zero=1");
  for (size_t s = 0; s < 2; ++s) EXPECT_EQ(m.loss[s], saver.loss[s]) << "step " << s + 1;
  const Metrics& one = get("one_b4", 0, "");
  const Metrics& one_accum = get("one_accum", 0, "--set train.batch_size=2 --set train.grad_accum=2");
  const double noise = std::abs(one_accum.loss[2] - one.loss[2]) / one.loss[2];
  const double err = std::abs(m.loss[2] - one.loss[2]) / one.loss[2];
  EXPECT_LT(err, 1e-4) << "the resumed run drifts from the uninterrupted one";
  EXPECT_LE(err, 4 * noise + 1e-7) << "the resumed run is further off than reduction order explains";
  std::printf("[ cuda mpi ] saved on 2 ZeRO ranks, resumed on 1 process: step 3 loss %.3g relative from the "
              "uninterrupted run (reduction-order distance %.3g)\n",
              err, noise);
}

}  // namespace
}  // namespace goat
