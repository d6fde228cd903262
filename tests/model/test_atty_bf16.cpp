// The CPU bf16 model's atty stored only in bf16 (Activations::atty_bf16_only: the attention writes
// bf16 o for out_proj and reads it back for its backward's D_i = dO_i·O_i). A tiny model with head
// dim 32 runs forward + backward three times: fp32 GEMMs (the reference), bf16 GEMMs with fp32
// atty (Gpt::set_bf16_atty(false): the fp32 atty, a rounding pass for out_proj, D from fp32 O) and
// bf16 GEMMs with bf16 atty. Checked, per position scheme and recompute mode:
//   - the loss is bitwise the fp32-atty one (out_proj reads the same bf16 bits either way);
//   - the gradients the attention backward has not reached yet (the top layer's MLP, ln_2 and
//     out_proj, ln_f) are bitwise equal;
//   - every other parameter's gradient moved by less than the bf16 recipe's own error: per
//     tensor, NMSE(bf16 atty, fp32 atty) ≤ NMSE(fp32 atty, fp32 GEMMs) — storing O in bf16 costs
//     less than what bf16 GEMMs already cost against fp32 — and the bf16-atty gradient is no
//     further from the fp32 one than 2× that error; and it moved somewhere (the bf16 O was read).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "backend/cpu/attention_amx.h"
#include "backend/cpu/gemm_bf16.h"
#include "model/tiny_model.h"

namespace goat {
namespace {

struct AttyCase {
  std::string position;
  int64_t T;
  Recompute recompute;
};

test::TinyStep train_step(const AttyCase& c, cpu::GemmPrecision precision, bool bf16_atty) {
  const cpu::GemmPrecisionScope scope(precision);
  Gpt::set_bf16_atty(bf16_atty);
  const test::TinyStep r = test::tiny_step_hd32(c.position, c.T, c.recompute);
  Gpt::set_bf16_atty(true);
  return r;
}

double nmse(const float* a, const float* b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    num += d * d, den += static_cast<double>(b[i]) * b[i];
  }
  return den > 0 ? num / den : num;
}

std::string case_name(const AttyCase& c) {
  return c.position + "_T" + std::to_string(c.T) + "_" + test::recompute_name(c.recompute);
}

class AttyBf16 : public ::testing::TestWithParam<AttyCase> {};

TEST_P(AttyBf16, SameLossGradientsWithinTheBf16Error) {
  const AttyCase& c = GetParam();
  if (!cpu::attn::amx_ready()) GTEST_SKIP() << "no AMX-BF16 here: the attention has no bf16 products";
  const test::TinyStep f32 = train_step(c, cpu::GemmPrecision::fp32, true);
  const test::TinyStep off = train_step(c, cpu::GemmPrecision::bf16, false);
  const test::TinyStep on = train_step(c, cpu::GemmPrecision::bf16, true);
  EXPECT_TRUE(on.atty_bf16_only);
  EXPECT_FALSE(off.atty_bf16_only);
  EXPECT_FALSE(f32.atty_bf16_only);
  EXPECT_EQ(std::memcmp(&on.loss, &off.loss, sizeof on.loss), 0) << on.loss << " vs " << off.loss;

  const ModelConfig cfg = test::tiny_config_hd32(c.position);
  const Gpt g(cfg, c.T);
  const std::string top = "h." + std::to_string(cfg.n_layer - 1) + ".";
  bool moved = false;
  for (const auto& e : g.grads().entries()) {
    const float *pn = on.grads.data() + e.offset, *po = off.grads.data() + e.offset, *pf = f32.grads.data() + e.offset;
    const int64_t n = e.shape.numel();
    const bool before_attention = e.name.rfind(top + "mlp.", 0) == 0 || e.name.rfind(top + "ln_2.", 0) == 0 ||
                                  e.name.rfind(top + "attn.out_proj.", 0) == 0 || e.name.rfind("ln_f.", 0) == 0;
    if (before_attention) {
      EXPECT_EQ(std::memcmp(pn, po, static_cast<size_t>(n) * sizeof(float)), 0) << e.name << " should be bitwise equal";
      continue;
    }
    const double change = nmse(pn, po, n), recipe = nmse(po, pf, n), err = nmse(pn, pf, n);
    moved |= change > 0;
    EXPECT_LE(change, recipe) << e.name << ": bf16 atty moved the gradient by NMSE " << change
                              << ", more than bf16 GEMMs' own error vs fp32 " << recipe;
    EXPECT_LE(err, 2 * recipe) << e.name << ": NMSE vs fp32 " << err << " with bf16 atty, " << recipe << " without";
  }
  EXPECT_TRUE(moved) << "no gradient moved: the backward did not read the bf16 O";
}

INSTANTIATE_TEST_SUITE_P(Cases, AttyBf16,
                         ::testing::Values(AttyCase{"learned", 37, Recompute::none},
                                           AttyCase{"learned", 32, Recompute::attention},
                                           AttyCase{"none", 32, Recompute::block},
                                           AttyCase{"rope", 32, Recompute::none}),
                         [](const auto& info) { return case_name(info.param); });

}  // namespace
}  // namespace goat
