// Forward/backward of the whole GPT against finite differences, for every position variant.
// For each parameter tensor P, a random unit direction v (supported on P) gives the analytic
// directional derivative <∇L, v> and central differences of L(θ ± h v) at h and h/2. The
// tolerance is computed per check: the Richardson estimate of the truncation error |fd(h) −
// fd(h/2)| plus the fp32 rounding of the loss (2ε·|L| over the step), times a safety factor of 4.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "tiny_model.h"

using namespace goat;

namespace {

class GradCheck : public ::testing::TestWithParam<std::string> {};

double loss_at(Gpt& g, Activations& a) { return g.forward(a, true); }

TEST_P(GradCheck, EveryParameterMatchesFiniteDifferences) {
  ModelConfig cfg = test::tiny_config(GetParam());
  if (GetParam() == "rope_interleaved") {
    cfg.position.type = "rope";
    cfg.position.rope_pairing = "interleaved";
  }
  Gpt g(cfg, 8);
  test::randomize(g, 11);
  const int64_t B = 2, T = 7;
  Activations a(cfg, B, T);
  test::random_tokens(a.inputs, cfg.vocab_size, 1);
  test::random_tokens(a.targets, cfg.vocab_size, 2);

  const Arena& p = g.params();
  const Arena& gr = g.grads();
  std::memset(gr.data(), 0, static_cast<size_t>(gr.numel()) * sizeof(float));
  const double l0 = g.forward(a, true);
  g.backward(a, 1.f / static_cast<float>(B * T));
  std::vector<float> grad(static_cast<float*>(gr.data()), static_cast<float*>(gr.data()) + gr.numel());

  int checked = 0;
  for (size_t i = 0; i < p.entries().size(); ++i) {
    const auto& e = p.entries()[i];
    const Tensor t = p.view(static_cast<int>(i));
    const int64_t n = t.numel();
    const float* gi = grad.data() + e.offset;
    // Unit direction on this tensor.
    const Rng rng(99, RngPurpose::test, i);
    std::vector<double> v(static_cast<size_t>(n));
    double norm = 0;
    for (int64_t j = 0; j < n; ++j) norm += (v[j] = rng.normal(static_cast<uint64_t>(j))) * v[j];
    double analytic = 0;
    for (int64_t j = 0; j < n; ++j) analytic += (v[j] /= std::sqrt(norm)) * gi[j];
    std::vector<float> saved(t.f32(), t.f32() + n);
    const auto fd = [&](double h) {
      for (int64_t j = 0; j < n; ++j) t.f32()[j] = static_cast<float>(saved[j] + h * v[j]);
      const double lp = loss_at(g, a);
      for (int64_t j = 0; j < n; ++j) t.f32()[j] = static_cast<float>(saved[j] - h * v[j]);
      const double lm = loss_at(g, a);
      std::copy(saved.begin(), saved.end(), t.f32());
      return (lp - lm) / (2 * h);
    };
    const double h = 0.1, f1 = fd(h), f2 = fd(h / 2);
    const double tol = 4 * (std::abs(f1 - f2) + std::numeric_limits<float>::epsilon() * 2 * std::abs(l0) / (h / 2));
    EXPECT_NEAR(analytic, f2, tol) << GetParam() << " " << e.name << " fd(h)=" << f1;
    if (std::getenv("GOAT_VERBOSE")) std::printf("%s %s an=%.6g fd=%.6g tol=%.3g\n", GetParam().c_str(), e.name.c_str(), analytic, f2, tol);
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(p.entries().size()));
}

INSTANTIATE_TEST_SUITE_P(Positions, GradCheck,
                         ::testing::Values("learned", "sinusoidal", "rope", "rope_interleaved", "alibi", "none", "goat"),
                         [](const auto& info) { return info.param; });

TEST(Gpt, InitialLossIsLogVocab) {
  // GPT-2 init with the real vocabulary: logits ≈ 0, so the loss is ≈ ln(V).
  for (const char* pos : {"learned", "rope", "alibi", "goat"}) {
    ModelConfig cfg = test::tiny_config(pos, 256);
    cfg.d_model = 64;
    cfg.n_head = 4;
    Gpt g(cfg, 16);
    g.init(5);
    Activations a(cfg, 4, 16);
    test::random_tokens(a.inputs, 256, 3);
    test::random_tokens(a.targets, 256, 4);
    EXPECT_NEAR(g.forward(a, true), std::log(256.0), 0.05) << pos;
  }
}

TEST(Gpt, ParameterNamesAndDecayGroups) {
  ModelConfig cfg = test::tiny_config("learned");
  Gpt g(cfg, 8);
  const auto& es = g.params().entries();
  const auto& decay = g.decay_mask();
  ASSERT_EQ(es.size(), decay.size());
  EXPECT_EQ(es.front().name, "wte.weight");
  EXPECT_EQ(g.params().view("h.1.attn.in_proj.weight").shape, (Shape{3 * 24, 24}));
  EXPECT_EQ(g.params().view("h.0.mlp.c_fc.weight").shape, (Shape{4 * 24, 24}));
  EXPECT_EQ(g.params().view("wpe.weight").shape, (Shape{16, 24}));
  for (size_t i = 0; i < es.size(); ++i) {
    const bool want = es[i].name.ends_with(".weight") && es[i].name.find("ln_") == std::string::npos;
    EXPECT_EQ(decay[i], want) << es[i].name;
  }
  Gpt goat(test::tiny_config("goat"), 8);
  int prior_params = 0;
  for (size_t i = 0; i < goat.params().entries().size(); ++i) {
    const auto& n = goat.params().entries()[i].name;
    if (n.find("lambda") != std::string::npos || n.find("key_bias") != std::string::npos ||
        n.find("sink") != std::string::npos || n.find("recency") != std::string::npos) {
      EXPECT_FALSE(goat.decay_mask()[i]) << n;
      ++prior_params;
    }
  }
  EXPECT_GT(prior_params, 0);
}

}  // namespace
