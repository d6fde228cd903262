// The CPU bf16 model's bf16 qkv (Activations::qkv_bf16: in_proj's GEMM epilogue rounds q, k, v
// for an attention that rounds them anyway). A tiny model with head dim 32 under bf16 GEMMs runs
// forward + backward twice, with bf16 qkv and with it switched off (Gpt::set_bf16_qkv(false): fp32
// qkv, the attention rounds): the loss and every gradient element must be bitwise equal, for
// positions without backward_qk (learned, none, alibi) and with one (rope: stays fp32), odd and
// multiple-of-16 T, and each recompute mode (the backward's views follow the flag).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "backend/cpu/attention_amx.h"
#include "backend/cpu/gemm_bf16.h"
#include "model/tiny_model.h"

namespace goat {
namespace {

struct QkvCase {
  std::string position;
  int64_t T;
  Recompute recompute;
};

struct Result {
  double loss;
  std::vector<float> grads;
  bool qkv_bf16;
};

Result train_step(const QkvCase& c, bool bf16_qkv) {
  ModelConfig cfg = test::tiny_config(c.position);
  cfg.d_model = 64, cfg.n_head = 2, cfg.max_seq_len = 40;  // head dim 32: the AMX products
  Gpt::set_bf16_qkv(bf16_qkv);
  Gpt g(cfg, c.T);
  test::randomize(g, 5);
  const int64_t B = 3;
  Activations a(cfg, B, c.T, Placement{}, ActivationPlan{c.recompute, true});
  test::random_tokens(a.inputs, cfg.vocab_size, 1);
  test::random_tokens(a.targets, cfg.vocab_size, 2);
  const Arena& gr = g.grads();
  std::memset(gr.data(), 0, static_cast<size_t>(gr.numel()) * sizeof(float));
  Result r;
  r.loss = g.forward(a, true);
  g.backward(a, 1.f / static_cast<float>(B * c.T));
  r.qkv_bf16 = a.qkv_bf16;
  r.grads.assign(static_cast<float*>(gr.data()), static_cast<float*>(gr.data()) + gr.numel());
  Gpt::set_bf16_qkv(true);
  return r;
}

std::string case_name(const QkvCase& c) {
  const std::string rc = c.recompute == Recompute::none        ? "none"
                         : c.recompute == Recompute::attention ? "attention"
                                                               : "block";
  return c.position + "_T" + std::to_string(c.T) + "_" + rc;
}

class QkvBf16 : public ::testing::TestWithParam<QkvCase> {};

TEST_P(QkvBf16, SameLossAndGradientsAsFp32Qkv) {
  const QkvCase& c = GetParam();
  if (!cpu::attn::amx_ready()) GTEST_SKIP() << "no AMX-BF16 here: the attention takes no bf16 q, k, v";
  const cpu::GemmPrecisionScope bf16(cpu::GemmPrecision::bf16);
  const Result on = train_step(c, true), off = train_step(c, false);
  EXPECT_EQ(on.qkv_bf16, c.position != "rope") << "bf16 qkv where the position scheme leaves q, k alone";
  EXPECT_FALSE(off.qkv_bf16);
  EXPECT_EQ(std::memcmp(&on.loss, &off.loss, sizeof on.loss), 0) << on.loss << " vs " << off.loss;
  ASSERT_EQ(on.grads.size(), off.grads.size());
  int64_t bad = 0, nonzero = 0;
  for (size_t i = 0; i < on.grads.size(); ++i) {
    nonzero += on.grads[i] != 0.f;
    if (std::memcmp(&on.grads[i], &off.grads[i], sizeof(float)) != 0 && bad++ < 5)
      ADD_FAILURE() << "grad[" << i << "]: bf16 qkv " << on.grads[i] << ", fp32 qkv " << off.grads[i];
  }
  EXPECT_EQ(bad, 0);
  EXPECT_GT(nonzero, static_cast<int64_t>(on.grads.size()) / 2) << "gradients not computed";
}

INSTANTIATE_TEST_SUITE_P(Cases, QkvBf16,
                         ::testing::Values(QkvCase{"learned", 37, Recompute::none},
                                           QkvCase{"learned", 32, Recompute::attention},
                                           QkvCase{"none", 32, Recompute::block}, QkvCase{"alibi", 37, Recompute::none},
                                           QkvCase{"rope", 32, Recompute::none}),
                         [](const auto& info) { return case_name(info.param); });

}  // namespace
}  // namespace goat
