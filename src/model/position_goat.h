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
// On CUDA (set_device) the lanes are kernels (ops/position.h) and so is the prior — the MLP over
// Tk keys and the Hkv slopes, forward and backward (kernels/goat_prior.cuh), reading the
// parameters and adding the gradients in place in the device arenas; only the features x(t_j)
// are computed on the host (fp64) and uploaded when (Tk, first position) changes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend/cuda/cuda_ops.h"
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
  bool has_backward_qk() const override { return true; }

  // The per-key sink term u_h(j) without recency, (Hkv, tk), from the parameters bound by the
  // last prior() call; for tests and the eval's prior diagnostics. CPU only (empty on CUDA).
  const std::vector<float>& key_bias_values() const { return u_; }

 private:
  struct Views;
  Views bind(const Arena& a) const;  // host arenas
  void features(int64_t tk, int64_t k_pos0);  // feat_ (and feat_dev_ on CUDA) for these keys
  void mlp_forward(const Views& v, int64_t tk, int64_t k_pos0);
  cuda::GoatPriorDesc device_desc(const Arena& params, const Arena* grads, int64_t batch, int64_t tk, int64_t k_pos0);
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
  int64_t feat_tk_ = -1, feat_pos0_ = -1;  // the keys feat_ holds
  bool feat_uploaded_ = false;              // feat_dev_ holds feat_
  int64_t kb_count_ = 0;                    // B·Hkv·tk of the last prior()
  DeviceBuffer kb_dev_, slope_dev_, d_kb_dev_, d_slope_dev_, tab_dev_[4];
  DeviceBuffer feat_dev_, h1_dev_, mlp_dev_, gout_dev_;  // the prior kernels' inputs and scratch (CUDA)
  DeviceBuffer d_lane_dev_;                 // in-kernel lanes: ∂a, ∂b (2, Hkv, R) from the kernel
};

}  // namespace goat
