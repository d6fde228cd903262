// `goatlm train` with device "cuda" end to end through the CLI (the EMU build runs it on the
// emulated device): exit 0, the log names the CUDA state honestly, metrics.jsonl has every step
// with a finite loss, and the weights file is written (copied down from the device). Skips where
// the build has no CUDA backend or no device (tests/e2e checks the error there).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "backend/cuda/cuda_ops.h"
#include "core/device_info.h"

namespace goat {
namespace {

TEST(CudaCli, TrainOnCudaEndToEnd) {
  if (!cuda::built() || cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device: " << cuda_status();
  const char* src = std::getenv("GOATLM_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  const auto build = std::filesystem::canonical("/proc/self/exe").parent_path().parent_path().parent_path();
  const std::string bin = (build / "goatlm").string();
  ASSERT_TRUE(std::filesystem::exists(bin)) << bin;
  const auto dir = std::filesystem::temp_directory_path() / ("goatlm_cuda_cli_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const std::string cmd = bin + " train --config " + src +
                          "/configs/tiny.json --set device=cuda --set dtype=bf16 --set train.steps=3 "
                          "--set train.batch_size=2 --set train.seq_len=32 --set train.eval_batches=1 "
                          "--set data.synthetic.train_tokens=16384 --set data.synthetic.val_tokens=4096 --run-dir " +
                          dir.string() + " 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[4096];
  while (fgets(buf, sizeof buf, p)) out += buf;
  const int code = pclose(p);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("device: cuda (" + cuda_status() + "), dtype bf16"), std::string::npos) << out;
  std::ifstream m(dir / "metrics.jsonl");
  int steps = 0;
  for (std::string line; std::getline(m, line);) {
    const auto j = nlohmann::json::parse(line);
    if (!j.contains("loss")) continue;
    ++steps;
    EXPECT_TRUE(std::isfinite(j["loss"].get<double>())) << line;
  }
  EXPECT_EQ(steps, 3);
  EXPECT_GT(std::filesystem::file_size(dir / "model.safetensors"), 100000u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace goat
