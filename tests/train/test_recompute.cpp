// train.recompute (model/gpt.h): training with activation recomputation is bitwise the training
// without it, and the activation arena shrinks by exactly what the layout says it drops.
//
// Bitwise: the recomputation re-runs the forward's ops on the same inputs in the same order, so
// every loss and every final weight must be equal as bit patterns, not within a tolerance (the
// test compares the raw bytes of the parameter arena). configs/tiny.json shrunk to B 4, T 32,
// 4 steps of 2 micro-batches (grad_accum 2: the shared slot is rewritten between micro-batches)
// for the position schemes that hook into attention differently: goat (lanes, key-bias MLP,
// slope), rope, alibi (slope) and learned (embedding table), in fp32 and with bf16 GEMMs.
//
// Bytes, computed here from the shapes (independently of the model's layout code): per layer and
// token the forward saves x C, ln1 C, qkv W, atty C, res2 C, ln2 C, fch 4C, fch_gelu 4C elements
// of the activation dtype (W = C + 2·Hkv·D) and lse H, two LayerNorm mean/rstd pairs 4 fp32.
//   attention drops (L − 1)·B·T·((W + C)·s + 4H) bytes (one shared qkv/atty/lse slot),
//   block     drops (L − 1)·B·T·((12C + W)·s + 4(H + 4)) (all but x shared),
// and a forward-only (evaluation) layout also drops the backward scratch B·T·(7C + W)·s. Every
// size below is a multiple of 16 elements, so the arena's 16-element padding adds nothing.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

#include "train/trainer.h"

using namespace goat;

namespace {

constexpr int kSteps = 4;

Config tiny(const std::string& position, const std::string& dtype, const std::string& recompute) {
  const char* src = std::getenv("GOATLM_SOURCE_DIR");
  return load_config(std::string(src ? src : ".") + "/configs/tiny.json",
                     {"model.position.type=" + position, "dtype=" + dtype, "train.recompute=" + recompute,
                      "train.steps=" + std::to_string(kSteps), "train.batch_size=4", "train.seq_len=32",
                      "train.grad_accum=2", "train.warmup_steps=2", "data.synthetic.train_tokens=65536",
                      "data.synthetic.val_tokens=4096"});
}

struct TrainedRun {
  std::vector<double> losses;
  std::vector<char> weights;  // the parameter arena's bytes after the last step
  int64_t activation_bytes = 0;
};

TrainedRun train(const Config& cfg) {
  Trainer t(cfg, "", false);
  TrainedRun r;
  for (int s = 0; s < kSteps; ++s) r.losses.push_back(t.step(s).loss);
  const Arena& p = t.model().params();
  const auto* bytes = static_cast<const char*>(p.data());
  r.weights.assign(bytes, bytes + p.numel() * 4);
  r.activation_bytes = t.activations().bytes();
  return r;
}

struct Case {
  std::string position, dtype;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.position << " " << c.dtype; }

class RecomputeTraining : public ::testing::TestWithParam<Case> {};

TEST_P(RecomputeTraining, BitwiseSameLossesAndWeights) {
  const Case c = GetParam();
  const TrainedRun base = train(tiny(c.position, c.dtype, "none"));
  for (const char* mode : {"attention", "block"}) {
    const TrainedRun r = train(tiny(c.position, c.dtype, mode));
    for (int s = 0; s < kSteps; ++s)
      EXPECT_EQ(std::memcmp(&r.losses[s], &base.losses[s], sizeof(double)), 0)
          << mode << " step " << s << ": " << r.losses[s] << " vs " << base.losses[s];
    ASSERT_EQ(r.weights.size(), base.weights.size());
    EXPECT_TRUE(r.weights == base.weights) << mode << ": final weights differ";
    EXPECT_LT(r.activation_bytes, base.activation_bytes) << mode;
  }
  EXPECT_LT(base.losses.back(), base.losses.front());  // it trains: the comparison is not of no-ops
}

INSTANTIATE_TEST_SUITE_P(Positions, RecomputeTraining,
                         ::testing::Values(Case{"goat", "fp32"}, Case{"rope", "fp32"}, Case{"alibi", "fp32"},
                                           Case{"learned", "fp32"}, Case{"goat", "bf16"}, Case{"rope", "bf16"}),
                         [](const auto& info) { return info.param.position + "_" + info.param.dtype; });

// The arena sizes against the byte counts computed from the shapes (header), fp32 and bf16
// activation dtypes (bf16 is the CUDA layout; planned_bytes computes it without a device).
TEST(RecomputeBytes, ArenaShrinksByThePredictedAmount) {
  ModelConfig m;
  m.vocab_size = 256, m.n_layer = 3, m.n_head = 4, m.n_kv_head = 2, m.d_model = 64, m.max_seq_len = 64;
  const int64_t B = 2, T = 32, L = m.n_layer, C = m.d_model, H = m.n_head, V = m.vocab_size;
  const int64_t W = C + 2 * m.kv_heads() * m.head_dim();  // 96: grouped kv heads
  const int64_t N = B * T;
  for (DType dt : {DType::f32, DType::bf16}) {
    const int64_t s = static_cast<int64_t>(dtype_size(dt));
    const Placement place{Device::cpu, dt};
    const auto bytes = [&](ActivationPlan plan) { return Activations::planned_bytes(m, B, T, place, plan); };
    const int64_t none = bytes({Recompute::none, true});
    // Everything: L layers, the shared forward buffers (x_final, lnf, attproj, fcproj; lnf
    // stats, losses), the backward scratch and the logits.
    EXPECT_EQ(none, L * N * ((13 * C + W) * s + 4 * (H + 4)) + N * (4 * C * s + 3 * 4) + N * (7 * C + W) * s +
                        N * V * s);
    EXPECT_EQ(none - bytes({Recompute::attention, true}), (L - 1) * N * ((W + C) * s + 4 * H));
    EXPECT_EQ(none - bytes({Recompute::block, true}), (L - 1) * N * ((12 * C + W) * s + 4 * (H + 4)));
    EXPECT_EQ(none - bytes(kForwardOnly), (L - 1) * N * ((12 * C + W) * s + 4 * (H + 4)) + N * (7 * C + W) * s);
  }
  // An allocated Activations reports the planned size.
  const Activations a(m, B, T, Placement{}, {Recompute::attention, true});
  EXPECT_EQ(a.bytes(), Activations::planned_bytes(m, B, T, Placement{}, {Recompute::attention, true}));
}

TEST(RecomputeConfig, UnknownModeIsAnErrorNamingTheKey) {
  try {
    tiny("rope", "fp32", "everything");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.recompute"), std::string::npos) << e.what();
  }
}

}  // namespace
