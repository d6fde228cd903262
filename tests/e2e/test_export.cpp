// Export round trip through the CLI: a tiny model trained a few steps with `goatlm train` is
// exported (`goatlm export`), its logits on fixed tokens dumped (`goatlm eval --dump-logits`), and
// scripts/torch_model.py — a plain PyTorch GPT whose GOAT layer follows the authors' GoatAttention —
// loads the export with strict=True and recomputes them. Every position type, with randomised
// weights, is tests/goat/test_export_torch.cpp; here learned (wpe) and GOAT, trained.
// max |Δlogit| ≤ 1e-4 at every position and the losses agree, within the training length and up to
// 16× past it. The reference computes GOAT's Fourier features and recency lane in fp32, an error
// that grows with position (goat.md §6 fact 12: ≈2e-6 at t ≈ 1k, ≈3e-5 at t ≈ 16k), so 1e-4 holds at
// the lengths tested here (≤ 1024). Skipped when /usr/bin/python3 lacks torch.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_run.h"

namespace {

using goat::test::env;
using goat::test::last_line;
using goat::test::Result;
using goat::test::run;

constexpr const char* kPython = "/usr/bin/python3";
constexpr int64_t kTrainLen = 64;  // configs/tiny.json train.seq_len

struct ExportCase {
  const char* name;
  const char* sets;  // --set overrides on configs/tiny.json
  int64_t long_len;  // a second comparison at this length (> kTrainLen), or 0
};

const ExportCase kCases[] = {
    {"learned", "--set model.position.type=learned", 0},
    {"goat", "--set model.position.type=goat", 1024},
};

bool python_has_torch() { return run(std::string(kPython) + " -c 'import torch, numpy'").code == 0; }

constexpr double kTolerance = 1e-4;  // max |Δlogit| (issue #4)

class Export : public ::testing::TestWithParam<ExportCase> {
 protected:
  void SetUp() override {
    if (!python_has_torch()) GTEST_SKIP() << kPython << " cannot import torch and numpy: export round trip not checked";
    bin_ = goat::test::goatlm_binary();
    src_ = env("GOATLM_SOURCE_DIR");
    dir_ = (std::filesystem::temp_directory_path() /
            ("goatlm_export_" + std::string(GetParam().name) + "_" + std::to_string(::getpid())))
               .string();
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Runs a command that must succeed; returns its output.
  std::string must(const std::string& cmd) {
    const Result r = run(cmd);
    EXPECT_EQ(r.code, 0) << cmd << "\n" << r.out;
    return r.out;
  }

  std::string bin_, src_, dir_;
};

TEST_P(Export, TorchModelReproducesLogits) {
  const ExportCase& c = GetParam();
  const std::string runs = dir_ + "/run", out = dir_ + "/export";
  // 10 steps at a high learning rate move every parameter (GOAT's b, bump, MLP included) well
  // away from its init, so each term of the layer shows in the logits.
  must(bin_ + " train --config " + src_ + "/configs/tiny.json " + c.sets +
       " --set train.steps=10 --set train.batch_size=4 --set train.lr=0.03 --set train.warmup_steps=0"
       " --set train.eval_every=0 --set train.eval_batches=1 --run-dir " +
       runs);
  if (HasFailure()) return;
  must(bin_ + " export --run " + runs + " --out " + out);
  std::vector<std::pair<std::string, int64_t>> dumps{{dir_ + "/dump.safetensors", kTrainLen}};
  if (c.long_len > 0) dumps.emplace_back(dir_ + "/long.safetensors", c.long_len);
  std::string cases;
  for (const auto& [path, len] : dumps) {
    must(bin_ + " eval --run " + runs + " --batches 1 --batch-size " + (len > kTrainLen ? "1" : "4") + " --seq-len " +
         std::to_string(len) + " --dump-logits " + path);
    cases += " --case " + out + " " + path;
  }
  if (HasFailure()) return;
  const std::string py = must(std::string(kPython) + " " + src_ + "/scripts/torch_model.py" + cases);
  if (HasFailure()) return;
  std::istringstream lines(py);
  std::string line;
  size_t seen = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '{') continue;
    const auto j = nlohmann::json::parse(line);
    ASSERT_LT(seen, dumps.size()) << py;
    const int64_t len = dumps[seen++].second;
    SCOPED_TRACE(c.name + std::string(" T=") + std::to_string(len));
    EXPECT_TRUE(j["strict_load"].get<bool>());
    EXPECT_EQ(j["seq_len"].get<int64_t>(), len);
    const auto per_pos = j["max_abs_dlogit_per_pos"].get<std::vector<double>>();
    ASSERT_EQ(static_cast<int64_t>(per_pos.size()), len);
    for (int64_t t = 0; t < len; ++t) ASSERT_LE(per_pos[static_cast<size_t>(t)], kTolerance) << "position " << t;
    // The logits are not trivially small (the comparison means something).
    EXPECT_GT(j["max_abs_logit"].get<double>(), 1.0);
    const double lg = j["loss_goatlm"].get<double>(), lt = j["loss_torch"].get<double>();
    EXPECT_NEAR(lt, lg, 1e-5 * std::max(1.0, lg));
    std::printf("%s T=%lld: max |dlogit| %.3g, loss goatlm %.6f torch %.6f\n", c.name, static_cast<long long>(len),
                j["max_abs_dlogit"].get<double>(), lg, lt);
  }
  EXPECT_EQ(seen, dumps.size()) << py;
  // `eval --diag`: the attention diagnostics of the evaluated batches, n_layer × n_head each.
  const std::string ev = must(bin_ + " eval --run " + runs + " --batches 2 --batch-size 2 --diag");
  const auto e = nlohmann::json::parse(last_line(ev));
  ASSERT_TRUE(e.contains("diag")) << ev;
  EXPECT_EQ(e["diag"]["rows"].get<int64_t>(), 2 * 2 * kTrainLen);
  for (const char* s : {"entropy", "sink_mass", "p_max", "kl", "omega"}) {
    ASSERT_EQ(e["diag"][s].size(), 2u) << s;  // configs/tiny.json: 2 layers of 4 heads
    EXPECT_EQ(e["diag"][s][0].size(), 4u) << s;
  }
}

INSTANTIATE_TEST_SUITE_P(Positions, Export, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
