// train.diag_every on device cuda end to end (label cuda; emulated in the EMU build): GOAT tiny
// config (configs/tiny.json, 2 layers, 4 heads, prior lanes so KL and ω see content_dim < D),
// B = 2, T = 16, 2 steps with diagnostics every step and one evaluation (val_diag), fp32:
// - the "diag" and "val_diag" records of metrics.jsonl equal the CPU run's within
//   1e-5·|cpu| + 1e-5·max(1, max |stat|): each side prints 6 significant digits (≤ 5e-6 relative
//   each), and the fp32 device run follows the CPU run's weights to ~1e-6 relative (the kernels
//   differ only in summation order; CudaModel.Fp32MatchesCpu bounds the losses at 1e-5), an
//   error relative to the stat's scale, at least the O(1) log terms (LSE, logZπ) KL subtracts;
// - the device run's losses are bit-identical with diagnostics on and off (the pass only reads
//   the forward's q, k and LSE).
// The op-level comparison (fp32 and bf16, fused and plain forward) is in
// cuda_attention_diag_cases.cpp.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "backend/cuda/cuda_ops.h"
#include "core/device_info.h"
#include "train/trainer.h"

namespace goat {
namespace {

constexpr const char* kStats[] = {"entropy", "sink_mass", "p_max", "kl", "omega"};

Config run_config(const std::string& device, int64_t diag_every) {
  const char* src = std::getenv("GOATLM_SOURCE_DIR");
  return load_config(std::string(src ? src : ".") + "/configs/tiny.json",
                     {"model.position.type=goat", "device=" + device, "dtype=fp32", "train.steps=2",
                      "train.batch_size=2", "train.seq_len=16", "train.eval_every=2", "train.eval_batches=1",
                      "train.diag_every=" + std::to_string(diag_every), "data.synthetic.train_tokens=65536",
                      "data.synthetic.val_tokens=4096"});
}

std::vector<OrderedJson> run(const std::string& dir, const std::string& device, int64_t diag_every) {
  Trainer(run_config(device, diag_every), dir, false).run();
  std::ifstream f(dir + "/metrics.jsonl");
  std::vector<OrderedJson> out;
  std::string line;
  while (std::getline(f, line)) out.push_back(OrderedJson::parse(line));
  return out;
}

std::vector<double> losses(const std::vector<OrderedJson>& m) {
  std::vector<double> v;
  for (const auto& j : m)
    if (j.contains("loss")) v.push_back(j["loss"].get<double>());
  return v;
}

TEST(CudaDiagnostics, TrainRecordsMatchCpuAndLeaveLossesBitIdentical) {
  if (!cuda::built() || cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device: " << cuda_status();
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("goatlm_cuda_diag_" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(dir);
  const auto cpu = run(dir + "/cpu", "cpu", 1);
  const auto on = run(dir + "/cuda_on", "cuda", 1);
  const auto off = run(dir + "/cuda_off", "cuda", 0);
  ASSERT_EQ(losses(on).size(), 2u);
  EXPECT_EQ(losses(on), losses(off));  // bit-identical

  int records = 0;
  double worst = 0;
  ASSERT_EQ(cpu.size(), on.size());
  for (size_t r = 0; r < cpu.size(); ++r)
    for (const char* key : {"diag", "val_diag"}) {
      ASSERT_EQ(cpu[r].contains(key), on[r].contains(key)) << "line " << r;
      if (!cpu[r].contains(key)) continue;
      ++records;
      const auto &c = cpu[r][key], &g = on[r][key];
      EXPECT_EQ(c["rows"], g["rows"]);
      for (const char* s : kStats) {
        double scale = 1;
        for (const auto& layer : c[s])
          for (const auto& v : layer) scale = std::max(scale, std::fabs(v.get<double>()));
        ASSERT_EQ(c[s].size(), g[s].size()) << s;
        for (size_t l = 0; l < c[s].size(); ++l)
          for (size_t h = 0; h < c[s][l].size(); ++h) {
            const double want = c[s][l][h], got = g[s][l][h];
            const double tol = 1e-5 * std::fabs(want) + 1e-5 * scale;
            worst = std::max(worst, std::fabs(got - want) / tol);
            EXPECT_LE(std::fabs(got - want), tol) << key << " " << s << " layer " << l << " head " << h;
          }
      }
    }
  EXPECT_EQ(records, 3);  // diag at steps 1 and 2, val_diag at step 2
  std::printf("diag records: worst |cuda - cpu| / tolerance %.3f\n", worst);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace goat
