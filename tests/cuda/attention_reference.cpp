// fp64 naive attention forward and backward (attention_reference.h).
#include "attention_reference.h"

#include <algorithm>
#include <cmath>

#include "core/dtype.h"

namespace goat::cuda_test {

RefOutputs attention_reference(const RefDims& m, const RefInputs& in) {
  RefOutputs r;
  const int64_t D = m.D, group = m.H / m.Hkv, shift = m.Tk - m.Tq;
  r.o.assign(static_cast<size_t>(m.B * m.H * m.Tq * D), 0.0);
  r.dq.assign(r.o.size(), 0.0);
  r.lse.assign(static_cast<size_t>(m.B * m.H * m.Tq), 0.0);
  r.delta = r.w = r.lse;
  r.dk.assign(static_cast<size_t>(m.B * m.Hkv * m.Tk * D), 0.0);
  r.dv.assign(r.dk.size(), 0.0);
  r.d_key_bias.assign(static_cast<size_t>(m.B * m.Hkv * m.Tk), 0.0);
  r.d_slope.assign(static_cast<size_t>(m.Hkv), 0.0);
  std::vector<double> p(static_cast<size_t>(m.Tk)), dp(p.size());
  for (int64_t b = 0; b < m.B; ++b)
    for (int64_t h = 0; h < m.H; ++h) {
      const int64_t hk = h / group;
      for (int64_t i = 0; i < m.Tq; ++i) {
        const double* q = &in.q[static_cast<size_t>(((b * m.H + h) * m.Tq + i) * D)];
        const double* dout = &in.d_o[static_cast<size_t>(((b * m.H + h) * m.Tq + i) * D)];
        const int64_t nk = m.causal ? shift + i + 1 : m.Tk;
        double mx = -INFINITY;
        for (int64_t j = 0; j < nk; ++j) {
          const double* k = &in.k[static_cast<size_t>(((b * m.Hkv + hk) * m.Tk + j) * D)];
          double s = 0;
          for (int64_t d = 0; d < D; ++d) s += q[d] * k[d];
          double z = m.scale * s;
          if (!in.slope.empty()) z += in.slope[static_cast<size_t>(hk)] * static_cast<double>(j - (shift + i));
          if (!in.key_bias.empty()) z += in.key_bias[static_cast<size_t>((b * m.Hkv + hk) * m.Tk + j)];
          p[static_cast<size_t>(j)] = z;
          mx = std::max(mx, z);
        }
        double l = 0;
        for (int64_t j = 0; j < nk; ++j) l += std::exp(p[static_cast<size_t>(j)] - mx);
        const double lse = mx + std::log(l);
        r.lse[static_cast<size_t>((b * m.H + h) * m.Tq + i)] = lse;
        double* o = &r.o[static_cast<size_t>(((b * m.H + h) * m.Tq + i) * D)];
        double delta = 0;
        for (int64_t j = 0; j < nk; ++j) {
          double& pj = p[static_cast<size_t>(j)];
          pj = std::exp(pj - lse);
          const double* v = &in.v[static_cast<size_t>(((b * m.Hkv + hk) * m.Tk + j) * D)];
          double dpj = 0;
          const double pv = in.p_bf16_in_pv ? bf16_round(static_cast<float>(pj)) : pj;
          for (int64_t d = 0; d < D; ++d) o[d] += pv * v[d], dpj += dout[d] * v[d];
          dp[static_cast<size_t>(j)] = dpj;
          delta += pj * dpj;
        }
        if (in.delta_from_bf16_o) {
          delta = 0;
          for (int64_t d = 0; d < D; ++d) delta += dout[d] * bf16_round(static_cast<float>(o[d]));
        }
        r.delta[static_cast<size_t>((b * m.H + h) * m.Tq + i)] = delta;
        double w = 0;
        for (int64_t j = 0; j < nk; ++j) w += p[static_cast<size_t>(j)] * static_cast<double>(j - (shift + i));
        r.w[static_cast<size_t>((b * m.H + h) * m.Tq + i)] = w;
        double* dq = &r.dq[static_cast<size_t>(((b * m.H + h) * m.Tq + i) * D)];
        for (int64_t j = 0; j < nk; ++j) {
          const size_t kv = static_cast<size_t>(((b * m.Hkv + hk) * m.Tk + j) * D);
          const double pj = p[static_cast<size_t>(j)], ds = pj * (dp[static_cast<size_t>(j)] - delta);
          for (int64_t d = 0; d < D; ++d) {
            dq[d] += m.scale * ds * in.k[kv + static_cast<size_t>(d)];
            r.dk[kv + static_cast<size_t>(d)] += m.scale * ds * q[d];
            r.dv[kv + static_cast<size_t>(d)] += pj * dout[d];
          }
          r.d_key_bias[static_cast<size_t>((b * m.Hkv + hk) * m.Tk + j)] += ds;
          r.d_slope[static_cast<size_t>(hk)] += ds * static_cast<double>(j - (shift + i));
        }
      }
    }
  return r;
}

}  // namespace goat::cuda_test
