// Naive attention reference for the attention and GOAT tests: dense T×T logits, templated on
// the scalar so the same code gives the fp64 reference and the "plain fp32" reference whose error
// sets the computed tolerance (FlashAttention's rule). Also NMSE and guarded buffers.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/philox.h"

namespace goat::test {

struct RefProblem {
  int64_t B = 1, H = 1, Hkv = 1, Tq = 1, Tk = 1, D = 1;
  double scale = 1.0;
  bool causal = true;
  std::vector<double> q, k, v;  // (B, H, Tq, D), (B, Hkv, Tk, D), (B, Hkv, Tk, D)
  std::vector<double> slope;    // (Hkv) or empty
  std::vector<double> kb;       // (B, Hkv, Tk) or empty
  std::vector<double> bias;     // explicit (B, H, Tq, Tk) or empty
  int64_t content_dim = 0;      // for diagnostics: dims after it are prior lanes
};

template <class T>
struct RefOut {
  std::vector<T> o, lse, p, z;  // o (B, H, Tq, D); lse (B, H, Tq); p, z (B, H, Tq, Tk), z = −inf masked
};

template <class T>
struct RefGrads {
  std::vector<T> dq, dk, dv, dkb, dslope, dz;  // dz = dS (B, H, Tq, Tk)
};

inline bool ref_admissible(const RefProblem& P, int64_t i, int64_t j) { return !P.causal || j <= P.Tk - P.Tq + i; }

// The log-prior part of z: lanes after content_dim (scaled), slope, key bias, explicit bias.
template <class T>
T ref_prior_logit(const RefProblem& P, int64_t b, int64_t h, int64_t i, int64_t j) {
  const int64_t hk = h / (P.H / P.Hkv), dc = P.content_dim > 0 ? P.content_dim : P.D;
  T acc = 0;
  for (int64_t c = dc; c < P.D; ++c)
    acc += static_cast<T>(P.q[((b * P.H + h) * P.Tq + i) * P.D + c]) *
           static_cast<T>(P.k[((b * P.Hkv + hk) * P.Tk + j) * P.D + c]);
  T ell = acc * static_cast<T>(P.scale);
  if (!P.slope.empty()) ell += static_cast<T>(P.slope[hk]) * static_cast<T>(j - (P.Tk - P.Tq + i));
  if (!P.kb.empty()) ell += static_cast<T>(P.kb[(b * P.Hkv + hk) * P.Tk + j]);
  if (!P.bias.empty()) ell += static_cast<T>(P.bias[((b * P.H + h) * P.Tq + i) * P.Tk + j]);
  return ell;
}

template <class T>
RefOut<T> ref_forward(const RefProblem& P) {
  RefOut<T> r;
  const int64_t G = P.H / P.Hkv;
  r.o.assign(P.B * P.H * P.Tq * P.D, 0);
  r.lse.assign(P.B * P.H * P.Tq, 0);
  r.p.assign(P.B * P.H * P.Tq * P.Tk, 0);
  r.z.assign(P.B * P.H * P.Tq * P.Tk, -std::numeric_limits<T>::infinity());
  for (int64_t b = 0; b < P.B; ++b)
    for (int64_t h = 0; h < P.H; ++h) {
      const int64_t hk = h / G;
      for (int64_t i = 0; i < P.Tq; ++i) {
        const int64_t row = (b * P.H + h) * P.Tq + i;
        T* z = r.z.data() + row * P.Tk;
        T m = -std::numeric_limits<T>::infinity();
        for (int64_t j = 0; j < P.Tk; ++j) {
          if (!ref_admissible(P, i, j)) continue;
          T dot = 0;
          for (int64_t c = 0; c < P.D; ++c)
            dot += static_cast<T>(P.q[row * P.D + c]) * static_cast<T>(P.k[((b * P.Hkv + hk) * P.Tk + j) * P.D + c]);
          T zz = dot * static_cast<T>(P.scale);
          if (!P.slope.empty()) zz += static_cast<T>(P.slope[hk]) * static_cast<T>(j - (P.Tk - P.Tq + i));
          if (!P.kb.empty()) zz += static_cast<T>(P.kb[(b * P.Hkv + hk) * P.Tk + j]);
          if (!P.bias.empty()) zz += static_cast<T>(P.bias[row * P.Tk + j]);
          z[j] = zz;
          m = std::max(m, zz);
        }
        T sum = 0;
        for (int64_t j = 0; j < P.Tk; ++j)
          if (ref_admissible(P, i, j)) sum += std::exp(z[j] - m);
        r.lse[row] = m + std::log(sum);
        for (int64_t j = 0; j < P.Tk; ++j) {
          if (!ref_admissible(P, i, j)) continue;
          const T pj = std::exp(z[j] - r.lse[row]);
          r.p[row * P.Tk + j] = pj;
          for (int64_t c = 0; c < P.D; ++c)
            r.o[row * P.D + c] += pj * static_cast<T>(P.v[((b * P.Hkv + hk) * P.Tk + j) * P.D + c]);
        }
      }
    }
  return r;
}

// Gradients of L = Σ o · d_o by the closed form dS = P ∘ (dP − D) (checked against finite
// differences of ref_forward in the tests). o_in_d: when given, D_i = dO_i · o_in_d_i instead of
// the exact o (the effect of a rounded stored O on the backward).
template <class T>
RefGrads<T> ref_backward(const RefProblem& P, const std::vector<double>& d_o,
                         const std::vector<double>* o_in_d = nullptr) {
  const RefOut<T> f = ref_forward<T>(P);
  RefGrads<T> g;
  const int64_t G = P.H / P.Hkv;
  g.dq.assign(P.q.size(), 0), g.dk.assign(P.k.size(), 0), g.dv.assign(P.v.size(), 0);
  g.dkb.assign(P.B * P.Hkv * P.Tk, 0), g.dslope.assign(P.Hkv, 0), g.dz.assign(f.p.size(), 0);
  for (int64_t b = 0; b < P.B; ++b)
    for (int64_t h = 0; h < P.H; ++h) {
      const int64_t hk = h / G;
      for (int64_t i = 0; i < P.Tq; ++i) {
        const int64_t row = (b * P.H + h) * P.Tq + i;
        T Di = 0;
        for (int64_t c = 0; c < P.D; ++c)
          Di += static_cast<T>(d_o[row * P.D + c]) *
                (o_in_d ? static_cast<T>((*o_in_d)[row * P.D + c]) : f.o[row * P.D + c]);
        for (int64_t j = 0; j < P.Tk; ++j) {
          if (!ref_admissible(P, i, j)) continue;
          const int64_t kr = ((b * P.Hkv + hk) * P.Tk + j) * P.D;
          T dp = 0;
          for (int64_t c = 0; c < P.D; ++c) dp += static_cast<T>(d_o[row * P.D + c]) * static_cast<T>(P.v[kr + c]);
          const T pj = f.p[row * P.Tk + j], ds = pj * (dp - Di);
          g.dz[row * P.Tk + j] = ds;
          for (int64_t c = 0; c < P.D; ++c) {
            g.dq[row * P.D + c] += static_cast<T>(P.scale) * ds * static_cast<T>(P.k[kr + c]);
            g.dk[kr + c] += static_cast<T>(P.scale) * ds * static_cast<T>(P.q[row * P.D + c]);
            g.dv[kr + c] += pj * static_cast<T>(d_o[row * P.D + c]);
          }
          g.dkb[(b * P.Hkv + hk) * P.Tk + j] += ds;
          g.dslope[hk] += ds * static_cast<T>(j - (P.Tk - P.Tq + i));
        }
      }
    }
  return g;
}

// The fp64 and fp32 references of one problem, forward and backward: a kernel's error is judged
// against fp64 with a tolerance computed from the fp32 reference's own error.
struct RefSet {
  RefOut<double> r64;
  RefOut<float> r32;
  RefGrads<double> g64;
  RefGrads<float> g32;
};
inline RefSet ref_set(const RefProblem& P, const std::vector<double>& d_o) {
  return {ref_forward<double>(P), ref_forward<float>(P), ref_backward<double>(P, d_o), ref_backward<float>(P, d_o)};
}

// Normalised mean squared error Σ (a − b)² / Σ b² (b the reference); 0 when both are zero.
template <class A, class B>
double nmse(const A& a, const B& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    num += d * d;
    den += static_cast<double>(b[i]) * static_cast<double>(b[i]);
  }
  return den > 0 ? num / den : num;
}

// The computed tolerance: a kernel may be 16× worse than a plain fp32 evaluation of the same
// formula, with a floor of a few fp32 ulps² for results the fp32 reference happens to get exact.
inline double tolerance(double nmse_fp32_ref) { return 16.0 * nmse_fp32_ref + 1e-12; }

inline std::vector<double> random_vec(int64_t n, uint64_t seed, double scale = 1.0) {
  const Rng rng(seed, RngPurpose::test);
  std::vector<double> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[i] = scale * rng.normal(static_cast<uint64_t>(i));
  return x;
}

// A float buffer with guard values on both sides to catch out-of-bounds writes.
class Guarded {
 public:
  static constexpr int64_t kGuard = 64;
  static constexpr float kSentinel = -7.77e33f;
  explicit Guarded(int64_t n, float fill = 0.f) : n_(n), buf_(static_cast<size_t>(n + 2 * kGuard), kSentinel) {
    for (int64_t i = 0; i < n; ++i) buf_[kGuard + i] = fill;
  }
  float* data() { return buf_.data() + kGuard; }
  const float* data() const { return buf_.data() + kGuard; }
  int64_t size() const { return n_; }
  float operator[](int64_t i) const { return data()[i]; }
  bool guards_intact() const {
    for (int64_t i = 0; i < kGuard; ++i)
      if (buf_[i] != kSentinel || buf_[kGuard + n_ + i] != kSentinel) return false;
    return true;
  }

 private:
  int64_t n_;
  std::vector<float> buf_;
};

}  // namespace goat::test
