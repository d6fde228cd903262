// End to end through the binary: train (files and their formats), sample, eval, bench train, and
// config errors reported with their JSON path and a non-zero exit.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "backend/cuda/cuda_ops.h"
#include "cli_run.h"

namespace {

using goat::test::env;
using goat::test::last_line;
using goat::test::Result;
using goat::test::run;

class Cli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // $GOATLM_BINARY if a user sets it; otherwise the binary sits one level above this test's.
    bin_ = goat::test::goatlm_binary();
    src_ = env("GOATLM_SOURCE_DIR");
    run_ = (std::filesystem::temp_directory_path() / ("goatlm_e2e_" + std::to_string(::getpid()))).string();
    std::filesystem::remove_all(run_);
    train_ = run(bin_ + " train --config " + src_ + "/configs/tiny.json --set train.steps=12 --set train.eval_every=5" +
                 " --set train.log_every=4 --set train.ckpt_every=10 --run-dir " + run_);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(run_); }
  static std::string bin_, src_, run_;
  static Result train_;
};
std::string Cli::bin_, Cli::src_, Cli::run_;
Result Cli::train_;

TEST_F(Cli, TrainWritesConfigMetricsAndWeights) {
  ASSERT_EQ(train_.code, 0) << train_.out;
  EXPECT_NE(train_.out.find("tok/s"), std::string::npos);
  EXPECT_NE(train_.out.find("MFU"), std::string::npos);
  std::ifstream cf(run_ + "/config.json");
  const auto cfg = nlohmann::json::parse(cf);
  EXPECT_EQ(cfg["train"]["steps"], 12);                 // the --set is in the resolved config
  EXPECT_EQ(cfg["model"]["position"]["type"], "rope");  // from the file
  EXPECT_TRUE(cfg["train"].contains("grad_clip"));      // defaults are filled in
  std::ifstream mf(run_ + "/metrics.jsonl");
  std::string line;
  int train_lines = 0, eval_lines = 0;
  while (std::getline(mf, line)) {
    const auto j = nlohmann::json::parse(line);
    ASSERT_TRUE(j.contains("step"));
    if (j.contains("val_loss")) {
      EXPECT_FALSE(j.contains("loss"));
      ++eval_lines;
    } else {
      for (const char* k : {"loss", "lr", "tokens_per_s"}) EXPECT_TRUE(j.contains(k)) << k << " in " << line;
      EXPECT_EQ(j["step"], ++train_lines);
    }
  }
  EXPECT_EQ(train_lines, 12);
  EXPECT_EQ(eval_lines, 3);  // steps 5, 10, 12
  EXPECT_TRUE(std::filesystem::exists(run_ + "/model.safetensors"));
}

TEST_F(Cli, SampleAndEvalLoadTheRun) {
  ASSERT_EQ(train_.code, 0) << train_.out;
  const Result s = run(bin_ + " sample --run " + run_ + " --prompt 'the ' --tokens 20 --seed 3");
  ASSERT_EQ(s.code, 0) << s.out;
  EXPECT_EQ(last_line(s.out).rfind("the ", 0), 0u) << s.out;
  EXPECT_EQ(s.out, run(bin_ + " sample --run " + run_ + " --prompt 'the ' --tokens 20 --seed 3").out);  // reproducible
  const Result e = run(bin_ + " eval --run " + run_ + " --batches 2");
  ASSERT_EQ(e.code, 0) << e.out;
  const auto j = nlohmann::json::parse(last_line(e.out));
  EXPECT_GT(j["val_loss"].get<double>(), 0.5);
  EXPECT_LT(j["val_loss"].get<double>(), 5.6);
  EXPECT_EQ(j["tokens"], 2 * 16 * 64);
}

TEST_F(Cli, BenchTrainEndsWithJson) {
  const Result b = run(bin_ + " bench train --config " + src_ + "/configs/tiny.json --steps 2 --warmup 1");
  ASSERT_EQ(b.code, 0) << b.out;
  const auto j = nlohmann::json::parse(last_line(b.out));
  EXPECT_GT(j["tokens_per_s"].get<double>(), 0);
}

TEST_F(Cli, ConfigErrorsNameThePath) {
  const Result r = run(bin_ + " train --config " + src_ +
                       "/configs/tiny.json --set model.position.type=rop --run-dir " + run_ + "_bad");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(
      r.out.find(
          "model.position.type: expected one of learned|sinusoidal|rope|alibi|none|goat, got \"rop\" (from --set)"),
      std::string::npos)
      << r.out;
  EXPECT_FALSE(std::filesystem::exists(run_ + "_bad"));
  if (goat::cuda::built() && goat::cuda::device_count() > 0) return;  // device cuda trains (tests/cuda/test_cuda_cli.cpp)
  const Result c = run(bin_ + " train --config " + src_ + "/configs/tiny.json --set device=cuda --run-dir " + run_ + "_bad");
  EXPECT_NE(c.code, 0);
  EXPECT_TRUE(c.out.find("built without CUDA") != std::string::npos ||
              c.out.find("no usable CUDA device") != std::string::npos)
      << c.out;
}

}  // namespace
