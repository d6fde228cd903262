// CPU attention backward (FlashAttention-2's recomputation scheme). One work item is (b, kv head):
// the thread owning it owns dK, dV, dQ of every query head in the GQA group, so no atomics and
// no reduction are needed. Key blocks are the outer loop (dK_j, dV_j accumulate in a tile); for
// each query head of the group and each query tile that can see the block it recomputes
// P = exp(scale·Q Kᵀ + bias − LSE), dP = dO Vᵀ, dS = P ∘ (dP − D) with D_i = dO_i·O_i, and adds
//   dV_j += Pᵀ dO,  dK_j += scale·dSᵀ Q,  dQ_i += scale·dS K_j,
//   d_key_bias(j) += Σ_i dS_ij,  d_slope += Σ dS_ij (t_j − t_i).
// Five tile GEMMs per (query tile, key block): 2.5× the forward's two.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "backend/cpu/attention_amx.h"
#include "backend/cpu/attention_kernel.h"

// See attention_kernel.h: 64-byte vectors in a non-AVX-512 build.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace goat::cpu {

using namespace attn;

namespace {

struct BwdScratch {
  int64_t dp;
  std::vector<float> ks, kt, vt, s, ds, dks, dvs, dkb;
  std::vector<float> dq, dvec;     // dQ of the whole group (G × Tq × dp), D_i (G × Tq)
  std::vector<float> qall, doall;  // Q and dO of the whole group, padded (G × Tq × dp)
  // bf16 products (AMX operands, attention_amx.h). dK and dV are accumulated transposed,
  // dVᵀ += dOᵀ·P and dKᵀ += Qᵀ·dS, so that P and dS enter as pairs over queries (no transpose per
  // tile): Q, dO of the group as bf16 rows (G × Tq32 × dp) and transposed (G × dp × Tq32); the key
  // block's Kᵀ, Vᵀ pairs over d (dp/2 × kBk each) and K pairs over keys (kBk/2 × dp); per tile P
  // and dS as pairs over queries (kBq/2 × kBk) and dS as bf16 rows; dKᵀ, dVᵀ (dp × kBk) in fp32.
  std::vector<uint16_t> q16, do16, qt16, dot16, ds16;
  std::vector<uint32_t> kt2, vt2, kp, pp, dsp, tmp;
  std::vector<float> dkt, dvt;
  BwdScratch(int64_t d, bool bf16)
      : dp(d),
        ks(kBk * d),
        kt(d * kBk),
        vt(d * kBk),
        s(kBq * kBk),
        ds(kBq * kBk),
        dks(kBk * d),
        dvs(kBk * d),
        dkb(kBk) {
    if (!bf16) return;
    ds16.assign(kBq * kBk, 0), pp.assign(kBq / 2 * kBk, 0), dsp.assign(kBq / 2 * kBk, 0);
    kt2.assign(d / 2 * kBk, 0), vt2.assign(d / 2 * kBk, 0), kp.assign(kBk / 2 * d, 0), tmp.assign(kBk * d / 2, 0);
    dkt.assign(d * kBk, 0.f), dvt.assign(d * kBk, 0.f);
  }
};

// One (b, kv head) item. Returns Σ dS (t_j − t_i) over it, for d_slope.
double backward_item(const AttentionParams& p, const AttentionBackwardParams& g, int64_t b, int64_t hk, BwdScratch& w) {
  const int64_t D = p.D, dp = w.dp, G = p.H / p.Hkv, shift = p.Tk - p.Tq;
  const float slope = p.slope ? p.slope[hk] : 0.f;
  const float* kbias = p.key_bias ? p.key_bias + (b * p.Hkv + hk) * p.Tk : nullptr;
  const float* kbase = p.k + b * p.k_s[0] + hk * p.k_s[1];
  const float* vbase = p.v + b * p.v_s[0] + hk * p.v_s[1];
  const bool amx = bf16_products(p);                                     // implies D == dp (a multiple of 32)
  const int64_t tq32 = round_up(p.Tq, 32), tq_rows = amx ? tq32 : p.Tq;  // rows per head in dq (AMX: padded)
  w.dq.assign(G * tq_rows * dp, 0.f);
  w.dvec.resize(G * p.Tq);
  for (int64_t gi = 0; gi < G; ++gi) {
    const int64_t h = hk * G + gi;
    for (int64_t i = 0; i < p.Tq; ++i) {
      const float* orow = p.o + b * p.o_s[0] + h * p.o_s[1] + i * p.o_s[2];
      const float* dorow = g.d_o + b * g.do_s[0] + h * g.do_s[1] + i * g.do_s[2];
      float acc = 0.f;
      for (int64_t c = 0; c < D; ++c) acc += orow[c] * dorow[c];
      w.dvec[gi * p.Tq + i] = acc;
    }
  }
  // Q and dO rows of every head in the group: read in place when D is a multiple of 16, else
  // padded once per item (re-read for every key block). Row strides q_rs, do_rs; head h at q_at(h).
  const bool in_place = D == dp;
  const int64_t q_rs = in_place ? p.q_s[2] : dp, do_rs = in_place ? g.do_s[2] : dp;
  if (!in_place) {
    w.qall.resize(G * p.Tq * dp), w.doall.resize(G * p.Tq * dp);
    for (int64_t gi = 0; gi < G; ++gi) {
      const int64_t h = hk * G + gi;
      copy_rows(p.q + b * p.q_s[0] + h * p.q_s[1], p.q_s[2], p.Tq, D, dp, w.qall.data() + gi * p.Tq * dp);
      copy_rows(g.d_o + b * g.do_s[0] + h * g.do_s[1], g.do_s[2], p.Tq, D, dp, w.doall.data() + gi * p.Tq * dp);
    }
  }
  const auto q_at = [&](int64_t gi, int64_t i) {
    return in_place ? p.q + b * p.q_s[0] + (hk * G + gi) * p.q_s[1] + i * q_rs : w.qall.data() + (gi * p.Tq + i) * dp;
  };
  const auto do_at = [&](int64_t gi, int64_t i) {
    return in_place ? g.d_o + b * g.do_s[0] + (hk * G + gi) * g.do_s[1] + i * do_rs
                    : w.doall.data() + (gi * p.Tq + i) * dp;
  };
  if (amx) {
    w.q16.assign(G * tq32 * dp, 0), w.do16.assign(G * tq32 * dp, 0);
    w.qt16.resize(G * dp * tq32), w.dot16.resize(G * dp * tq32);
    for (int64_t gi = 0; gi < G; ++gi) {
      to_bf16_rows(q_at(gi, 0), q_rs, p.Tq, dp, dp, w.q16.data() + gi * tq32 * dp, dp);
      to_bf16_rows(do_at(gi, 0), do_rs, p.Tq, dp, dp, w.do16.data() + gi * tq32 * dp, dp);
      to_bf16_transposed(q_at(gi, 0), q_rs, p.Tq, dp, tq32, w.qt16.data() + gi * dp * tq32);
      to_bf16_transposed(do_at(gi, 0), do_rs, p.Tq, dp, tq32, w.dot16.data() + gi * dp * tq32);
    }
  }
  double d_slope = 0.0;
  for (int64_t j0 = 0; j0 < p.Tk; j0 += kBk) {
    const int64_t nk = std::min(kBk, p.Tk - j0), nkp = round_up(nk, kLanes);
    // Kᵀ and Vᵀ (dp × kBk, zero padded); K_j rows in place when no padding is needed, else a
    // padded copy in ks (row stride ks_rs).
    const float* kblock = kbase + j0 * p.k_s[2];
    const float* vblock = vbase + j0 * p.v_s[2];
    const bool k_in_place = D == dp && nk == nkp;
    const float* ks = k_in_place ? kblock : w.ks.data();
    const int64_t ks_rs = k_in_place ? p.k_s[2] : dp;
    if (amx) {
      to_bf16_pairs_over_cols(kblock, p.k_s[2], nk, dp, w.tmp.data(), w.kt2.data(), kBk);
      to_bf16_pairs_over_cols(vblock, p.v_s[2], nk, dp, w.tmp.data(), w.vt2.data(), kBk);
      to_bf16_pairs(kblock, p.k_s[2], nk, dp, kBk / 2, w.kp.data(), dp);
      std::fill(w.dkt.begin(), w.dkt.end(), 0.f);
      std::fill(w.dvt.begin(), w.dvt.end(), 0.f);
    } else {
      if (nk != nkp || D != dp) {
        std::fill(w.kt.begin(), w.kt.end(), 0.f);
        std::fill(w.vt.begin(), w.vt.end(), 0.f);
      }
      transpose_into(kblock, p.k_s[2], nk, D, w.kt.data(), kBk);
      transpose_into(vblock, p.v_s[2], nk, D, w.vt.data(), kBk);
      if (!k_in_place) {
        std::fill(w.ks.begin(), w.ks.begin() + nkp * dp, 0.f);
        copy_rows(kblock, p.k_s[2], nk, D, dp, w.ks.data());
      }
    }
    std::fill(w.dks.begin(), w.dks.begin() + nkp * dp, 0.f);
    std::fill(w.dvs.begin(), w.dvs.begin() + nkp * dp, 0.f);
    std::fill(w.dkb.begin(), w.dkb.end(), 0.f);
    v16 kb[kBk / kLanes];
    for (int64_t c0 = 0; c0 < nkp; c0 += kLanes) {
      float tmp[kLanes];
      for (int64_t t = 0; t < kLanes; ++t) tmp[t] = (kbias && c0 + t < nk) ? kbias[j0 + c0 + t] : 0.f;
      kb[c0 / kLanes] = load(tmp);
    }
    v16 slope_acc{};

    for (int64_t gi = 0; gi < G; ++gi) {
      const int64_t h = hk * G + gi;
      const int64_t i_first = p.causal ? std::max<int64_t>(0, j0 - shift) : 0;
      for (int64_t i0 = i_first / kBq * kBq; i0 < p.Tq; i0 += kBq) {
        const int64_t mq = std::min(kBq, p.Tq - i0);
        const float* qs = q_at(gi, i0);
        const float* dos = do_at(gi, i0);
        // A tile the diagonal crosses computes only what the mask lets through (tile_gemm_causal).
        const int64_t diag = shift + i0 - j0;
        const bool tri = p.causal && nk - 1 > diag;
        const int64_t mq16 = round_up(mq, 16), mq32 = round_up(mq, 32), nk32 = round_up(nkp, 32);
        if (amx) {
          const AmxPart part = tri ? AmxPart::cols : AmxPart::full;
          const int64_t row = gi * tq32 + i0;
          amx_gemm(part, diag, mq16, nkp, dp, w.q16.data() + row * dp, dp, w.kt2.data(), kBk, w.s.data(), kBk, false);
          amx_gemm(part, diag, mq16, nkp, dp, w.do16.data() + row * dp, dp, w.vt2.data(), kBk, w.ds.data(), kBk, false);
        } else if (tri) {
          tile_gemm_causal(Tri::cols, diag, mq, nkp, dp, qs, q_rs, 1, w.kt.data(), kBk, w.s.data(), kBk, false);
          tile_gemm_causal(Tri::cols, diag, mq, nkp, dp, dos, do_rs, 1, w.vt.data(), kBk, w.ds.data(), kBk, false);
        } else {
          tile_gemm(mq, nkp, dp, qs, q_rs, 1, w.kt.data(), kBk, w.s.data(), kBk, false);
          tile_gemm(mq, nkp, dp, dos, do_rs, 1, w.vt.data(), kBk, w.ds.data(), kBk, false);
        }
        const float* lse = p.lse + (b * p.H + h) * p.Tq + i0;
        const float* dv = w.dvec.data() + gi * p.Tq + i0;
        v16 col_sum[kBk / kLanes] = {};
        for (int64_t r = 0; r < mq; ++r) {
          const int64_t qpos = shift + i0 + r;
          float* sr = w.s.data() + r * kBk;
          float* dsr = w.ds.data() + r * kBk;
          // Columns computed (0 past the mask); AMX reads whole rows, so the rest is zeroed.
          const int64_t nc = tri ? causal_cover(r, diag, nkp) : nkp;
          if (amx)
            for (int64_t c0 = nc; c0 < nkp; c0 += kLanes) store(sr + c0, v16{}), store(dsr + c0, v16{});
          for (int64_t c0 = 0; c0 < nc; c0 += kLanes) {
            const v16 delta = splat(static_cast<float>(j0 + c0 - qpos)) + iota();
            const v16 col = splat(static_cast<float>(c0)) + iota();
            const auto adm =
                p.causal ? ((col < static_cast<float>(nk)) & (delta <= 0.f)) : (col < static_cast<float>(nk));
            const v16 z = fma(load(sr + c0), splat(p.scale), fma(splat(slope), delta, kb[c0 / kLanes]));
            const v16 pr = adm ? vexp(z - lse[r]) : v16{};
            const v16 dsv = adm ? pr * (load(dsr + c0) - dv[r]) : v16{};  // dP may be undefined past the mask
            store(sr + c0, pr);
            store(dsr + c0, dsv);
            col_sum[c0 / kLanes] += dsv;
            slope_acc = fma(dsv, delta, slope_acc);
          }
        }
        for (int64_t c0 = 0; c0 < nkp; c0 += kLanes)
          store(w.dkb.data() + c0, load(w.dkb.data() + c0) + col_sum[c0 / kLanes]);
        // dV_j += Pᵀ dO, dK_j += dSᵀ Q (scaled at the end), dQ_i += dS K_j (scaled at the end).
        float* dq = w.dq.data() + (gi * tq_rows + i0) * dp;
        if (amx) {
          // dVᵀ += dOᵀ·P, dKᵀ += Qᵀ·dS over the tile's queries (all of them: the causal cut of these
          // runs along columns), dQ += dS·K.
          const int64_t col = gi * dp * tq32 + i0;  // query i0 of head gi in Qᵀ, dOᵀ (row stride tq32)
          to_bf16_pairs(w.s.data(), kBk, mq, nkp, mq32 / 2, w.pp.data(), kBk);
          to_bf16_pairs(w.ds.data(), kBk, mq, nkp, mq32 / 2, w.dsp.data(), kBk);
          to_bf16_rows(w.ds.data(), kBk, mq, nkp, nk32, w.ds16.data(), kBk);
          amx_gemm(AmxPart::full, 0, dp, nkp, mq32, w.dot16.data() + col, tq32, w.pp.data(), kBk, w.dvt.data(), kBk,
                   true);
          amx_gemm(AmxPart::full, 0, dp, nkp, mq32, w.qt16.data() + col, tq32, w.dsp.data(), kBk, w.dkt.data(), kBk,
                   true);
          amx_gemm(tri ? AmxPart::k_lower : AmxPart::full, diag, mq16, dp, nk32, w.ds16.data(), kBk, w.kp.data(), dp,
                   dq, dp, true);
        } else if (tri) {
          tile_gemm_causal(Tri::k_upper, diag, nkp, dp, mq, w.s.data(), 1, kBk, dos, do_rs, w.dvs.data(), dp, true);
          tile_gemm_causal(Tri::k_upper, diag, nkp, dp, mq, w.ds.data(), 1, kBk, qs, q_rs, w.dks.data(), dp, true);
          tile_gemm_causal(Tri::k_lower, diag, mq, dp, nkp, w.ds.data(), kBk, 1, ks, ks_rs, dq, dp, true);
        } else {
          tile_gemm(nkp, dp, mq, w.s.data(), 1, kBk, dos, do_rs, w.dvs.data(), dp, true);
          tile_gemm(nkp, dp, mq, w.ds.data(), 1, kBk, qs, q_rs, w.dks.data(), dp, true);
          tile_gemm(mq, dp, nkp, w.ds.data(), kBk, 1, ks, ks_rs, dq, dp, true);
        }
      }
    }
    d_slope += hsum(slope_acc);
    if (amx) {  // dKᵀ, dVᵀ back to rows
      transpose_into(w.dkt.data(), kBk, dp, nkp, w.dks.data(), dp);
      transpose_into(w.dvt.data(), kBk, dp, nkp, w.dvs.data(), dp);
    }
    float* dkb0 = g.dk + b * g.dk_s[0] + hk * g.dk_s[1] + j0 * g.dk_s[2];
    float* dvb0 = g.dv + b * g.dv_s[0] + hk * g.dv_s[1] + j0 * g.dv_s[2];
    for (int64_t j = 0; j < nk; ++j)
      for (int64_t c = 0; c < D; ++c) {
        dkb0[j * g.dk_s[2] + c] = w.dks[j * dp + c] * p.scale;
        dvb0[j * g.dv_s[2] + c] = w.dvs[j * dp + c];
      }
    if (g.d_key_bias) std::copy(w.dkb.begin(), w.dkb.begin() + nk, g.d_key_bias + (b * p.Hkv + hk) * p.Tk + j0);
  }
  for (int64_t gi = 0; gi < G; ++gi) {
    float* dqb = g.dq + b * g.dq_s[0] + (hk * G + gi) * g.dq_s[1];
    for (int64_t i = 0; i < p.Tq; ++i)
      for (int64_t c = 0; c < D; ++c) dqb[i * g.dq_s[2] + c] = w.dq[(gi * tq_rows + i) * dp + c] * p.scale;
  }
  return d_slope;
}

// The backward into fp32 dq, dk, dv (or, on the short AMX path, whatever g asks for).
void backward_run(const AttentionParams& p, const AttentionBackwardParams& g) {
  if (p.B > 0 && p.H > 0 && short_path_applies(p)) return short_backward(p, g);
  note_path(true, KernelPath::tiled);
  const int64_t n_items = p.B * p.Hkv, dp = round_up(p.D, kLanes);
  std::vector<double> slope_part(static_cast<size_t>(n_items), 0.0);
  const bool parallel = n_items > 1 && p.B * p.H * p.Tq * p.Tk * p.D > (1 << 17);
#pragma omp parallel if (parallel)
  {
    const FlushDenormals ftz;
    const bool amx = bf16_products(p);
    BwdScratch w(dp, amx);
    const std::optional<AmxTiles> tiles = amx ? std::optional<AmxTiles>(std::in_place) : std::nullopt;
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < n_items; ++item)
      slope_part[item] = backward_item(p, g, item / p.Hkv, item % p.Hkv, w);
  }
  if (g.d_slope)
    for (int64_t hk = 0; hk < p.Hkv; ++hk) {
      double s = 0.0;
      for (int64_t b = 0; b < p.B; ++b) s += slope_part[b * p.Hkv + hk];
      g.d_slope[hk] = static_cast<float>(s);
    }
}

}  // namespace

void attention_backward(const AttentionParams& p, const AttentionBackwardParams& g) {
  if (!g.bf16_out() && !g.sums()) return backward_run(p, g);
  // bf16 outputs and bias sums: stored by the short AMX item itself, else after an fp32 run.
  const bool direct = p.B > 0 && p.H > 0 && short_path_applies(p) && bf16_products(p);
  backward_grad_out(p, g, direct, &backward_run);
}

}  // namespace goat::cpu
