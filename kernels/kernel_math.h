// Scalar formulas shared by the CUDA kernels (device and emulated host builds) and usable from
// plain C++: one definition of GELU-tanh, the AdamW element update and the position-lane
// formulas (RoPE, GOAT), the attention diagnostics' per-row epilogue, so the CUDA math is not a
// second copy of the CPU math (style.md).
// GOAT_HD marks them __host__ __device__ under nvcc.
#pragma once

#include <cmath>

#if defined(__CUDACC__)
#define GOAT_HD __host__ __device__ __forceinline__
#else
#define GOAT_HD inline
#endif

namespace goat::kmath {

constexpr float kGeluC = 0.7978845608028654f;  // √(2/π)
constexpr float kGeluA = 0.044715f;

// gelu(x) = 0.5x(1 + tanh(u)) = x·σ(2u), u = √(2/π)(x + 0.044715x³): one exp, as the CPU op.
GOAT_HD float gelu(float x) {
  const float u = kGeluC * (x + kGeluA * x * x * x);
  return x / (1.f + expf(-2.f * u));
}

// gelu'(x) = σ(2u) + x·2σ(2u)(1 − σ(2u))·u'(x), u' = √(2/π)(1 + 3·0.044715x²).
GOAT_HD float gelu_grad(float x) {
  const float u = kGeluC * (x + kGeluA * x * x * x);
  const float s = 1.f / (1.f + expf(-2.f * u));
  return s + 2.f * x * s * (1.f - s) * kGeluC * (1.f + 3.f * kGeluA * x * x);
}

// One AdamW element (the CPU op's order of operations): g = grad·gs; m, v updated;
// p −= lr·((m·inv_c1)/(√(v·inv_c2) + eps) + wd·p). inv_c1 = 1/(1 − β1^t), inv_c2 = 1/(1 − β2^t).
GOAT_HD void adamw_element(float& p, float grad, float& m, float& v, float lr, float beta1, float beta2, float eps,
                           float wd, float gs, float inv_c1, float inv_c2) {
  const float g = grad * gs;
  m = beta1 * m + (1.f - beta1) * g;
  v = beta2 * v + (1.f - beta2) * g * g;
  p -= lr * ((m * inv_c1) / (sqrtf(v * inv_c2) + eps) + wd * p);
}

// RoPE: the pair (x1, x2) rotated by the angle with cosine c and sine s (s carries the sign of
// the rotation: backward rotates by −angle).
GOAT_HD void rope_rotate_pair(float& x1, float& x2, float c, float s) {
  const float a = x1, b = x2;
  x1 = a * c - b * s;
  x2 = a * s + b * c;
}

// GOAT's query prior lanes for one frequency (goat.md §3): with c = cos(w t_i), s = sin(w t_i),
// lane_cos = a·c + b·s and lane_sin = a·s − b·c, so <q~, k~> gains a cos(wΔ) + b sin(wΔ).
GOAT_HD void goat_q_lanes(float a, float b, float c, float s, float& lane_cos, float& lane_sin) {
  lane_cos = a * c + b * s;
  lane_sin = a * s - b * c;
}

// Their transpose: the contribution of one query row's lane gradients (gc, gs) to ∂L/∂a, ∂L/∂b.
GOAT_HD void goat_lane_grads(double gc, double gs, double c, double s, double& da, double& db) {
  da += gc * c + gs * s;
  db += gc * s - gs * c;
}

// Attention diagnostics of one query row (ops/attention.h, theory.md §5) from accumulators taken
// about a shift m: l = Σ_j e^{z_j − m}, ent = Σ_j e^{z_j − m}(z_j − m), es = Σ_j e^{z_j − m}·s_j
// (s the content logits), over the admissible keys j; lse = m + log l. The CPU kernel shifts by
// its running max (online softmax), the CUDA pass (kernels/attention_diagnostics.cuh) by the
// forward's saved LSE (then l ≈ 1).
//   entropy = −Σ p log p = log l − ent/l
GOAT_HD float attn_entropy(float l, float ent) { return logf(l) - ent * (1.f / l); }
//   p_max = e^{zmax − m}/l (zmax the row's largest logit; 1/l when m = zmax)
GOAT_HD float attn_p_max(float zmax, float m, float l) { return expf(zmax - m) * (1.f / l); }
//   sink mass = p_0 = e^{z_0 − lse}
GOAT_HD float attn_sink(float z0, float lse) { return expf(z0 - lse); }
//   KL(p ‖ π) = E_p[s] − lse + logZπ; this is E_p[s] − lse, logZπ = logsumexp_j ℓ_j added by the caller
GOAT_HD float attn_kl_content(float es, float l, float lse) { return es * (1.f / l) - lse; }
//   the log-normaliser of the prior from an online logsumexp (running max mp, Σ e^{ℓ − mp} = lp)
GOAT_HD float attn_log_normaliser(float mp, float lp) { return mp + logf(lp); }

// GOAT's key-only prior (goat.md §3, model/position_goat.h): the sink MLP x(t_j) → 4 SiLU units →
// 1, and the recency slope softplus(rho). σ and softplus in fp64 (σ rounded to fp32 in the
// forward), as the CPU reference has always computed them; the CUDA kernels
// (kernels/goat_prior.cuh) call the same functions.
constexpr int kGoatSinkHidden = 4;
GOAT_HD double goat_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
GOAT_HD double goat_softplus(double x) { return x > 20.0 ? x : log1p(exp(x)); }  // PyTorch's: x above 20
// One hidden unit's forward term w2·h·σ(h), h the pre-activation (fp32).
GOAT_HD float goat_sink_unit(float w2, float h) { return w2 * h * static_cast<float>(goat_sigmoid(h)); }
// Its backward for upstream gradient g: ∂/∂w2 = g·h·σ(h) (added to dw2) and ∂/∂h = g·w2·σ(h)(1 + h(1 − σ(h))).
GOAT_HD double goat_sink_unit_grad(double g, double w2, double h, double& dw2) {
  const double s = goat_sigmoid(h);
  dw2 += g * h * s;
  return g * w2 * s * (1.0 + h * (1.0 - s));
}

}  // namespace goat::kmath
