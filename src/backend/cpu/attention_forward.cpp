// CPU attention forward: FlashAttention-2's loop on the CPU. One work item is (b, h, query tile of
// 64 rows); OpenMP hands items out dynamically, longest (last, causal) tiles first. Per item the
// key blocks stream through: S = Q·Kᵀ on a 64×64 tile (register-blocked micro-kernel), the bias
// scale·S + slope·(t_j − t_i) + key_bias(j) and the mask in fp32, online softmax (running max m,
// sum l, O rescaled by e^{m_old − m_new}), O += P·V. Memory is O(tile), LSE = m + log l is saved.
// Diagnostics (theory.md §5) are extra per-row accumulators rescaled like l; KL and ω need the
// content logits separately, which costs one narrow extra GEMM over the prior lanes.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "backend/cpu/attention_amx.h"
#include "backend/cpu/attention_kernel.h"
#include "kernels/kernel_math.h"

// See attention_kernel.h: 64-byte vectors in a non-AVX-512 build.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace goat::cpu {

using namespace attn;

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Per-row running statistics of one query tile.
struct RowStats {
  float m[kBq], l[kBq];
  float ent[kBq];          // Σ e^{z−m} (z − m)
  float es[kBq];           // Σ e^{z−m} s (content logits)
  float mp[kBq], lp[kBq];  // online logsumexp of the log-prior ℓ
  float smax[kBq], smin[kBq], z0[kBq];
  void reset(int64_t n) {
    for (int64_t r = 0; r < n; ++r) {
      m[r] = mp[r] = smax[r] = kNegInf;
      smin[r] = -kNegInf;
      l[r] = ent[r] = es[r] = lp[r] = z0[r] = 0.f;
    }
  }
};

struct Scratch {
  int64_t dp;
  std::vector<float> qs, kt, vs, s, lane, os, kb;
  // bf16 products: Q and P as bf16 rows, the key block's Kᵀ and V as VNNI pairs (see pack_bf16).
  std::vector<uint16_t> q16, p16;
  std::vector<uint32_t> kv16;
  Scratch(int64_t d, bool bf16)
      : dp(d), qs(kBq * d), kt(d * kBk), vs(kBk * d), s(kBq * kBk), lane(kBq * kBk), os(kBq * d), kb(kBk) {
    if (bf16) q16.assign(kBq * d, 0), p16.assign(kBq * kBk, 0), kv16.assign(d * kBk, 0);
  }
};

// The key block at j0 of (b, hk): Kᵀ into kt (dp × kBk) and V into vs (kBk × dp), zero padded.
// The key block at j0 of (b, hk) as AMX B operands (bf16 products; D = dp): Kᵀ pairs over d
// (dp/2 × kBk words), then V pairs over keys (kBk/2 × dp words), zero padded.
void pack_bf16(const AttentionParams& p, int64_t b, int64_t hk, int64_t j0, int64_t dp, uint32_t* dst) {
  thread_local std::vector<uint32_t> tmp;
  tmp.resize(static_cast<size_t>(kBk * dp / 2));
  const int64_t nk = std::min(kBk, p.Tk - j0);
  const float* kb0 = p.k + b * p.k_s[0] + hk * p.k_s[1] + j0 * p.k_s[2];
  const float* vb0 = p.v + b * p.v_s[0] + hk * p.v_s[1] + j0 * p.v_s[2];
  to_bf16_pairs_over_cols(kb0, p.k_s[2], nk, dp, tmp.data(), dst, kBk);
  to_bf16_pairs(vb0, p.v_s[2], nk, dp, kBk / 2, dst + dp / 2 * kBk, dp);
}

void pack_block(const AttentionParams& p, int64_t b, int64_t hk, int64_t j0, int64_t dp, float* kt, float* vs) {
  const int64_t D = p.D, nk = std::min(kBk, p.Tk - j0);
  const float* kb0 = p.k + b * p.k_s[0] + hk * p.k_s[1] + j0 * p.k_s[2];
  const float* vb0 = p.v + b * p.v_s[0] + hk * p.v_s[1] + j0 * p.v_s[2];
  if (nk < kBk || D < dp) {
    std::fill(kt, kt + dp * kBk, 0.f);
    std::fill(vs, vs + kBk * dp, 0.f);
  }
  transpose_into(kb0, p.k_s[2], nk, D, kt, kBk);
  copy_rows(vb0, p.v_s[2], nk, D, dp, vs);
}

}  // namespace

void attention_forward(const AttentionParams& p) {
  if (p.B == 0 || p.H == 0 || p.Tq == 0) return;
  if (short_path_applies(p)) return short_forward(p);
  note_path(false, KernelPath::tiled);
  const int64_t D = p.D, dp = round_up(D, kLanes), G = p.H / p.Hkv, shift = p.Tk - p.Tq;
  const int64_t n_qt = (p.Tq + kBq - 1) / kBq, n_items = p.B * p.H * n_qt;
  const int64_t dc = p.content_dim > 0 ? p.content_dim : D, n_lanes = D - dc;
  const bool any_diag = p.d_entropy || p.d_sink || p.d_pmax || p.d_kl || p.d_omega;
  const bool need_content = p.d_kl || p.d_omega;
  // KL's log-normaliser of the prior, logZπ_i = logsumexp_j ℓ_ij, costs one more exp per logit;
  // when ℓ is the same for every batch row it is computed by the b = 0 items only, into an (H, Tq)
  // table added to every row's KL after the parallel region.
  const bool shared_prior = p.d_kl && p.prior_shared_over_batch && p.B > 1;
  std::vector<float> logz_prior(shared_prior ? static_cast<size_t>(p.H * p.Tq) : 0);
  // With several query tiles per head, pack every key block once (Kᵀ and V, padded) instead of
  // re-transposing it for each tile: O(T·D) extra memory. A single tile (decode) packs on the fly.
  const int64_t nkb = (p.Tk + kBk - 1) / kBk, blk = 2 * dp * kBk;
  const bool packed = n_qt >= 2;
  // Threads only pay above ~10⁵ multiply-adds (decode steps of short sequences stay serial).
  const bool parallel = p.B * p.H * p.Tq * p.Tk * D > (1 << 17);
  // Kept per calling thread across calls: re-allocating (and page-faulting) ~16 MB per call cost
  // about a tenth of a B·H = 32, T = 1024 forward.
  // (Inside the parallel regions only `packed_kv` is used: naming the thread_local there would
  // give each worker its own, empty vector.)
  thread_local std::vector<float> pack;
  thread_local std::vector<uint32_t> pack16;  // the same blocks as AMX operands (bf16 products)
  const bool amx = bf16_products(p);
  const int64_t blk16 = dp * kBk;
  if (packed && !amx && pack.size() < static_cast<size_t>(p.B * p.Hkv * nkb * blk))
    pack.resize(static_cast<size_t>(p.B * p.Hkv * nkb * blk));
  if (packed && amx && pack16.size() < static_cast<size_t>(p.B * p.Hkv * nkb * blk16))
    pack16.resize(static_cast<size_t>(p.B * p.Hkv * nkb * blk16));
  float* const packed_kv = pack.data();
  uint32_t* const packed_kv16 = pack16.data();
  if (packed) {
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t t = 0; t < p.B * p.Hkv * nkb; ++t) {
      const int64_t b = t / (p.Hkv * nkb), hk = t / nkb % p.Hkv, j0 = t % nkb * kBk;
      if (amx) {
        pack_bf16(p, b, hk, j0, dp, packed_kv16 + t * blk16);
      } else {
        float* kt = packed_kv + t * blk;
        pack_block(p, b, hk, j0, dp, kt, kt + dp * kBk);
      }
    }
  }

#pragma omp parallel if (parallel)
  {
    const FlushDenormals ftz;
    Scratch w(dp, amx);
    const std::optional<AmxTiles> tiles = amx ? std::optional<AmxTiles>(std::in_place) : std::nullopt;
    RowStats st;
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < n_items; ++item) {
      const int64_t qt = n_qt - 1 - item % n_qt, bh = item / n_qt, b = bh / p.H, h = bh % p.H, hk = h / G;
      const int64_t i0 = qt * kBq, mq = std::min(kBq, p.Tq - i0);
      const bool prior_lse = p.d_kl && (!shared_prior || b == 0);
      const float* qb = p.q + b * p.q_s[0] + h * p.q_s[1] + i0 * p.q_s[2];
      const float slope = p.slope ? p.slope[hk] : 0.f;
      const float* kbias = p.key_bias ? p.key_bias + (b * p.Hkv + hk) * p.Tk : nullptr;

      copy_rows(qb, p.q_s[2], mq, D, dp, w.qs.data());
      const int64_t mq16 = round_up(mq, 16);  // AMX rows (the rows past mq are computed, not used)
      if (amx) to_bf16_rows(w.qs.data(), dp, mq, dp, dp, w.q16.data(), dp);
      std::fill(w.os.begin(), w.os.begin() + mq * dp, 0.f);
      st.reset(mq);

      const int64_t kend = p.causal ? std::min(p.Tk, shift + i0 + mq) : p.Tk;
      for (int64_t j0 = 0; j0 < kend; j0 += kBk) {
        const int64_t nk = std::min(kBk, kend - j0), nkp = round_up(nk, kLanes);
        const float *kt = w.kt.data(), *vs = w.vs.data();
        const uint32_t* kv16 = w.kv16.data();
        if (packed && amx) {
          kv16 = packed_kv16 + ((b * p.Hkv + hk) * nkb + j0 / kBk) * blk16;
        } else if (packed) {
          kt = packed_kv + ((b * p.Hkv + hk) * nkb + j0 / kBk) * blk;
          vs = kt + dp * kBk;
        } else if (amx) {
          pack_bf16(p, b, hk, j0, dp, w.kv16.data());
        } else {
          pack_block(p, b, hk, j0, dp, w.kt.data(), w.vs.data());
        }
        for (int64_t j = 0; j < nkp; ++j) w.kb[j] = (kbias && j < nk) ? kbias[j0 + j] : 0.f;
        // With KL / ω on and prior lanes present, the lanes' part of Q·Kᵀ goes to `lane` as well
        // (n_lanes more multiply-adds per logit) and the content logits are s − lane: the full
        // product in s is the same GEMM as with diagnostics off, so turning them on leaves o, LSE
        // and therefore training bit-identical.
        const bool split = need_content && n_lanes > 0;
        // A tile the diagonal crosses computes only what the mask lets through (tile_gemm_causal).
        const int64_t diag = shift + i0 - j0;
        const bool tri = p.causal && nk - 1 > diag;  // the block's last key is masked for row 0
        if (amx) {
          amx_gemm(tri ? AmxPart::cols : AmxPart::full, diag, mq16, nkp, dp, w.q16.data(), dp, kv16, kBk, w.s.data(),
                   kBk, false);
        } else if (tri) {
          tile_gemm_causal(Tri::cols, diag, mq, nkp, dp, w.qs.data(), dp, 1, kt, kBk, w.s.data(), kBk, false);
          if (split)
            tile_gemm_causal(Tri::cols, diag, mq, nkp, n_lanes, w.qs.data() + dc, dp, 1, kt + dc * kBk, kBk,
                             w.lane.data(), kBk, false);
        } else {
          tile_gemm(mq, nkp, dp, w.qs.data(), dp, 1, kt, kBk, w.s.data(), kBk, false);
          if (split)
            tile_gemm(mq, nkp, n_lanes, w.qs.data() + dc, dp, 1, kt + dc * kBk, kBk, w.lane.data(), kBk, false);
        }

        for (int64_t r = 0; r < mq; ++r) {
          const int64_t qpos = shift + i0 + r;
          float* sr = w.s.data() + r * kBk;
          float* lr = w.lane.data() + r * kBk;
          // Columns computed (P = 0 past the mask); AMX reads whole rows, so the rest is zeroed.
          const int64_t nc = tri ? causal_cover(r, diag, nkp) : nkp;
          if (amx)
            for (int64_t c0 = nc; c0 < nkp; c0 += kLanes) store(sr + c0, v16{});
          // Pass 1: logits with bias and mask, row max (and the prior logits for KL / ω).
          const bool row_full = nk == kBk && (!p.causal || j0 + kBk - 1 <= qpos);
          v16 mx = splat(kNegInf), lmx = splat(kNegInf), smx = splat(kNegInf), smn = splat(-kNegInf);
          for (int64_t c0 = 0; c0 < nc; c0 += kLanes) {
            const v16 delta = splat(static_cast<float>(j0 + c0 - qpos)) + iota();
            const v16 col = splat(static_cast<float>(c0)) + iota();
            const v16 raw = load(sr + c0);
            const v16 lanes = split ? load(lr + c0) : v16{};
            const v16 content = split ? raw - lanes : raw;
            const v16 bias = fma(splat(slope), delta, load(w.kb.data() + c0));
            v16 z = fma(raw, splat(p.scale), bias);
            auto adm = col == col;  // all true
            if (!row_full) {
              adm = p.causal ? ((col < static_cast<float>(nk)) & (delta <= 0.f)) : (col < static_cast<float>(nk));
              z = adm ? z : splat(kNegInf);
            }
            store(sr + c0, z);
            mx = vmax(mx, z);
            if (need_content) {
              const v16 ell = fma(lanes, splat(p.scale), bias);
              const v16 s_c = content * p.scale;
              store(lr + c0, adm ? ell : splat(kNegInf));
              lmx = vmax(lmx, adm ? ell : splat(kNegInf));
              smx = vmax(smx, adm ? s_c : splat(kNegInf));
              smn = vmin(smn, adm ? s_c : splat(-kNegInf));
            }
          }
          if (j0 == 0) st.z0[r] = sr[0];
          const float m_old = st.m[r], m_new = std::max(m_old, hmax(mx));
          // e^{m_old − m_new}; exactly 1 or 0 in the common cases, without the libm call.
          const float alpha = m_old == m_new ? 1.f : m_old == kNegInf ? 0.f : std::exp(m_old - m_new);
          // Pass 2: P = e^{z − m}, row sum, diagnostics.
          v16 sum{}, ent{}, es{};
          for (int64_t c0 = 0; c0 < nc; c0 += kLanes) {
            const v16 z = load(sr + c0);
            const v16 pr = vexp(z - m_new);
            store(sr + c0, pr);
            sum += pr;
            if (any_diag) {
              const auto adm = z > splat(kNegInf);
              ent = fma(pr, adm ? z - m_new : v16{}, ent);
              if (need_content) {
                const v16 ell = load(lr + c0);
                es = fma(pr, adm ? z - ell : v16{}, es);
              }
            }
          }
          if (any_diag) {
            const float ent_old = st.l[r] > 0.f ? st.ent[r] + st.l[r] * (m_old - m_new) : 0.f;
            st.ent[r] = alpha * ent_old + hsum(ent);
            st.es[r] = alpha * st.es[r] + hsum(es);
          }
          if (prior_lse) {
            const float mp_new = std::max(st.mp[r], hmax(lmx));
            v16 lsum{};
            for (int64_t c0 = 0; c0 < nc; c0 += kLanes) lsum += vexp(load(lr + c0) - mp_new);
            st.lp[r] = st.lp[r] * std::exp(st.mp[r] - mp_new) + hsum(lsum);
            st.mp[r] = mp_new;
          }
          if (need_content) {
            st.smax[r] = std::max(st.smax[r], hmax(smx));
            st.smin[r] = std::min(st.smin[r], hmin(smn));
          }
          st.l[r] = alpha * st.l[r] + hsum(sum);
          st.m[r] = m_new;
          if (alpha != 1.f && m_old != kNegInf) {  // O is still zero before the row's first key
            float* orow = w.os.data() + r * dp;
            for (int64_t c = 0; c < dp; c += kLanes) store(orow + c, load(orow + c) * alpha);
          }
        }
        if (amx) {
          const int64_t nk32 = round_up(nkp, 32);
          to_bf16_rows(w.s.data(), kBk, mq, nkp, nk32, w.p16.data(), kBk);
          amx_gemm(tri ? AmxPart::k_lower : AmxPart::full, diag, mq16, dp, nk32, w.p16.data(), kBk, kv16 + dp / 2 * kBk,
                   dp, w.os.data(), dp, true);
        } else if (tri)
          tile_gemm_causal(Tri::k_lower, diag, mq, dp, nkp, w.s.data(), kBk, 1, vs, dp, w.os.data(), dp, true);
        else
          tile_gemm(mq, dp, nkp, w.s.data(), kBk, 1, vs, dp, w.os.data(), dp, true);
      }

      // Epilogue: o = O / l, LSE = m + log l, diagnostics.
      float* ob = p.o + b * p.o_s[0] + h * p.o_s[1] + i0 * p.o_s[2];
      const int64_t row0 = (b * p.H + h) * p.Tq + i0;
      for (int64_t r = 0; r < mq; ++r) {
        const float inv = 1.f / st.l[r], lse = st.m[r] + std::log(st.l[r]);
        const float* orow = w.os.data() + r * dp;
        for (int64_t c = 0; c < D; ++c) ob[r * p.o_s[2] + c] = orow[c] * inv;
        p.lse[row0 + r] = lse;
        // The per-row formulas are kernels/kernel_math.h's, shared with the CUDA pass.
        if (p.d_entropy) p.d_entropy[row0 + r] = kmath::attn_entropy(st.l[r], st.ent[r]);
        if (p.d_sink) p.d_sink[row0 + r] = kmath::attn_sink(st.z0[r], lse);
        if (p.d_pmax) p.d_pmax[row0 + r] = kmath::attn_p_max(st.m[r], st.m[r], st.l[r]);
        if (p.d_kl) {  // KL = E_p[s] − LSE + logZπ
          p.d_kl[row0 + r] = kmath::attn_kl_content(st.es[r], st.l[r], lse);
          const float logz = kmath::attn_log_normaliser(st.mp[r], st.lp[r]);
          if (!shared_prior) p.d_kl[row0 + r] += logz;
          if (shared_prior && b == 0) logz_prior[h * p.Tq + i0 + r] = logz;
        }
        if (p.d_omega) p.d_omega[row0 + r] = st.smax[r] - st.smin[r];
      }
    }
  }
  if (shared_prior)
    for (int64_t bh = 0; bh < p.B * p.H; ++bh)
      for (int64_t i = 0; i < p.Tq; ++i) p.d_kl[bh * p.Tq + i] += logz_prior[bh % p.H * p.Tq + i];
}

bool bf16_products(const AttentionParams& p) {
  if (!p.bf16) return false;
  const bool diag = p.d_entropy || p.d_sink || p.d_pmax || p.d_kl || p.d_omega;
  const char* why = !amx_ready()    ? "this CPU (or build) has no AMX-BF16"
                    : p.D % 32 != 0 ? "the head dim is not a multiple of 32"
                                    : nullptr;
  if (why) {
    static const bool said = [&] {
      spdlog::warn("dtype bf16: attention products stay fp32 ({})", why);
      return true;
    }();
    (void)said;
  }
  return !why && !diag;  // calls with diagnostics (evaluation) keep fp32 products
}

bool bf16_inputs(const AttentionParams& p) {
  return p.B > 0 && p.H > 0 && p.Tq > 0 && short_path_applies(p) && bf16_products(p);
}

}  // namespace goat::cpu
