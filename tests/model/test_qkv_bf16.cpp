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

test::TinyStep train_step(const QkvCase& c, bool bf16_qkv) {
  Gpt::set_bf16_qkv(bf16_qkv);
  const test::TinyStep r = test::tiny_step_hd32(c.position, c.T, c.recompute);
  Gpt::set_bf16_qkv(true);
  return r;
}

std::string case_name(const QkvCase& c) {
  return c.position + "_T" + std::to_string(c.T) + "_" + test::recompute_name(c.recompute);
}

class QkvBf16 : public ::testing::TestWithParam<QkvCase> {};

TEST_P(QkvBf16, SameLossAndGradientsAsFp32Qkv) {
  const QkvCase& c = GetParam();
  if (!cpu::attn::amx_ready()) GTEST_SKIP() << "no AMX-BF16 here: the attention takes no bf16 q, k, v";
  const cpu::GemmPrecisionScope bf16(cpu::GemmPrecision::bf16);
  const test::TinyStep on = train_step(c, true), off = train_step(c, false);
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
