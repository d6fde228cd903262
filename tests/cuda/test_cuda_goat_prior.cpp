// GOAT's key-only prior on the device (kernels/goat_prior.cuh through GoatPosition on cuda; label
// cuda, emulated in the EMU build): the key bias u (replicated over the batch), the recency slope,
// and the backward's parameter gradients, against the CPU GoatPosition and an independent fp64
// evaluation of the same formulas (goat.md §3). Random parameters of every size (not the init's
// tiny MLP weights), GQA (H = 4, Hkv = 2), batch 1-3, Tk 1-70, first key at 0 and at 5 (so the
// bump is absent).
//
// Tolerance per value, from the fp64 reference's absolute term sums A (u: |gain|·(|b2| +
// Σ_k |w2_k|·|b1_k + Σ_m |w1_km x_m||) + |bump|; a gradient: Σ_j of its terms' magnitudes):
// |y − ref| ≤ 4·(nx + 8)·u·A + 2u·|ref|, u = 2⁻²⁴ (the dot product of nx + 8 fp32 terms, both sides,
// and the final rounding); the CPU scheme meets the same bound (checked), and the device run is
// compared to it under the same bound. Determinism: two device backward passes give the same bits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "backend/cuda/cuda_ops.h"
#include "core/arena.h"
#include "core/device_info.h"
#include "core/philox.h"
#include "model/position_goat.h"

namespace goat {
namespace {

constexpr double kU = 0x1p-24;
constexpr int64_t kHkv = 2, kM = 3;

struct Layer {
  Arena params, grads;
  GoatPosition pos;
  Layer(const GoatConfig& c, Device dev) : params(DType::f32, dev), grads(DType::f32, dev), pos(c, {4, kHkv, 16, 4, 80}) {
    pos.declare(params, "l.");
    params.allocate();
    grads = params.clone_layout();
    pos.set_device(dev);
  }
};

GoatConfig config() {
  GoatConfig c;
  c.pos_rank = 2, c.abs_rank = kM, c.key_bias = true, c.train_len = 16, c.causal = true;
  return c;
}

std::vector<float> host_of(const Arena& a) {
  std::vector<float> v(static_cast<size_t>(a.numel()));
  if (a.device() == Device::cpu)
    std::memcpy(v.data(), a.data(), v.size() * 4);
  else
    cuda::copy_to_host(v.data(), a.data(), v.size() * 4);
  return v;
}

std::vector<float> down(const float* p, size_t n) {
  std::vector<float> v(n);
  cuda::copy_to_host(v.data(), p, n * 4);
  return v;
}

// fp64 evaluation of u, the slope and the gradients (the CPU arena's parameter values).
struct Ref {
  std::vector<double> u, u_mag, slope, grad, grad_mag;  // u (hkv, tk); grad in the arena layout
};

Ref reference(const Arena& p, const std::vector<float>& d_kb, const std::vector<float>& d_slope, int64_t batch,
              int64_t tk, int64_t pos0) {
  const auto V = [&](const char* n) { return p.view(std::string("l.") + n).f32(); };
  const auto off = [&](const char* n) { return p.entries()[p.index_of(std::string("l.") + n)].offset; };
  const float *w1 = V("key_bias.fc1.weight"), *b1 = V("key_bias.fc1.bias"), *w2 = V("key_bias.fc2.weight"),
              *b2 = V("key_bias.fc2.bias"), *gain = V("sink_gain"), *bump = V("sink_bump"), *rho = V("recency_slope_raw");
  const int64_t nx = 2 * kM + 2;
  Ref r;
  r.u.assign(kHkv * tk, 0), r.u_mag.assign(kHkv * tk, 0), r.slope.resize(kHkv);
  r.grad.assign(static_cast<size_t>(p.numel()), 0), r.grad_mag.assign(r.grad.size(), 0);
  const auto add = [&](const char* n, int64_t i, double v) {
    r.grad[off(n) + i] += v, r.grad_mag[off(n) + i] += std::fabs(v);
  };
  for (int64_t h = 0; h < kHkv; ++h) {
    r.slope[h] = softplus(rho[h]);
    add("recency_slope_raw", h, d_slope[h] / (1 + std::exp(-double(rho[h]))));
  }
  for (int64_t j = 0; j < tk; ++j) {
    const std::vector<double> x = goat_abs_features(double(pos0 + j), kM, 16);
    double out = b2[0], mag = std::fabs(b2[0]), hk[4], sk[4];
    for (int k = 0; k < 4; ++k) {
      double h = b1[k], hm = std::fabs(b1[k]);
      for (int64_t m = 0; m < nx; ++m) h += double(w1[k * nx + m]) * x[m], hm += std::fabs(w1[k * nx + m] * x[m]);
      hk[k] = h, sk[k] = 1 / (1 + std::exp(-h));
      out += w2[k] * h * sk[k], mag += std::fabs(w2[k]) * hm;
    }
    double g_out = 0;
    for (int64_t h = 0; h < kHkv; ++h) {
      const double bmp = pos0 + j == 0 ? bump[h] : 0.0;
      r.u[h * tk + j] = gain[h] * out + bmp;
      r.u_mag[h * tk + j] = std::fabs(gain[h]) * mag + std::fabs(bmp);
      double du = 0;
      for (int64_t b = 0; b < batch; ++b) du += d_kb[(b * kHkv + h) * tk + j];
      add("sink_gain", h, du * out);
      if (pos0 + j == 0) add("sink_bump", h, du);
      g_out += du * gain[h];
    }
    add("key_bias.fc2.bias", 0, g_out);
    for (int k = 0; k < 4; ++k) {
      add("key_bias.fc2.weight", k, g_out * hk[k] * sk[k]);
      const double dh = g_out * w2[k] * sk[k] * (1 + hk[k] * (1 - sk[k]));
      add("key_bias.fc1.bias", k, dh);
      for (int64_t m = 0; m < nx; ++m) add("key_bias.fc1.weight", k * nx + m, dh * x[m]);
    }
  }
  return r;
}

double bound(double mag, double ref) { return 4 * (2 * kM + 2 + 8) * kU * mag + 2 * kU * std::fabs(ref) + 1e-30; }

TEST(CudaGoatPrior, MatchesCpuAndFp64AndIsDeterministic) {
  if (!cuda::built() || cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device: " << cuda_status();
  const GoatConfig cfg = config();
  Layer cpu(cfg, Device::cpu), dev(cfg, Device::cuda);
  const Rng rng(17, RngPurpose::test, 0, 0);
  float* p = static_cast<float*>(cpu.params.data());
  for (int64_t i = 0; i < cpu.params.numel(); ++i) p[i] = rng.normal(static_cast<uint64_t>(i));
  dev.params.copy_from(cpu.params);
  int64_t call = 0;
  for (const auto& [batch, tk, pos0] : {std::tuple<int64_t, int64_t, int64_t>{2, 37, 0}, {1, 1, 0}, {3, 70, 0}, {1, 9, 5}}) {
    SCOPED_TRACE("batch " + std::to_string(batch) + " tk " + std::to_string(tk) + " pos0 " + std::to_string(pos0));
    const size_t nkb = static_cast<size_t>(batch * kHkv * tk);
    // Forward.
    const ops::AttentionPrior pc = cpu.pos.prior(batch, tk, pos0), pd = dev.pos.prior(batch, tk, pos0);
    const std::vector<float> kb = down(pd.key_bias, nkb), sl = down(pd.slope, kHkv);
    // Backward inputs: random d_key_bias, d_slope; gradients start from random g0.
    std::vector<float> d_kb(nkb), d_sl(kHkv);
    for (size_t i = 0; i < nkb; ++i) d_kb[i] = rng.normal((++call << 20) + i);
    for (int64_t h = 0; h < kHkv; ++h) d_sl[h] = rng.normal((++call << 20) + h);
    const Ref ref = reference(cpu.params, d_kb, d_sl, batch, tk, pos0);
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t i = 0; i < kHkv * tk; ++i) {
        const size_t e = static_cast<size_t>(b * kHkv * tk + i);
        const double tol = bound(ref.u_mag[i], ref.u[i]);
        EXPECT_LE(std::fabs(pc.key_bias[e] - ref.u[i]), tol) << "cpu u " << e;
        EXPECT_LE(std::fabs(kb[e] - ref.u[i]), tol) << "cuda u " << e;
        EXPECT_LE(std::fabs(kb[e] - pc.key_bias[e]), tol) << "cuda vs cpu u " << e;
      }
    for (int64_t h = 0; h < kHkv; ++h) EXPECT_LE(std::fabs(sl[h] - ref.slope[h]), 2 * kU * ref.slope[h]) << h;
    for (int64_t h = 0; h < kHkv; ++h) EXPECT_LE(std::fabs(pc.slope[h] - ref.slope[h]), 2 * kU * ref.slope[h]) << h;

    float* g0 = static_cast<float*>(cpu.grads.data());
    for (int64_t i = 0; i < cpu.grads.numel(); ++i) g0[i] = rng.normal((++call << 20) + static_cast<uint64_t>(i));
    const std::vector<float> init = host_of(cpu.grads);
    dev.grads.copy_from(cpu.grads);
    const ops::AttentionGrads gc = cpu.pos.prior_grad_buffers(), gd = dev.pos.prior_grad_buffers();
    std::memcpy(gc.d_key_bias, d_kb.data(), nkb * 4), std::memcpy(gc.d_slope, d_sl.data(), kHkv * 4);
    cuda::copy_to_device(gd.d_key_bias, d_kb.data(), nkb * 4), cuda::copy_to_device(gd.d_slope, d_sl.data(), kHkv * 4);
    cpu.pos.backward_prior(cpu.params, cpu.grads, batch, tk, pos0);
    dev.pos.backward_prior(dev.params, dev.grads, batch, tk, pos0);
    const std::vector<float> gcpu = host_of(cpu.grads), gdev = host_of(dev.grads);
    int64_t compared = 0;
    for (size_t i = 0; i < gcpu.size(); ++i) {
      if (ref.grad_mag[i] == 0 && gcpu[i] == init[i]) {  // not a prior-MLP/slope parameter (the lambdas)
        EXPECT_EQ(gdev[i], init[i]) << "untouched gradient " << i;
        continue;
      }
      ++compared;
      const double tol = bound(ref.grad_mag[i], ref.grad[i]) + 2 * kU * std::fabs(init[i]);
      EXPECT_LE(std::fabs(gcpu[i] - init[i] - ref.grad[i]), tol) << "cpu grad " << i;
      EXPECT_LE(std::fabs(gdev[i] - init[i] - ref.grad[i]), tol) << "cuda grad " << i;
      EXPECT_LE(std::fabs(gdev[i] - gcpu[i]), tol) << "cuda vs cpu grad " << i;
    }
    // gain, rho, bump (first key at 0), fc2.bias, fc2.weight, fc1.bias always; fc1.weight where x_m ≠ 0.
    EXPECT_GE(compared, 3 * kHkv + 9 - (pos0 == 0 ? 0 : kHkv));
    // Determinism: the same backward again from the same start, bit for bit.
    Arena start = cpu.grads.clone_layout(DType::f32, Device::cpu);
    std::memcpy(start.data(), init.data(), init.size() * 4);
    dev.grads.copy_from(start);
    dev.pos.backward_prior(dev.params, dev.grads, batch, tk, pos0);
    EXPECT_EQ(host_of(dev.grads), gdev);
  }
}

}  // namespace
}  // namespace goat
