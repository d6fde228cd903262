// GOAT position scheme: prior lanes in q/k, the sink MLP and recency as the kernel's key bias and
// slope, and the transposes for backward (goat.md §2–4). Cheap next to the attention kernel: the
// lane writes are O(B·H·T·R), the MLP O(T·M) per layer call (shared by heads and batch).
#include "model/position_goat.h"

#include <cmath>

#include "backend/cuda/cuda_ops.h"
#include "model/position_alibi.h"
#include "ops/position.h"

namespace goat {

namespace {
constexpr int64_t kHidden = 4;  // sink MLP hidden width
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
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

double softplus(double x) { return x > 20.0 ? x : std::log1p(std::exp(x)); }
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

GoatPosition::Views GoatPosition::host_views(const Arena& a, std::vector<float>& mirror) const {
  if (a.device() == Device::cpu || first_ == end_) return bind(a);
  const auto& es = a.entries();
  const int64_t off0 = es[first_].offset, n = es[end_ - 1].offset + es[end_ - 1].shape.numel() - off0;
  mirror.resize(static_cast<size_t>(n));
  cuda::copy_to_host(mirror.data(), a.view(first_).f32(), static_cast<size_t>(n) * sizeof(float));
  const auto at = [&](const char* name) { return mirror.data() + (es[a.index_of(prefix_ + name)].offset - off0); };
  Views v;
  if (R_ > 0) v.a = at("lambda_sym"), v.b = at("lambda_asym");
  if (cfg_.key_bias) {
    v.gain = at("sink_gain"), v.bump = at("sink_bump"), v.rho = at("recency_slope_raw");
    v.w1 = at("key_bias.fc1.weight"), v.b1 = at("key_bias.fc1.bias");
    v.w2 = at("key_bias.fc2.weight"), v.b2 = at("key_bias.fc2.bias");
  }
  return v;
}

void GoatPosition::push_mirror(const Arena& a, const std::vector<float>& mirror) const {
  if (a.device() == Device::cpu || first_ == end_) return;
  cuda::copy_to_device(a.view(first_).f32(), mirror.data(), mirror.size() * sizeof(float));
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

// feat_ (tk, 2M+2), h1_ (tk, 4) pre-activations, mlp_out_ (tk), for keys at k_pos0 + j.
void GoatPosition::mlp_forward(const Views& v, int64_t tk, int64_t k_pos0) {
  const int64_t nx = 2 * M_ + 2;
  feat_.resize(static_cast<size_t>(tk * nx));
  h1_.resize(static_cast<size_t>(tk * kHidden));
  mlp_out_.resize(static_cast<size_t>(tk));
  for (int64_t j = 0; j < tk; ++j) {
    const std::vector<double> x = goat_abs_features(static_cast<double>(k_pos0 + j), M_, cfg_.train_len);
    for (int64_t m = 0; m < nx; ++m) feat_[j * nx + m] = static_cast<float>(x[m]);
    float out = v.b2[0];
    for (int64_t kk = 0; kk < kHidden; ++kk) {
      float h = v.b1[kk];
      for (int64_t m = 0; m < nx; ++m) h += v.w1[kk * nx + m] * feat_[j * nx + m];
      h1_[j * kHidden + kk] = h;
      out += v.w2[kk] * h * static_cast<float>(sigmoid(h));
    }
    mlp_out_[j] = out;
  }
}

ops::AttentionPrior GoatPosition::prior(int64_t batch, int64_t tk, int64_t k_pos0) {
  ops::AttentionPrior p;
  p.pos_offset = k_pos0;
  if (lanes_in_kernel()) {
    p.lanes.on = true, p.lanes.R = R_, p.lanes.content_dim = dc_;
    p.lanes.a = param(*params_, "lambda_sym").f32(), p.lanes.b = param(*params_, "lambda_asym").f32();
  }
  if (!cfg_.key_bias) return p;
  const Views v = host_views(*params_, pmirror_);
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
  if (device_ == Device::cuda) {
    p.key_bias = static_cast<float*>(kb_dev_.upload(kb_.data(), kb_.size() * sizeof(float)));
    if (cfg_.causal) p.slope = static_cast<float*>(slope_dev_.upload(slope_.data(), slope_.size() * sizeof(float)));
  }
  return p;
}

ops::AttentionGrads GoatPosition::prior_grad_buffers() {
  ops::AttentionGrads g;
  if (lanes_in_kernel() && R_ > 0) {
    g.d_lane_a = static_cast<float*>(d_lane_dev_.reserve(static_cast<size_t>(2 * Hkv_ * R_) * sizeof(float)));
    g.d_lane_b = g.d_lane_a + Hkv_ * R_;
  }
  if (!cfg_.key_bias) return g;
  g.d_key_bias = d_kb_.data();
  if (cfg_.causal) g.d_slope = d_slope_.data();
  if (device_ == Device::cuda) {
    g.d_key_bias = static_cast<float*>(d_kb_dev_.reserve(d_kb_.size() * sizeof(float)));
    if (cfg_.causal) g.d_slope = static_cast<float*>(d_slope_dev_.reserve(d_slope_.size() * sizeof(float)));
  }
  return g;
}

void GoatPosition::backward_prior(const Arena& params, const Arena& grads, int64_t batch, int64_t tk, int64_t k_pos0) {
  if (!cfg_.key_bias) return;
  GOAT_CHECK(static_cast<int64_t>(d_kb_.size()) == batch * Hkv_ * tk, "goat",
             "backward_prior for (B, Tk) = ({}, {}) but prior() was last called for {} key-bias values", batch, tk,
             d_kb_.size());
  if (device_ == Device::cuda) {  // the kernel's outputs, down to the host vectors
    d_kb_dev_.download(d_kb_.data(), d_kb_.size() * sizeof(float));
    if (cfg_.causal) d_slope_dev_.download(d_slope_.data(), d_slope_.size() * sizeof(float));
  }
  const Views P = host_views(params, pmirror_), G = host_views(grads, gmirror_);
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
      const double h = h1_[j * kHidden + kk], s = sigmoid(h);
      d_w2[kk] += g_out[j] * h * s;
      const double dh = g_out[j] * P.w2[kk] * s * (1.0 + h * (1.0 - s));
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
  push_mirror(grads, gmirror_);
}

void GoatPosition::backward_qk(const Tensor& dq, const Tensor& dk, int64_t q_pos0, int64_t k_pos0, const Arena& grads) {
  (void)k_pos0;
  const int64_t B = dq.size(0), Tq = dq.size(2), Tk = dk.size(2);
  check_shape("goat", "dq", dq, {B, H_, Tq, D_});
  check_shape("goat", "dk", dk, {B, Hkv_, Tk, D_});
  if (lanes_in_kernel()) {  // dq/dk lanes are 0 and the content scaled already; ∂a, ∂b came out
    if (R_ == 0) return;
    std::vector<float> dab(static_cast<size_t>(2 * Hkv_ * R_));
    d_lane_dev_.download(dab.data(), dab.size() * sizeof(float));
    const Views G = host_views(grads, gmirror_);
    for (int64_t i = 0; i < Hkv_ * R_; ++i) G.a[i] += dab[static_cast<size_t>(i)], G.b[i] += dab[static_cast<size_t>(Hkv_ * R_ + i)];
    push_mirror(grads, gmirror_);
    return;
  }
  const float qscale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dc_)));
  // ∂L/∂a_r = Σ dq~_cos,r cos(w_r t_i) + dq~_sin,r sin(w_r t_i); ∂L/∂b_r = Σ dq~_cos,r sin − dq~_sin,r cos.
  lane_tables(q_pos0, Tq, cq_, sq_);
  ops::goat_lanes_backward(dq, dk, param(grads, "lambda_sym"), param(grads, "lambda_asym"),
                           table(cq_, Tq, tab_dev_[0]), table(sq_, Tq, tab_dev_[1]), dc_, qscale);
}

}  // namespace goat
