// GOAT position scheme: prior lanes in q/k, the sink MLP and recency as the kernel's key bias and
// slope, and the transposes for backward (goat.md §2–4). Cheap next to the attention kernel: the
// lane writes are O(B·H·T·R), the MLP O(T·M) per layer call (shared by heads and batch).
#include "model/position_goat.h"

#include <cmath>

#include "model/position_alibi.h"

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
  params_ = &params;
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

void GoatPosition::forward_qk(const Tensor& q, const Tensor& k, int64_t q_pos0, int64_t k_pos0) {
  const int64_t B = q.size(0), Tq = q.size(2), Tk = k.size(2), G = H_ / Hkv_;
  check_shape("goat", "q", q, {B, H_, Tq, D_});
  check_shape("goat", "k", k, {B, Hkv_, Tk, D_});
  const Views v = bind(*params_);
  const float qscale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dc_)));
  std::vector<float> cq(static_cast<size_t>(Tq * R_)), sq(cq.size()), ck(static_cast<size_t>(Tk * R_)), sk(ck.size());
  for (int64_t i = 0; i < Tq; ++i)
    for (int64_t r = 0; r < R_; ++r) {
      const double a = w_rel_[r] * static_cast<double>(q_pos0 + i);
      cq[i * R_ + r] = static_cast<float>(std::cos(a)), sq[i * R_ + r] = static_cast<float>(std::sin(a));
    }
  for (int64_t j = 0; j < Tk; ++j)
    for (int64_t r = 0; r < R_; ++r) {
      const double a = w_rel_[r] * static_cast<double>(k_pos0 + j);
      ck[j * R_ + r] = static_cast<float>(std::cos(a)), sk[j * R_ + r] = static_cast<float>(std::sin(a));
    }
  float* qp = q.f32();
  float* kp = k.f32();
  const bool parallel = B * H_ * (Tq + Tk) * D_ > (1 << 16);
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t bh = 0; bh < B * H_; ++bh) {
    const int64_t b = bh / H_, h = bh % H_, hk = h / G;
    for (int64_t i = 0; i < Tq; ++i) {
      float* row = qp + b * q.strides[0] + h * q.strides[1] + i * q.strides[2];
      for (int64_t c = 0; c < dc_; ++c) row[c] *= qscale;
      for (int64_t r = 0; r < R_; ++r) {
        const float a = v.a[hk * R_ + r], bb = v.b[hk * R_ + r], c = cq[i * R_ + r], s = sq[i * R_ + r];
        row[dc_ + r] = a * c + bb * s;
        row[dc_ + R_ + r] = a * s - bb * c;
      }
      if (cfg_.key_bias) row[D_ - 1] = 0.f;
    }
  }
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t bh = 0; bh < B * Hkv_; ++bh) {
    const int64_t b = bh / Hkv_, h = bh % Hkv_;
    for (int64_t j = 0; j < Tk; ++j) {
      float* row = kp + b * k.strides[0] + h * k.strides[1] + j * k.strides[2];
      for (int64_t r = 0; r < R_; ++r) row[dc_ + r] = ck[j * R_ + r], row[dc_ + R_ + r] = sk[j * R_ + r];
      if (cfg_.key_bias) row[D_ - 1] = 0.f;
    }
  }
}

// feat_ (tk, 2M+2), h1_ (tk, 4) pre-activations, mlp_out_ (tk), for keys at k_pos0 + j.
void GoatPosition::mlp_forward(int64_t tk, int64_t k_pos0) {
  const Views v = bind(*params_);
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
  if (!cfg_.key_bias) return p;
  const Views v = bind(*params_);
  mlp_forward(tk, k_pos0);
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
  if (!cfg_.key_bias) return g;
  g.d_key_bias = d_kb_.data();
  if (cfg_.causal) g.d_slope = d_slope_.data();
  return g;
}

void GoatPosition::backward_prior(const Arena& params, const Arena& grads, int64_t batch, int64_t tk, int64_t k_pos0) {
  if (!cfg_.key_bias) return;
  GOAT_CHECK(static_cast<int64_t>(d_kb_.size()) == batch * Hkv_ * tk, "goat",
             "backward_prior for (B, Tk) = ({}, {}) but prior() was last called for {} key-bias values", batch, tk,
             d_kb_.size());
  const Views P = bind(params), G = bind(grads);
  mlp_forward(tk, k_pos0);
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
}

void GoatPosition::backward_qk(const Tensor& dq, const Tensor& dk, int64_t q_pos0, int64_t k_pos0, const Arena& grads) {
  (void)k_pos0;
  const int64_t B = dq.size(0), Tq = dq.size(2), Tk = dk.size(2), G = H_ / Hkv_;
  check_shape("goat", "dq", dq, {B, H_, Tq, D_});
  check_shape("goat", "dk", dk, {B, Hkv_, Tk, D_});
  const float qscale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dc_)));
  std::vector<double> cq(static_cast<size_t>(Tq * R_)), sq(cq.size());
  for (int64_t i = 0; i < Tq; ++i)
    for (int64_t r = 0; r < R_; ++r) {
      const double a = w_rel_[r] * static_cast<double>(q_pos0 + i);
      cq[i * R_ + r] = std::cos(a), sq[i * R_ + r] = std::sin(a);
    }
  // ∂L/∂a_r = Σ dq~_cos,r cos(w_r t_i) + dq~_sin,r sin(w_r t_i); ∂L/∂b_r = Σ dq~_cos,r sin − dq~_sin,r cos.
  std::vector<double> da(static_cast<size_t>(B * H_ * R_), 0.0), db(da.size(), 0.0);
  float* dqp = dq.f32();
  float* dkp = dk.f32();
  const bool parallel = B * H_ * (Tq + Tk) * D_ > (1 << 16);
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t bh = 0; bh < B * H_; ++bh) {
    const int64_t b = bh / H_, h = bh % H_;
    for (int64_t i = 0; i < Tq; ++i) {
      float* row = dqp + b * dq.strides[0] + h * dq.strides[1] + i * dq.strides[2];
      for (int64_t r = 0; r < R_; ++r) {
        const double gc = row[dc_ + r], gs = row[dc_ + R_ + r], c = cq[i * R_ + r], s = sq[i * R_ + r];
        da[bh * R_ + r] += gc * c + gs * s;
        db[bh * R_ + r] += gc * s - gs * c;
      }
      for (int64_t c = 0; c < dc_; ++c) row[c] *= qscale;
      for (int64_t c = dc_; c < D_; ++c) row[c] = 0.f;
    }
  }
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t bh = 0; bh < B * Hkv_; ++bh) {
    const int64_t b = bh / Hkv_, h = bh % Hkv_;
    for (int64_t j = 0; j < Tk; ++j) {
      float* row = dkp + b * dk.strides[0] + h * dk.strides[1] + j * dk.strides[2];
      for (int64_t c = dc_; c < D_; ++c) row[c] = 0.f;
    }
  }
  if (R_ == 0) return;
  const Views Gv = bind(grads);
  for (int64_t bh = 0; bh < B * H_; ++bh) {
    const int64_t hk = bh % H_ / G;
    for (int64_t r = 0; r < R_; ++r) {
      Gv.a[hk * R_ + r] += static_cast<float>(da[bh * R_ + r]);
      Gv.b[hk * R_ + r] += static_cast<float>(db[bh * R_ + r]);
    }
  }
}

}  // namespace goat
