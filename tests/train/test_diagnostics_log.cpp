// train.diag_every: DiagnosticsLog's per layer × head means equal means taken directly over the
// kernel's full (B, H, T) diagnostics buffers of every forward; the trainer writes `diag` and
// `val_diag` records at the right steps, with values in their ranges, and collecting them does
// not change a single loss. (The kernel's diagnostics themselves are tested against dense
// formulas in tests/ops: AttentionDiagnostics.MatchDenseFormulas.)
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/tiny_model.h"
#include "train/diagnostics_log.h"
#include "train/trainer.h"

namespace goat::test {
namespace {

const char* kStats[] = {"entropy", "sink_mass", "p_max", "kl", "omega"};

TEST(DiagnosticsLog, MeansOverForwardsMatchTheKernelBuffers) {
  for (const char* position : {"goat", "alibi", "rope"}) {
    SCOPED_TRACE(position);
    const ModelConfig m = tiny_config(position);
    const int64_t B = 2, T = 16, H = m.n_head, L = m.n_layer, n = B * H * T;
    Gpt g(m, T);
    randomize(g, 3);
    Activations acts(m, B, T);
    // Direct: every layer's full buffers, for two forwards on different tokens.
    std::vector<double> want(static_cast<size_t>(5 * L * H), 0.0);
    std::vector<float> full(static_cast<size_t>(5 * L * n));
    g.set_attention_diagnostics([&](int l) {
      float* p = full.data() + static_cast<size_t>(5 * l * n);
      ops::AttentionDiagnostics d;
      d.entropy = p, d.sink_mass = p + n, d.p_max = p + 2 * n, d.kl = p + 3 * n, d.omega = p + 4 * n;
      return d;
    });
    for (uint64_t f = 0; f < 2; ++f) {
      random_tokens(acts.inputs, m.vocab_size, 10 + f);
      g.forward(acts, false);
      for (int64_t l = 0; l < L; ++l)
        for (int s = 0; s < 5; ++s)
          for (int64_t b = 0; b < B; ++b)
            for (int64_t h = 0; h < H; ++h)
              for (int64_t i = 0; i < T; ++i)
                want[static_cast<size_t>((s * L + l) * H + h)] +=
                    full[static_cast<size_t>(5 * l * n + s * n + (b * H + h) * T + i)] / static_cast<double>(2 * B * T);
    }
    g.set_attention_diagnostics(nullptr);
    DiagnosticsLog log(m, 1, B, T);
    log.begin(g);
    for (uint64_t f = 0; f < 2; ++f) {
      random_tokens(acts.inputs, m.vocab_size, 10 + f);
      g.forward(acts, false);
    }
    const OrderedJson rec = log.end(g);
    EXPECT_EQ(rec["rows"].get<int64_t>(), 2 * B * T);
    for (int s = 0; s < 5; ++s)
      for (int64_t l = 0; l < L; ++l)
        for (int64_t h = 0; h < H; ++h) {
          const double w = want[static_cast<size_t>((s * L + l) * H + h)];
          EXPECT_NEAR(rec[kStats[s]][l][h].get<double>(), w, 1e-5 * std::abs(w) + 1e-9)
              << kStats[s] << " " << l << " " << h;
        }
  }
}

std::vector<OrderedJson> read_metrics(const std::string& path) {
  std::ifstream f(path);
  std::vector<OrderedJson> out;
  std::string line;
  while (std::getline(f, line)) out.push_back(OrderedJson::parse(line));
  return out;
}

Config tiny_run(int64_t diag_every) {
  const char* src = std::getenv("GOATLM_SOURCE_DIR");
  return load_config(std::string(src ? src : ".") + "/configs/tiny.json",
                     {"model.position.type=goat", "train.steps=4", "train.batch_size=4", "train.eval_every=2",
                      "train.eval_batches=1", "train.grad_accum=2", "train.diag_every=" + std::to_string(diag_every)});
}

TEST(DiagnosticsLog, TrainerWritesRecordsWithoutChangingTheRun) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("goatlm_diag_" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(dir);
  Trainer(tiny_run(2), dir + "/on", false).run();
  Trainer(tiny_run(0), dir + "/off", false).run();
  const auto on = read_metrics(dir + "/on/metrics.jsonl"), off = read_metrics(dir + "/off/metrics.jsonl");
  const Config cfg = tiny_run(2);
  const int64_t L = cfg.model.n_layer, H = cfg.model.n_head, T = cfg.train.seq_len;
  std::vector<int64_t> diag_steps, val_steps;
  std::vector<double> losses_on, losses_off;
  for (const auto& j : on) {
    if (j.contains("loss")) losses_on.push_back(j["loss"].get<double>());
    for (const char* key : {"diag", "val_diag"}) {
      if (!j.contains(key)) continue;
      (std::string(key) == "diag" ? diag_steps : val_steps).push_back(j["step"].get<int64_t>());
      const auto& r = j[key];
      // A training step sums its grad_accum micro-batches; an evaluation its eval_batches.
      EXPECT_EQ(r["rows"].get<int64_t>(), (std::string(key) == "diag" ? 2 : 1) * cfg.train.batch_size * T);
      for (const char* s : kStats) {
        ASSERT_EQ(r[s].size(), static_cast<size_t>(L)) << s;
        for (const auto& layer : r[s]) {
          ASSERT_EQ(layer.size(), static_cast<size_t>(H)) << s;
          for (const auto& v : layer) EXPECT_TRUE(std::isfinite(v.get<double>())) << s;
        }
      }
      for (int64_t l = 0; l < L; ++l)
        for (int64_t h = 0; h < H; ++h) {
          const double sink = r["sink_mass"][l][h], pmax = r["p_max"][l][h], ent = r["entropy"][l][h];
          EXPECT_GT(sink, 0.0);
          EXPECT_LE(sink, pmax + 1e-6);  // p_i0 ≤ max_j p_ij row by row
          EXPECT_LE(pmax, 1.0 + 1e-6);
          EXPECT_GE(ent, -1e-6);
          EXPECT_LE(ent, std::log(static_cast<double>(T)));
          EXPECT_GE(r["kl"][l][h].get<double>(), -1e-5);
          EXPECT_GE(r["omega"][l][h].get<double>(), 0.0);
        }
    }
  }
  for (const auto& j : off) {
    EXPECT_FALSE(j.contains("diag") || j.contains("val_diag"));
    if (j.contains("loss")) losses_off.push_back(j["loss"].get<double>());
  }
  EXPECT_EQ(diag_steps, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(val_steps, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(losses_on, losses_off);  // bit-identical: diagnostics only read the attention
  ASSERT_EQ(losses_on.size(), 4u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace goat::test
