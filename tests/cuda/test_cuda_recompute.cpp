// train.recompute on device cuda (emulated in the EMU build; label cuda): training with
// activation recomputation is bitwise the training without it, in fp32 and bf16 (bf16
// activations, fp32 lse and LayerNorm statistics), and the device activation arena shrinks by
// the bytes computed from the shapes (tests/train/test_recompute.cpp has the CPU side and the
// formula). configs/tiny.json at B 2, T 16 (the emulated attention backward is slow), 2 steps,
// grad_accum 2, GOAT positions (lanes, key-bias MLP, slope: the scheme with the most state).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cuda/cuda_ops.h"
#include "core/device_info.h"
#include "train/trainer.h"

namespace goat {
namespace {

constexpr int kSteps = 2;

Config tiny(const std::string& dtype, const std::string& recompute) {
  const char* src = std::getenv("GOATLM_SOURCE_DIR");
  return load_config(std::string(src ? src : ".") + "/configs/tiny.json",
                     {"model.position.type=goat", "device=cuda", "dtype=" + dtype, "train.recompute=" + recompute,
                      "train.steps=" + std::to_string(kSteps), "train.batch_size=2", "train.seq_len=16",
                      "train.grad_accum=2", "train.warmup_steps=1", "data.synthetic.train_tokens=65536",
                      "data.synthetic.val_tokens=4096"});
}

struct DeviceRun {
  std::vector<double> losses;
  std::vector<char> weights;  // the fp32 master weights after the last step, copied down
  int64_t activation_bytes = 0;
};

DeviceRun train(const Config& cfg) {
  Trainer t(cfg, "", false);
  DeviceRun r;
  for (int s = 0; s < kSteps; ++s) r.losses.push_back(t.step(s).loss);
  Arena host = t.model().params().clone_layout(DType::f32, Device::cpu);
  host.copy_from(t.model().params());
  const auto* bytes = static_cast<const char*>(host.data());
  r.weights.assign(bytes, bytes + host.numel() * 4);
  r.activation_bytes = t.activations().bytes();
  return r;
}

class CudaRecompute : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaRecompute, BitwiseSameLossesAndWeights) {
  if (!cuda::built() || cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device: " << cuda_status();
  const std::string dtype = GetParam();
  const DeviceRun base = train(tiny(dtype, "none"));
  const Config cfg = tiny(dtype, "none");
  const int64_t B = 2, T = 16, N = B * T, L = cfg.model.n_layer, C = cfg.model.d_model, H = cfg.model.n_head;
  const int64_t W = C + 2 * cfg.model.kv_heads() * cfg.model.head_dim();
  const int64_t s = dtype == "bf16" ? 2 : 4;  // activation bytes per element
  for (const char* mode : {"attention", "block"}) {
    const DeviceRun r = train(tiny(dtype, mode));
    for (int i = 0; i < kSteps; ++i)
      EXPECT_EQ(std::memcmp(&r.losses[i], &base.losses[i], sizeof(double)), 0)
          << mode << " step " << i << ": " << r.losses[i] << " vs " << base.losses[i];
    EXPECT_TRUE(r.weights == base.weights) << mode << ": final weights differ";
    const int64_t saved = std::string(mode) == "attention" ? (L - 1) * N * ((W + C) * s + 4 * H)
                                                           : (L - 1) * N * ((12 * C + W) * s + 4 * (H + 4));
    EXPECT_EQ(base.activation_bytes - r.activation_bytes, saved) << mode;
  }
  EXPECT_LT(base.losses.back(), base.losses.front());
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaRecompute, ::testing::Values("fp32", "bf16"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace goat
