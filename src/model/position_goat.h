// GOAT (goat.md §2–4): attention with a learned prior, as a PositionScheme. The prior lanes replace
// the last d_p = 2R (+1 with key bias) dims of each q/k head:
//   q~ = [q_c / sqrt(d_c),  a∘cos(w t_i) + b∘sin(w t_i),  a∘sin(w t_i) − b∘cos(w t_i),  0]
//   k~ = [k_c,              cos(w t_j),                   sin(w t_j),                   0]
// so <q~_i, k~_j> = content/sqrt(d_c) + Σ_r a_r cos(w_r Δ) + b_r sin(w_r Δ), and the kernel runs with
// scale 1. The per-key sink term u(j) = gain·MLP(x_j) + bump·[t_j = 0] is passed as the kernel's
// key_bias and the recency softplus(rho)·t_j as its slope (added per pair in fp32), rather than in
// the last lane, so neither is quantised. Parameters (per KV head, export names of the reference
// module): lambda_sym = a (Hkv, R), lambda_asym = b (Hkv, R), sink_gain, sink_bump,
// recency_slope_raw = rho (Hkv), key_bias.fc1.{weight (4, 2M+2), bias (4)}, key_bias.fc2.{weight
// (1, 4), bias (1)}. See docs/goat.md.
//
// On CUDA (set_device) the lanes are kernels (ops/position.h); the prior — the MLP over Tk keys
// and Hkv slopes, O(Tk·M) — stays a host computation: this layer's few prior parameters
// (one contiguous arena span) are copied down, u and the slopes copied up, and in backward
// d_key_bias/d_slope copied down and the parameter gradients added to the device span.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/device_buffer.h"
#include "model/position.h"

namespace goat {

struct GoatConfig {
  int64_t pos_rank = 4;         // R: Fourier pairs of the relative term
  int64_t abs_rank = 4;         // M: Fourier pairs of the sink MLP's absolute features
  bool key_bias = true;         // u(j): sink MLP + gain + bump + recency
  std::string init = "seeded";  // seeded (= ALiBi on the content dims) | uniform (= plain attention)
  int64_t train_len = 0;        // D of the absolute features (> 0)
  bool causal = true;           // recency is a causal-only term
};

// model.position → GoatConfig (train_len falls back to the training sequence length).
GoatConfig goat_config(const PositionConfig& p, int64_t train_len);

std::unique_ptr<PositionScheme> make_goat_position(const GoatConfig& cfg, const AttentionShape& shape);

// w_r = 10000^(−r / max(n − 1, 1)), r < n: the relative (R) and absolute (M) frequencies.
std::vector<double> goat_frequencies(int64_t n);
// x(t) = [cos(v_m t) (M), sin(v_m t) (M), t / D, log1p(t) / log1p(D)]: the sink MLP's input.
std::vector<double> goat_abs_features(double t, int64_t abs_rank, int64_t train_len);
double softplus(double x);  // PyTorch's: x above 20
double softplus_inverse(double y);

class GoatPosition final : public PositionScheme {
 public:
  GoatPosition(const GoatConfig& cfg, const AttentionShape& shape);

  void declare(Arena& params, const std::string& prefix) override;
  void init(const Arena& params, const Rng& rng) override;
  // 1 with the lanes folded into q/k (content pre-scaled); 1/sqrt(dc) with in-kernel lanes.
  float score_scale() const override;
  // Whether the CUDA fused kernels build the relative lanes (bf16 on CUDA with a fused head dim):
  // then forward_qk leaves q/k alone, prior() hands (a, b) to the kernel and backward_qk takes
  // ∂a, ∂b from it (docs/kernels.md). Otherwise the lanes are folded into q/k (goat.md §3).
  bool lanes_in_kernel() const;
  int64_t content_dim() const override { return dc_; }
  int64_t prior_lanes() const { return dp_; }

  void forward_qk(const Tensor& q, const Tensor& k, int64_t q_pos0, int64_t k_pos0) override;
  ops::AttentionPrior prior(int64_t batch, int64_t tk, int64_t k_pos0) override;
  ops::AttentionGrads prior_grad_buffers() override;
  void backward_prior(const Arena& params, const Arena& grads, int64_t batch, int64_t tk, int64_t k_pos0) override;
  void backward_qk(const Tensor& dq, const Tensor& dk, int64_t q_pos0, int64_t k_pos0, const Arena& grads) override;

  // The per-key sink term u_h(j) without recency, (Hkv, tk), from the parameters bound by the
  // last prior() call; for tests and the eval's prior diagnostics.
  const std::vector<float>& key_bias_values() const { return u_; }

 private:
  struct Views;
  Views bind(const Arena& a) const;  // host arenas
  // Views of this layer's parameters on the host: bind(a) on the CPU; on CUDA a downloaded copy
  // of the layer's span in `mirror` (push_mirror uploads it back).
  Views host_views(const Arena& a, std::vector<float>& mirror) const;
  void push_mirror(const Arena& a, const std::vector<float>& mirror) const;
  void mlp_forward(const Views& v, int64_t tk, int64_t k_pos0);
  // cos/sin(w_r t) for rows at pos0 + i, i < n: (n, R) each, fp32 from fp64 angles.
  void lane_tables(int64_t pos0, int64_t n, std::vector<float>& c, std::vector<float>& s) const;
  Tensor table(const std::vector<float>& host, int64_t rows, DeviceBuffer& buf) const;
  Tensor param(const Arena& a, const char* name) const;  // (Hkv, R) lambda view, or an empty (Hkv, 0)

  GoatConfig cfg_;
  int64_t H_, Hkv_, D_, R_, M_, dp_, dc_;
  std::string prefix_;
  const Arena* params_ = nullptr;  // bound at declare()
  int first_ = 0, end_ = 0;         // this layer's entries in the arena: [first_, end_)
  std::vector<double> w_rel_;
  std::vector<float> slope_;                // softplus(rho) (Hkv)
  std::vector<float> u_;                    // (Hkv, tk)
  std::vector<float> kb_;                   // (B, Hkv, tk): u replicated over the batch for the kernel
  std::vector<float> feat_, h1_, mlp_out_;  // MLP activations per key: (tk, 2M+2), (tk, 4), (tk)
  std::vector<float> d_kb_, d_slope_;       // kernel gradient outputs (B, Hkv, tk), (Hkv)
  std::vector<float> cq_, sq_, ck_, sk_;    // lane tables of the last forward_qk/backward_qk
  std::vector<float> pmirror_, gmirror_;    // host copies of the layer's params / grads (CUDA)
  DeviceBuffer kb_dev_, slope_dev_, d_kb_dev_, d_slope_dev_, tab_dev_[4];
  DeviceBuffer d_lane_dev_;                 // in-kernel lanes: ∂a, ∂b (2, Hkv, R) from the kernel
};

}  // namespace goat
