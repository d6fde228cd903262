// Export → PyTorch for every position type, in process: tiny models with every parameter drawn
// far from its init (tests/model/tiny_model.h: GOAT's b, bump, sink MLP and gain all matter), the
// export written by export_model(), the logits by eval::dump_logits(), and scripts/torch_model.py
// (an independent PyTorch GPT whose GOAT layer follows the authors' GoatAttention, loading the
// export with strict=True) recomputing them: max |Δlogit| ≤ 1e-4 at every position, within the
// training length and 8× past it, and equal losses. The export's extra tensors (prior gate,
// frequency buffers) are checked against their definitions. Skipped when /usr/bin/python3 lacks
// torch; the CLI path (goatlm export / eval --dump-logits) is tests/e2e/test_export.cpp.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "e2e/cli_run.h"
#include "eval/logit_dump.h"
#include "model/position_goat.h"
#include "model/tiny_model.h"
#include "train/export.h"

namespace goat::test {
namespace {

constexpr const char* kPython = "/usr/bin/python3";
constexpr double kTolerance = 1e-4;  // max |Δlogit| (issue #4)
constexpr int64_t kTrainLen = 16;

struct TorchCase {
  std::string name, position;
  int64_t n_kv_head = 0, pos_rank = 2;
  bool key_bias = true;
  std::string init = "seeded", pairing = "half";
};

Config case_config(const TorchCase& c) {
  Config cfg;
  cfg.model = tiny_config(c.position, 32);
  cfg.model.n_kv_head = c.n_kv_head;
  cfg.model.position.pos_rank = c.pos_rank;
  cfg.model.position.key_bias = c.key_bias;
  cfg.model.position.init = c.init;
  cfg.model.position.rope_pairing = c.pairing;
  cfg.train.seq_len = kTrainLen;
  return cfg;
}

TEST(ExportTorch, EveryPositionTypeMatchesPyTorch) {
  if (run(std::string(kPython) + " -c 'import torch, numpy'").code != 0)
    GTEST_SKIP() << kPython << " cannot import torch and numpy: export round trip not checked";
  const std::vector<TorchCase> cases = {
      {"learned", "learned"},
      {"sinusoidal", "sinusoidal"},
      {"rope_half", "rope"},
      {"rope_interleaved", "rope", 0, 2, true, "seeded", "interleaved"},
      {"alibi_gqa", "alibi", 1},
      {"none", "none"},
      {"goat", "goat"},
      {"goat_gqa", "goat", 1},
      {"goat_uniform", "goat", 0, 2, true, "uniform"},
      {"goat_no_key_bias", "goat", 0, 2, false},
      {"goat_r0", "goat", 0, 0},
  };
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("goatlm_export_torch_" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(dir);
  std::string args;
  std::vector<std::pair<std::string, int64_t>> expected;  // (case, length) per python output line
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const TorchCase& c = cases[ci];
    const Config cfg = case_config(c);
    Gpt g(cfg.model, kTrainLen);
    randomize(g, 11 + ci);
    const std::string out = dir + "/" + c.name;
    export_model(g, cfg, out, "test");
    // Windows at the training length, and (but for learned positions) 8× past it.
    std::vector<std::pair<int64_t, int64_t>> shapes{{3, kTrainLen}};
    if (c.position != "learned") shapes.emplace_back(1, 8 * kTrainLen);
    for (const auto& [B, T] : shapes) {
      Activations acts(cfg.model, B, T);
      random_tokens(acts.inputs, cfg.model.vocab_size, 100 + ci);
      random_tokens(acts.targets, cfg.model.vocab_size, 200 + ci);
      const std::string dump = out + "/dump_" + std::to_string(T) + ".safetensors";
      eval::dump_logits(g, acts, dump);
      args += " --case " + out + " " + dump;
      expected.emplace_back(c.name, T);
    }
  }
  const Result py = run(std::string(kPython) + " " + env("GOATLM_SOURCE_DIR") + "/scripts/torch_model.py" + args);
  ASSERT_EQ(py.code, 0) << py.out;
  std::istringstream lines(py.out);
  std::string line;
  size_t seen = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '{') continue;
    ASSERT_LT(seen, expected.size()) << py.out;
    const auto& [name, T] = expected[seen++];
    SCOPED_TRACE(name + " T=" + std::to_string(T));
    const auto j = nlohmann::json::parse(line);
    EXPECT_TRUE(j["strict_load"].get<bool>());
    // Each GOAT layer's slice h.{i}.attn.* also loads strictly into a standalone GoatAttention.
    EXPECT_EQ(j["goat_layer_slices_loaded"].get<int64_t>(), name.rfind("goat", 0) == 0 ? 2 : 0);
    const auto per_pos = j["max_abs_dlogit_per_pos"].get<std::vector<double>>();
    ASSERT_EQ(static_cast<int64_t>(per_pos.size()), T);
    for (int64_t t = 0; t < T; ++t) ASSERT_LE(per_pos[static_cast<size_t>(t)], kTolerance) << "position " << t;
    EXPECT_GT(j["max_abs_logit"].get<double>(), 0.5);  // logits far from zero: the comparison means something
    const double lg = j["loss_goatlm"].get<double>(), lt = j["loss_torch"].get<double>();
    EXPECT_NEAR(lt, lg, 1e-5 * std::max(1.0, lg));
    std::printf("%-17s T=%-4lld max |dlogit| %.3g  loss goatlm %.6f torch %.6f\n", name.c_str(),
                static_cast<long long>(T), j["max_abs_dlogit"].get<double>(), lg, lt);
  }
  EXPECT_EQ(seen, expected.size()) << py.out;
  std::filesystem::remove_all(dir);
}

// The tensors the export adds for a strict load into GoatAttention: the prior gate at its "off"
// values (scale_raw −10, bias +10 per query head), the frequency buffers 10000^(−r / max(n−1, 1)),
// and (Hkv, 0) Fourier weights when R = 0; everything else is the model's own parameters.
TEST(ExportTorch, GoatExtrasFollowTheReferenceModule) {
  for (const int64_t R : {int64_t{3}, int64_t{0}}) {
    Config cfg;
    cfg.model = tiny_config("goat", 32);
    cfg.model.n_kv_head = 1;
    cfg.model.position.pos_rank = R;
    cfg.model.position.abs_rank = 3;
    cfg.train.seq_len = kTrainLen;
    Gpt g(cfg.model, kTrainLen);
    g.init(5);
    const Arena a = export_tensors(g, resolved_export_config(cfg));
    for (const auto& e : g.params().entries()) {
      const Tensor want = g.params().view(e.name), got = a.view(e.name);
      ASSERT_EQ(got.shape, want.shape) << e.name;
      for (int64_t i = 0; i < want.numel(); ++i) ASSERT_EQ(got.f32()[i], want.f32()[i]) << e.name;
    }
    for (int64_t l = 0; l < cfg.model.n_layer; ++l) {
      const std::string p = "h." + std::to_string(l) + ".attn.";
      for (const auto& [name, value] : {std::pair{"prior_gate_scale_raw", -10.f}, std::pair{"prior_gate_bias", 10.f}}) {
        const Tensor t = a.view(p + name);
        ASSERT_EQ(t.shape, Shape{cfg.model.n_head}) << name;
        for (int64_t h = 0; h < cfg.model.n_head; ++h) EXPECT_EQ(t.f32()[h], value) << name;
      }
      for (const auto& [name, n] : {std::pair{"rel_freqs_base", R}, std::pair{"abs_freqs_base", int64_t{3}}}) {
        const Tensor t = a.view(p + name);
        ASSERT_EQ(t.shape, Shape{n}) << name;
        for (int64_t r = 0; r < n; ++r)
          EXPECT_EQ(t.f32()[r],
                    static_cast<float>(
                        std::pow(10000.0, -static_cast<double>(r) / static_cast<double>(std::max<int64_t>(n - 1, 1)))))
              << name << " " << r;
      }
      EXPECT_EQ(a.view(p + "lambda_sym").shape, (Shape{1, R}));
      EXPECT_EQ(a.view(p + "lambda_asym").shape, (Shape{1, R}));
    }
    // Resolved config: D and the KV head count written out.
    const Config r = resolved_export_config(cfg);
    EXPECT_EQ(r.model.position.train_len, kTrainLen);
    EXPECT_EQ(r.model.n_kv_head, 1);
  }
}

}  // namespace
}  // namespace goat::test
