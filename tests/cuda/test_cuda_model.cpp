// End to end on the CUDA device (emulated in the EMU build; labels cuda, emu): 20 training steps of
// configs/tiny.json (the model as is: 2 layers, d 64, 4 heads, vocab 256) with the batch shrunk to
// B = 2, T = 16: the emulated attention backward costs ~10 s a step at B = 4, T = 32 and the
// full 16 × 64 batch minutes. On device "cuda" against the CPU run, for the position schemes
// goat, rope, alibi, learned and sinusoidal (bf16: the first four).
//
// fp32: every step's loss matches the CPU's to 1e-5 relative (GEMMs are the same sgemm under
// emulation; the kernels differ from the CPU loops only in summation order).
//
// bf16 (computed tolerance): a "plain bf16 reference" run on the CPU — the fp32 model whose
// forward/backward read the weights rounded to bf16 (the master weights stay fp32, as the CUDA
// working copy) — measures what bf16 storage of the n_w weight tensors costs the loss:
// σ_w = RMS over the steps of |loss_w − loss_cpu|. The CUDA bf16 run also stores the n_a
// activation and activation-gradient tensors of a step in bf16, each a rounding of the same
// relative size (2⁻⁹); with independent errors the variance grows with the number of rounded
// tensors, so the allowance is the FlashAttention factor 3 (in RMS) on σ_w·√((n_w + n_a)/n_w):
//   |loss_cuda_bf16(s) − loss_cpu(s)| ≤ 3·√((n_w + n_a)/n_w)·σ_w + 1e-5·|loss_cpu(s)|.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "backend/cuda/cuda_ops.h"
#include "core/device_info.h"
#include "data/loader.h"
#include "train/optimizer.h"
#include "train/trainer.h"

namespace goat {
namespace {

constexpr int kSteps = 20;

Config tiny(const std::string& position, const std::string& device, const std::string& dtype) {
  const char* src = std::getenv("GOATLM_SOURCE_DIR");
  return load_config(std::string(src ? src : ".") + "/configs/tiny.json",
                     {"model.position.type=" + position, "device=" + device, "dtype=" + dtype,
                      "train.steps=" + std::to_string(kSteps), "train.batch_size=2", "train.seq_len=16",
                      "train.warmup_steps=5", "data.synthetic.train_tokens=65536", "data.synthetic.val_tokens=4096"});
}

struct Losses {
  std::vector<double> loss, norm;
};

Losses train(const Config& cfg) {
  Trainer t(cfg, "", false);
  Losses r;
  for (int s = 0; s < kSteps; ++s) {
    const StepStats st = t.step(s);
    r.loss.push_back(st.loss);
    r.norm.push_back(st.grad_norm);
  }
  return r;
}

// The plain bf16 reference: Trainer::step on the CPU with the weights rounded to bf16 for the
// forward and backward, the fp32 master weights restored for the AdamW update.
std::vector<double> train_cpu_bf16_weights(const Config& cfg) {
  const auto& t = cfg.train;
  Gpt g(cfg.model, t.seq_len);
  g.init(static_cast<uint64_t>(t.seed));
  Activations a(cfg.model, t.batch_size, t.seq_len);
  AdamW opt(g.params(), g.decay_mask(), t);
  data::Loader loader(data::make_source(cfg, false), t.batch_size, t.seq_len, static_cast<uint64_t>(t.seed),
                      RngPurpose::data);
  Arena master = g.params().clone_layout();
  float* p = static_cast<float*>(g.params().data());
  std::vector<double> loss;
  for (int s = 0; s < kSteps; ++s) {
    master.copy_from(g.params());
    for (int64_t i = 0; i < g.params().numel(); ++i) p[i] = bf16_round(p[i]);
    g.grads().zero();
    loader.batch(s, 0, a.inputs.data(), a.targets.data());
    loss.push_back(g.forward(a, true));
    g.backward(a, 1.f / static_cast<float>(t.batch_size * t.seq_len));
    g.params().copy_from(master);
    const double norm = AdamW::grad_norm(g.grads());
    opt.step(g.params(), g.grads(), s, lr_at(t, s), norm);
  }
  return loss;
}

bool have_device() { return cuda::built() && cuda::device_count() > 0; }

class CudaModel : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaModel, Fp32MatchesCpu) {
  if (!have_device()) GTEST_SKIP() << "no CUDA device: " << cuda_status();
  const Losses cpu = train(tiny(GetParam(), "cpu", "fp32"));
  const Losses gpu = train(tiny(GetParam(), "cuda", "fp32"));
  for (int s = 0; s < kSteps; ++s) {
    EXPECT_LE(std::fabs(gpu.loss[s] - cpu.loss[s]), 1e-5 * std::fabs(cpu.loss[s])) << "step " << s;
    EXPECT_LE(std::fabs(gpu.norm[s] - cpu.norm[s]), 1e-4 * std::fabs(cpu.norm[s])) << "step " << s;
  }
  EXPECT_LT(cpu.loss.back(), cpu.loss.front());  // it trains
}

TEST_P(CudaModel, Bf16WithinComputedTolerance) {
  if (!have_device()) GTEST_SKIP() << "no CUDA device: " << cuda_status();
  if (GetParam() == "sinusoidal") GTEST_SKIP() << "fp32 only";
  const Config cfg = tiny(GetParam(), "cpu", "fp32");
  const Losses cpu = train(cfg);
  const std::vector<double> w = train_cpu_bf16_weights(cfg);
  const Losses gpu = train(tiny(GetParam(), "cuda", "bf16"));
  double ss = 0;
  for (int s = 0; s < kSteps; ++s) ss += (w[s] - cpu.loss[s]) * (w[s] - cpu.loss[s]);
  const double sigma_w = std::sqrt(ss / kSteps);
  // Rounded tensors per layer: weights 12 (LayerNorm ×2 w/b, 4 linears w/b); activations 10
  // forward (x, ln1, qkv, atty, attproj, res2, ln2, fch, fch_gelu, fcproj) and 6 backward
  // (dres, d_ln, d_atty, d_qkv, d_fch, their GELU'); outside the layers: wte, wpe, ln_f w/b and
  // x_final, lnf, logits (= d_logits).
  const double L = static_cast<double>(cfg.model.n_layer);
  const double n_w = 12 * L + 4, n_a = 16 * L + 3;
  const double k = 3 * std::sqrt((n_w + n_a) / n_w);
  double worst = 0;
  for (int s = 0; s < kSteps; ++s) {
    const double err = std::fabs(gpu.loss[s] - cpu.loss[s]), tol = k * sigma_w + 1e-5 * std::fabs(cpu.loss[s]);
    worst = std::max(worst, err / tol);
    EXPECT_LE(err, tol) << "step " << s << ": bf16 " << gpu.loss[s] << " cpu " << cpu.loss[s] << " sigma_w "
                        << sigma_w;
  }
  std::printf("%s bf16: sigma_w %.3g, k %.2f, worst error / tolerance %.2f, final loss cpu %.4f cuda %.4f\n",
              GetParam().c_str(), sigma_w, k, worst, cpu.loss.back(), gpu.loss.back());
  EXPECT_LT(gpu.loss.back(), gpu.loss.front());
}

INSTANTIATE_TEST_SUITE_P(Positions, CudaModel, ::testing::Values("goat", "rope", "alibi", "learned", "sinusoidal"),
                         [](const auto& info) { return info.param; });

TEST(CudaModelErrors, PlacementIsCheckedNeverSilent) {
  if (!cuda::built()) {
    EXPECT_THROW(tiny("goat", "cuda", "fp32"), Error);  // config: built without CUDA
    return;
  }
  if (cuda::device_count() == 0) {
    try {
      Trainer t(tiny("goat", "cuda", "fp32"), "", false);
      ADD_FAILURE() << "expected an error without a device";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("no usable CUDA device"), std::string::npos) << e.what();
    }
    return;
  }
  Gpt g(tiny("goat", "cuda", "bf16").model, 32, Placement{Device::cuda, DType::bf16});
  Gpt::KvCache cache = g.make_cache(8);
  const int32_t token = 1;
  std::vector<float> logits(256);
  EXPECT_THROW(g.forward_cached(cache, &token, 1, logits.data()), Error) << "decoding is CPU-only";
}

}  // namespace
}  // namespace goat
