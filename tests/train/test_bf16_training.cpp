// dtype "bf16" on the CPU trains like fp32: the loss curve of 500 steps of the tiny config with
// bf16 GEMM operands tracks the fp32 curve (same init, same batches) within a computed tolerance.
// The tiny config runs with 2 heads (head dim 32) so that the attention's products run in bf16 on
// AMX as well (head dims that are not a multiple of 32 keep fp32 attention products).
//
// Tolerance, per window of W = 50 steps, on the difference of the window-mean losses:
//   tol_w = 4·√2·σ_w/√W + u16·L_w,   u16 = 2^-8 (bf16 unit roundoff), L_w the fp32 window mean.
// σ_w is the fp32 curve's step-to-step noise in that window, estimated from first differences
// (σ² = var(l_t − l_{t−1})/2, insensitive to the smooth downward trend). Two runs whose
// trajectories have fully decorrelated would differ in a window mean by about √2·σ_w/√W (one
// standard error each), so 4× that is a 4-sigma bound; sharing the batches only makes the true
// difference smaller. The u16·L_w term is the bias of evaluating the loss itself through bf16
// logits (operand rounding of relative size ≤ u16). Step 0 (identical weights and batch) must
// agree to u16·L_0. A bf16 path that learns slower than fp32, or not at all, fails this test;
// bf16 must also differ from fp32 somewhere (the bf16 GEMMs really ran).
// Runs on one OpenMP thread: the 2 × 500 small steps take ~25 s that way even on a loaded machine,
// where two spinning OpenMP threads per process made them 8× slower.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/cpu_info.h"
#include "train/trainer.h"

using namespace goat;

namespace {

std::vector<double> loss_curve(const std::string& dtype, int64_t steps) {
  const char* src = std::getenv("GOATLM_SOURCE_DIR");
  const Config c = load_config(std::string(src ? src : ".") + "/configs/tiny.json",
                               {"train.steps=" + std::to_string(steps), "train.eval_every=0", "dtype=" + dtype,
                                "model.n_head=2"});
  Trainer t(c, "", false);
  std::vector<double> losses;
  for (int64_t s = 0; s < steps; ++s) losses.push_back(t.step(s).loss);
  return losses;
}

}  // namespace

TEST(Bf16Training, LossCurveTracksFp32Within500Steps) {
  if (!cpu_info().amx_bf16 && !cpu_info().avx512_bf16) GTEST_SKIP() << "no AMX or AVX-512-BF16: dtype bf16 runs fp32";
  constexpr int64_t kSteps = 500, kW = 50;
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const double u16 = std::ldexp(1.0, -8);
  const std::vector<double> f32 = loss_curve("fp32", kSteps), b16 = loss_curve("bf16", kSteps);
  omp_set_num_threads(threads);
  EXPECT_NEAR(b16[0], f32[0], u16 * f32[0]) << "step 0: same weights and batch";
  bool differs = false;
  for (int64_t w = 0; w < kSteps / kW; ++w) {
    double mean32 = 0, mean16 = 0, dvar = 0;
    for (int64_t s = w * kW; s < (w + 1) * kW; ++s) {
      mean32 += f32[s] / kW;
      mean16 += b16[s] / kW;
      if (s > w * kW) dvar += (f32[s] - f32[s - 1]) * (f32[s] - f32[s - 1]) / (kW - 1);
      differs = differs || f32[s] != b16[s];
    }
    const double sigma = std::sqrt(dvar / 2);
    const double tol = 4 * std::sqrt(2.0) * sigma / std::sqrt(static_cast<double>(kW)) + u16 * mean32;
    std::printf("steps [%3lld, %3lld): fp32 %.4f  bf16 %.4f  |diff| %.4f  tol %.4f\n", static_cast<long long>(w * kW),
                static_cast<long long>((w + 1) * kW), mean32, mean16, std::abs(mean16 - mean32), tol);
    EXPECT_LE(std::abs(mean16 - mean32), tol)
        << "steps [" << w * kW << ", " << (w + 1) * kW << "): fp32 mean " << mean32 << ", bf16 mean " << mean16
        << ", step noise σ " << sigma;
  }
  EXPECT_TRUE(differs) << "bf16 curve is bit-identical to fp32: the bf16 GEMMs did not run";
  EXPECT_LT(f32.back(), 0.8 * f32.front()) << "the tiny config should learn in 500 steps";
}
