// GOAT position scheme: prior lanes in q/k, the sink MLP and recency as the kernel's key bias and
// slope, and the transposes for backward (goat.md §2–4). Cheap next to the attention kernel: the
// lane writes are O(B·H·T·R), the MLP O(T·M) per layer call (shared by heads and batch).
#include "model/position_goat.h"

#include <cmath>

#include "backend/cuda/cuda_ops.h"
#include "kernels/kernel_math.h"
#include "model/position_alibi.h"
#include "ops/elementwise.h"
#include "ops/position.h"

namespace goat {

namespace {
constexpr int64_t kHidden = kmath::kGoatSinkHidden;  // sink MLP hidden width
double sigmoid(double x) { return kmath::goat_sigmoid(x); }
}  // namespace

std::vector<double> goat_frequencies(int64_t n) {
  std::vector<double> w(static_cast<size_t>(n));
  const double denom = static_cast<double>(std::max<int64_t>(n - 1, 1));
  for (int64_t r = 0; r < n; ++r) w[r] = std::pow(10000.0, -static_cast<double>(r) / denom);
  return w;
}

std::vector<double> goat_abs_features(double t, int64_t abs_rank, int64_t train_len) {
  const std::vector<double> v = goat_frequencies(abs_rank);
  std::vector<double> x(static_cast<size_t>(2 * abs_rank + 2));
  for (int64_t m = 0; m < abs_rank; ++m) x[m] = std::cos(v[m] * t), x[abs_rank + m] = std::sin(v[m] * t);
  const double D = static_cast<double>(train_len);
  x[2 * abs_rank] = t / D;
  x[2 * abs_rank + 1] = std::log1p(t) / std::log1p(D);
  return x;
}

double softplus(double x) { return kmath::goat_softplus(x); }
double softplus_inverse(double y) { return y > 20.0 ? y : std::log(std::expm1(y)); }

GoatConfig goat_config(const PositionConfig& p, int64_t train_len) {
  GoatConfig c;
  c.pos_rank = p.pos_rank, c.abs_rank = p.abs_rank, c.key_bias = p.key_bias, c.init = p.init;
  c.train_len = p.train_len > 0 ? p.train_len : train_len;
  return c;
}

std::unique_ptr<PositionScheme> make_goat_position(const GoatConfig& cfg, const AttentionShape& shape) {
  return std::make_unique<GoatPosition>(cfg, shape);
}

struct GoatPosition::Views {
  float *a = nullptr, *b = nullptr, *gain = nullptr, *bump = nullptr, *rho = nullptr;
  float *w1 = nullptr, *b1 = nullptr, *w2 = nullptr, *b2 = nullptr;
};

GoatPosition::GoatPosition(const GoatConfig& cfg, const AttentionShape& shape)
    : cfg_(cfg),
      H_(shape.n_head),
      Hkv_(shape.n_kv_head > 0 ? shape.n_kv_head : shape.n_head),
      D_(shape.head_dim),
      R_(cfg.pos_rank),
      M_(cfg.abs_rank),
      dp_(2 * cfg.pos_rank + (cfg.key_bias ? 1 : 0)),
      dc_(D_ - dp_) {
  GOAT_CHECK(R_ >= 0 && M_ >= 1, "goat", "need pos_rank >= 0 and abs_rank >= 1, got R = {} M = {}", R_, M_);
  GOAT_CHECK(dc_ > 0, "goat", "head dim {} leaves no content dims after {} prior lanes (2·pos_rank{})", D_, dp_,
             cfg.key_bias ? " + 1" : "");
  GOAT_CHECK(Hkv_ > 0 && H_ % Hkv_ == 0, "goat", "n_head {} must be a multiple of n_kv_head {}", H_, Hkv_);
  GOAT_CHECK(!cfg.key_bias || cfg.train_len > 0, "goat", "train_len (D) must be positive, got {}", cfg.train_len);
  GOAT_CHECK(cfg.init == "seeded" || cfg.init == "uniform", "goat", "init must be seeded or uniform, got \"{}\"",
             cfg.init);
  w_rel_ = goat_frequencies(R_);
}

void GoatPosition::declare(Arena& params, const std::string& prefix) {
  prefix_ = prefix;
  params_ = &params;
  first_ = static_cast<int>(params.entries().size());
  if (R_ > 0) {
    params.add(prefix + "lambda_sym", Shape{Hkv_, R_});
    params.add(prefix + "lambda_asym", Shape{Hkv_, R_});
  }
  if (cfg_.key_bias) {
    params.add(prefix + "sink_gain", Shape{Hkv_});
    params.add(prefix + "sink_bump", Shape{Hkv_});
    params.add(prefix + "recency_slope_raw", Shape{Hkv_});
    params.add(prefix + "key_bias.fc1.weight", Shape{kHidden, 2 * M_ + 2});
    params.add(prefix + "key_bias.fc1.bias", Shape{kHidden});
    params.add(prefix + "key_bias.fc2.weight", Shape{1, kHidden});
    params.add(prefix + "key_bias.fc2.bias", Shape{1});
  }
  end_ = static_cast<int>(params.entries().size());
}

GoatPosition::Views GoatPosition::bind(const Arena& a) const {
  Views v;
  if (R_ > 0) v.a = a.view(prefix_ + "lambda_sym").f32(), v.b = a.view(prefix_ + "lambda_asym").f32();
  if (cfg_.key_bias) {
    v.gain = a.view(prefix_ + "sink_gain").f32();
    v.bump = a.view(prefix_ + "sink_bump").f32();
    v.rho = a.view(prefix_ + "recency_slope_raw").f32();
    v.w1 = a.view(prefix_ + "key_bias.fc1.weight").f32();
    v.b1 = a.view(prefix_ + "key_bias.fc1.bias").f32();
    v.w2 = a.view(prefix_ + "key_bias.fc2.weight").f32();
    v.b2 = a.view(prefix_ + "key_bias.fc2.bias").f32();
  }
  return v;
}

void GoatPosition::init(const Arena& params, const Rng& rng) {
  const Views v = bind(params);
  const bool seeded = cfg_.init == "seeded";
  for (int64_t i = 0; i < Hkv_ * R_; ++i) {
    v.a[i] = seeded ? 0.01f * rng.normal(static_cast<uint64_t>(i)) : 0.f;
    v.b[i] = 0.f;
  }
  if (!cfg_.key_bias) return;
  const std::vector<double> slopes = alibi_slopes(Hkv_);
  for (int64_t h = 0; h < Hkv_; ++h) {
    v.gain[h] = 1.f, v.bump[h] = 0.f;
    v.rho[h] = static_cast<float>(seeded ? softplus_inverse(slopes[h]) : -30.0);
  }
  const int64_t nx = 2 * M_ + 2;
  for (int64_t i = 0; i < kHidden * nx; ++i) v.w1[i] = 1e-3f * rng.normal((1ull << 32) + static_cast<uint64_t>(i));
  for (int64_t k = 0; k < kHidden; ++k) {
    v.b1[k] = 0.f;
    v.w2[k] = seeded ? 1e-3f * rng.normal((2ull << 32) + static_cast<uint64_t>(k)) : 0.f;
  }
  v.b2[0] = 0.f;
}

void GoatPosition::lane_tables(int64_t pos0, int64_t n, std::vector<float>& c, std::vector<float>& s) const {
  c.resize(static_cast<size_t>(n * R_));
  s.resize(c.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t r = 0; r < R_; ++r) {
      const double a = w_rel_[r] * static_cast<double>(pos0 + i);
      c[i * R_ + r] = static_cast<float>(std::cos(a)), s[i * R_ + r] = static_cast<float>(std::sin(a));
    }
}

Tensor GoatPosition::table(const std::vector<float>& host, int64_t rows, DeviceBuffer& buf) const {
  return device_view(host, Shape{rows, R_}, device_, buf);
}

Tensor GoatPosition::param(const Arena& a, const char* name) const {
  if (R_ == 0) return Tensor(nullptr, Shape{Hkv_, 0}, DType::f32, a.device());
  return a.view(prefix_ + name);
}

bool GoatPosition::lanes_in_kernel() const {
  return device_ == Device::cuda && dtype_ == DType::bf16 && cuda::attention_fused(DType::bf16, D_);
}

float GoatPosition::score_scale() const {
  return lanes_in_kernel() ? static_cast<float>(1.0 / std::sqrt(static_cast<double>(dc_))) : 1.f;
}

void GoatPosition::forward_qk(const Tensor& q, const Tensor& k, int64_t q_pos0, int64_t k_pos0) {
  const int64_t B = q.size(0), Tq = q.size(2), Tk = k.size(2);
  check_shape("goat", "q", q, {B, H_, Tq, D_});
  check_shape("goat", "k", k, {B, Hkv_, Tk, D_});
  if (lanes_in_kernel()) return;  // the kernel builds the lanes from prior().lanes
  const float qscale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dc_)));
  lane_tables(q_pos0, Tq, cq_, sq_);
  lane_tables(k_pos0, Tk, ck_, sk_);
  ops::goat_lanes_forward(q, k, param(*params_, "lambda_sym"), param(*params_, "lambda_asym"),
                          table(cq_, Tq, tab_dev_[0]), table(sq_, Tq, tab_dev_[1]), table(ck_, Tk, tab_dev_[2]),
                          table(sk_, Tk, tab_dev_[3]), dc_, qscale);
}

// feat_ (tk, 2M+2): x(t_j) for keys at k_pos0 + j, fp64 rounded to fp32; kept while (tk, k_pos0)
// stay the same (every training step), and on CUDA uploaded to feat_dev_ only then.
void GoatPosition::features(int64_t tk, int64_t k_pos0) {
  if (feat_tk_ != tk || feat_pos0_ != k_pos0) {
    const int64_t nx = 2 * M_ + 2;
    feat_.resize(static_cast<size_t>(tk * nx));
    for (int64_t j = 0; j < tk; ++j) {
      const std::vector<double> x = goat_abs_features(static_cast<double>(k_pos0 + j), M_, cfg_.train_len);
      for (int64_t m = 0; m < nx; ++m) feat_[j * nx + m] = static_cast<float>(x[m]);
    }
    feat_tk_ = tk, feat_pos0_ = k_pos0, feat_uploaded_ = false;
  }
  if (device_ == Device::cuda && !feat_uploaded_) {
    feat_dev_.upload(feat_.data(), feat_.size() * sizeof(float));
    feat_uploaded_ = true;
  }
}

// h1_ (tk, 4) pre-activations, mlp_out_ (tk), for keys at k_pos0 + j (CPU).
void GoatPosition::mlp_forward(const Views& v, int64_t tk, int64_t k_pos0) {
  const int64_t nx = 2 * M_ + 2;
  features(tk, k_pos0);
  h1_.resize(static_cast<size_t>(tk * kHidden));
  mlp_out_.resize(static_cast<size_t>(tk));
  for (int64_t j = 0; j < tk; ++j) {
    float out = v.b2[0];
    for (int64_t kk = 0; kk < kHidden; ++kk) {
      float h = v.b1[kk];
      for (int64_t m = 0; m < nx; ++m) h += v.w1[kk * nx + m] * feat_[j * nx + m];
      h1_[j * kHidden + kk] = h;
      out += kmath::goat_sink_unit(v.w2[kk], h);
    }
    mlp_out_[j] = out;
  }
}

// The device descriptor: parameters (and gradients, when given) in place in the device arenas.
cuda::GoatPriorDesc GoatPosition::device_desc(const Arena& params, const Arena* grads, int64_t batch, int64_t tk,
                                              int64_t k_pos0) {
  features(tk, k_pos0);
  const Views v = bind(params);
  cuda::GoatPriorDesc d;
  d.feat = static_cast<const float*>(feat_dev_.data());
  d.w1 = v.w1, d.b1 = v.b1, d.w2 = v.w2, d.b2 = v.b2, d.gain = v.gain, d.bump = v.bump, d.rho = v.rho;
  d.h1 = static_cast<float*>(h1_dev_.reserve(static_cast<size_t>(tk * kHidden) * sizeof(float)));
  d.mlp_out = static_cast<float*>(mlp_dev_.reserve(static_cast<size_t>(tk) * sizeof(float)));
  d.batch = batch, d.hkv = Hkv_, d.tk = tk, d.nx = 2 * M_ + 2, d.pos0 = k_pos0;
  if (grads) {
    const Views g = bind(*grads);
    d.g_w1 = g.w1, d.g_b1 = g.b1, d.g_w2 = g.w2, d.g_b2 = g.b2, d.g_gain = g.gain, d.g_bump = g.bump, d.g_rho = g.rho;
  }
  return d;
}

ops::AttentionPrior GoatPosition::prior(int64_t batch, int64_t tk, int64_t k_pos0) {
  ops::AttentionPrior p;
  p.pos_offset = k_pos0;
  if (lanes_in_kernel()) {
    p.lanes.on = true, p.lanes.R = R_, p.lanes.content_dim = dc_;
    p.lanes.a = param(*params_, "lambda_sym").f32(), p.lanes.b = param(*params_, "lambda_asym").f32();
  }
  if (!cfg_.key_bias) return p;
  kb_count_ = batch * Hkv_ * tk;
  if (device_ == Device::cuda) {  // kernels/goat_prior.cuh: no host round trip
    cuda::GoatPriorDesc d = device_desc(*params_, nullptr, batch, tk, k_pos0);
    d.key_bias = static_cast<float*>(kb_dev_.reserve(static_cast<size_t>(kb_count_) * sizeof(float)));
    if (cfg_.causal) d.slope = static_cast<float*>(slope_dev_.reserve(static_cast<size_t>(Hkv_) * sizeof(float)));
    cuda::goat_prior_forward(d);
    u_.clear();
    p.key_bias = d.key_bias, p.slope = d.slope;
    return p;
  }
  const Views v = bind(*params_);
  mlp_forward(v, tk, k_pos0);
  u_.resize(static_cast<size_t>(Hkv_ * tk));
  for (int64_t h = 0; h < Hkv_; ++h)
    for (int64_t j = 0; j < tk; ++j) u_[h * tk + j] = v.gain[h] * mlp_out_[j] + (k_pos0 + j == 0 ? v.bump[h] : 0.f);
  kb_.resize(static_cast<size_t>(batch * Hkv_ * tk));
  for (int64_t b = 0; b < batch; ++b) std::copy(u_.begin(), u_.end(), kb_.begin() + b * Hkv_ * tk);
  d_kb_.assign(kb_.size(), 0.f);
  slope_.resize(static_cast<size_t>(Hkv_));
  d_slope_.assign(static_cast<size_t>(Hkv_), 0.f);
  for (int64_t h = 0; h < Hkv_; ++h) slope_[h] = static_cast<float>(softplus(v.rho[h]));
  p.key_bias = kb_.data();
  if (cfg_.causal) p.slope = slope_.data();
  return p;
}

ops::AttentionGrads GoatPosition::prior_grad_buffers() {
  ops::AttentionGrads g;
  if (lanes_in_kernel() && R_ > 0) {
    g.d_lane_a = static_cast<float*>(d_lane_dev_.reserve(static_cast<size_t>(2 * Hkv_ * R_) * sizeof(float)));
    g.d_lane_b = g.d_lane_a + Hkv_ * R_;
  }
  if (!cfg_.key_bias) return g;
  if (device_ == Device::cuda) {
    g.d_key_bias = static_cast<float*>(d_kb_dev_.reserve(static_cast<size_t>(kb_count_) * sizeof(float)));
    if (cfg_.causal) g.d_slope = static_cast<float*>(d_slope_dev_.reserve(static_cast<size_t>(Hkv_) * sizeof(float)));
    return g;
  }
  g.d_key_bias = d_kb_.data();
  if (cfg_.causal) g.d_slope = d_slope_.data();
  return g;
}

void GoatPosition::backward_prior(const Arena& params, const Arena& grads, int64_t batch, int64_t tk, int64_t k_pos0) {
  if (!cfg_.key_bias) return;
  GOAT_CHECK(kb_count_ == batch * Hkv_ * tk, "goat",
             "backward_prior for (B, Tk) = ({}, {}) but prior() was last called for {} key-bias values", batch, tk,
             kb_count_);
  if (device_ == Device::cuda) {  // kernels/goat_prior.cuh, gradients added in the device arena
    cuda::GoatPriorDesc d = device_desc(params, &grads, batch, tk, k_pos0);
    d.d_key_bias = static_cast<const float*>(d_kb_dev_.data());
    if (cfg_.causal) d.d_slope = static_cast<const float*>(d_slope_dev_.data());
    d.g_out = static_cast<double*>(gout_dev_.reserve(static_cast<size_t>(tk) * sizeof(double)));
    cuda::goat_prior_backward(d);
    return;
  }
  const Views P = bind(params), G = bind(grads);
  mlp_forward(P, tk, k_pos0);
  const int64_t nx = 2 * M_ + 2;
  std::vector<double> g_out(static_cast<size_t>(tk), 0.0);  // ∂L/∂MLP(x_j)
  for (int64_t h = 0; h < Hkv_; ++h) {
    double d_gain = 0.0;
    for (int64_t j = 0; j < tk; ++j) {
      double du = 0.0;  // ∂L/∂u_h(j): the column sums, over the batch
      for (int64_t b = 0; b < batch; ++b) du += d_kb_[(b * Hkv_ + h) * tk + j];
      d_gain += du * mlp_out_[j];
      g_out[j] += du * P.gain[h];
      if (k_pos0 + j == 0) G.bump[h] += static_cast<float>(du);
    }
    G.gain[h] += static_cast<float>(d_gain);
    if (cfg_.causal) G.rho[h] += static_cast<float>(sigmoid(P.rho[h]) * d_slope_[h]);
  }
  double d_b2 = 0.0, d_w2[kHidden] = {}, d_b1[kHidden] = {};
  std::vector<double> d_w1(static_cast<size_t>(kHidden * nx), 0.0);
  for (int64_t j = 0; j < tk; ++j) {
    d_b2 += g_out[j];
    for (int64_t kk = 0; kk < kHidden; ++kk) {
      const double dh = kmath::goat_sink_unit_grad(g_out[j], P.w2[kk], h1_[j * kHidden + kk], d_w2[kk]);
      d_b1[kk] += dh;
      for (int64_t m = 0; m < nx; ++m) d_w1[kk * nx + m] += dh * feat_[j * nx + m];
    }
  }
  G.b2[0] += static_cast<float>(d_b2);
  for (int64_t kk = 0; kk < kHidden; ++kk) {
    G.w2[kk] += static_cast<float>(d_w2[kk]);
    G.b1[kk] += static_cast<float>(d_b1[kk]);
    for (int64_t m = 0; m < nx; ++m) G.w1[kk * nx + m] += static_cast<float>(d_w1[kk * nx + m]);
  }
}

void GoatPosition::backward_qk(const Tensor& dq, const Tensor& dk, int64_t q_pos0, int64_t k_pos0, const Arena& grads) {
  (void)k_pos0;
  const int64_t B = dq.size(0), Tq = dq.size(2), Tk = dk.size(2);
  check_shape("goat", "dq", dq, {B, H_, Tq, D_});
  check_shape("goat", "dk", dk, {B, Hkv_, Tk, D_});
  if (lanes_in_kernel()) {  // dq/dk lanes are 0 and the content scaled already; ∂a, ∂b came out
    if (R_ == 0) return;   // added into the device arena: no host round trip
    float* dab = static_cast<float*>(d_lane_dev_.data());
    const Tensor ga = param(grads, "lambda_sym"), gb = param(grads, "lambda_asym");
    ops::add_forward(ga, ga, Tensor(dab, ga.shape, DType::f32, Device::cuda));
    ops::add_forward(gb, gb, Tensor(dab + Hkv_ * R_, gb.shape, DType::f32, Device::cuda));
    return;
  }
  const float qscale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dc_)));
  // ∂L/∂a_r = Σ dq~_cos,r cos(w_r t_i) + dq~_sin,r sin(w_r t_i); ∂L/∂b_r = Σ dq~_cos,r sin − dq~_sin,r cos.
  lane_tables(q_pos0, Tq, cq_, sq_);
  ops::goat_lanes_backward(dq, dk, param(grads, "lambda_sym"), param(grads, "lambda_asym"),
                           table(cq_, Tq, tab_dev_[0]), table(sq_, Tq, tab_dev_[1]), dc_, qscale);
}

}  // namespace goat
