// The trainer: schedule, decay groups, determinism, gradient accumulation, and that the tiny
// config learns (loss well below the unigram entropy of its data).
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/synthetic.h"
#include "train/optimizer.h"
#include "train/trainer.h"

using namespace goat;

namespace {

Config tiny(const std::vector<std::string>& sets) {
  const char* src = std::getenv("GOATLM_SOURCE_DIR");
  return load_config(std::string(src ? src : ".") + "/configs/tiny.json", sets);
}

std::string temp_dir(const std::string& name) {
  const auto p = std::filesystem::temp_directory_path() / ("goatlm_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  return p.string();
}

TEST(Schedule, WarmupThenCosineToMinLr) {
  TrainConfig t;
  t.lr = 1e-3;
  t.min_lr = 1e-4;
  t.warmup_steps = 10;
  t.steps = 110;
  EXPECT_DOUBLE_EQ(lr_at(t, 0), 1e-4);
  EXPECT_DOUBLE_EQ(lr_at(t, 4), 5e-4);
  EXPECT_DOUBLE_EQ(lr_at(t, 10), 1e-3);
  EXPECT_NEAR(lr_at(t, 109), 1e-4, 1e-15);
  // cosine: step 59 is 49/99 of the way through the 100 decay steps
  EXPECT_NEAR(lr_at(t, 59), 1e-4 + 0.5 * 9e-4 * (1 + std::cos(M_PI * 49.0 / 99.0)), 1e-15);
  for (int64_t s = 11; s < 110; ++s) EXPECT_LE(lr_at(t, s), lr_at(t, s - 1));
}

TEST(AdamW, DecayOnlyOnMatricesAndEmbeddings) {
  Config c = tiny({"model.position.type=learned"});
  Gpt g(c.model, c.train.seq_len);
  g.init(1);
  std::vector<float> before(static_cast<float*>(g.params().data()), static_cast<float*>(g.params().data()) + g.params().numel());
  c.train.weight_decay = 0.5;
  AdamW opt(g.params(), g.decay_mask(), c.train);
  opt.step(g.params(), g.grads(), 0, 0.1, 0.0);  // zero gradients: only decay moves parameters
  for (size_t i = 0; i < g.params().entries().size(); ++i) {
    const auto& e = g.params().entries()[i];
    const float* p = g.params().view(static_cast<int>(i)).f32();
    const float* b = before.data() + e.offset;
    for (int64_t j = 0; j < e.shape.numel(); j += 7) {
      const float want = g.decay_mask()[i] ? b[j] * (1.f - 0.1f * 0.5f) : b[j];
      ASSERT_NEAR(p[j], want, 4 * FLT_EPSILON * std::abs(b[j])) << e.name;
    }
  }
}

TEST(Trainer, SameSeedGivesBitIdenticalMetrics) {
  const std::vector<std::string> sets = {"train.steps=6", "train.eval_every=3", "train.batch_size=4", "train.grad_accum=2"};
  const std::string d1 = temp_dir("det1"), d2 = temp_dir("det2");
  Trainer(tiny(sets), d1, false).run();
  Trainer(tiny(sets), d2, false).run();
  const auto losses = [](const std::string& dir) {
    std::ifstream f(dir + "/metrics.jsonl");
    std::vector<double> out;
    std::string line;
    while (std::getline(f, line)) {
      const auto j = nlohmann::json::parse(line);
      out.push_back(j.contains("loss") ? j["loss"].get<double>() : j["val_loss"].get<double>());
    }
    return out;
  };
  const auto a = losses(d1), b = losses(d2);
  ASSERT_EQ(a.size(), 6u + 2u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "line " << i;  // bitwise
  // another seed is another run
  const std::string d3 = temp_dir("det3");
  auto sets3 = sets;
  sets3.push_back("train.seed=7");
  Trainer(tiny(sets3), d3, false).run();
  EXPECT_NE(losses(d3)[0], a[0]);
  for (const auto& d : {d1, d2, d3}) std::filesystem::remove_all(d);
}

TEST(Trainer, GradAccumulationMatchesOneLargeBatch) {
  // accum 2 × batch 4 draws the same windows as accum 1 × batch 8 (loader index micro·B + b).
  Trainer a(tiny({"train.batch_size=4", "train.grad_accum=2", "train.steps=3"}), "", false);
  Trainer b(tiny({"train.batch_size=8", "train.grad_accum=1", "train.steps=3"}), "", false);
  for (int s = 0; s < 3; ++s) {
    const double la = a.step(s).loss, lb = b.step(s).loss;
    EXPECT_NEAR(la, lb, 1e-5 * lb) << "step " << s;
  }
}

TEST(Trainer, TinyConfigLearnsBelowUnigramEntropy) {
  const Config c = tiny({"train.steps=80", "train.eval_every=0"});
  const auto toks = data::generate_synthetic(c.data.synthetic, c.train.seq_len, c.data.synthetic.val_tokens, data::Split::val);
  const double h1 = data::unigram_entropy(toks, c.model.vocab_size);
  Trainer t(c, "", false);
  const double initial = t.evaluate();
  EXPECT_NEAR(initial, std::log(256.0), 0.05);
  t.run();
  const double final_val = t.evaluate();
  std::printf("unigram entropy %.4f, initial val loss %.4f, final val loss %.4f\n", h1, initial, final_val);
  EXPECT_LT(final_val, h1 - 0.5) << "unigram entropy " << h1 << ", initial " << initial;
}

}  // namespace
