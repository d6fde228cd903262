// Short-sequence path of the CPU attention (fp32 products, Tq, Tk ≤ kShortMaxT, head dim a multiple
// of 16, no diagnostics). One task owns one (batch, head) in the forward and one (batch, kv head)
// in the backward; the whole score matrix of a head (Tq × Tk, ≤ 256 KiB) stays in L2, so:
//   forward   S = Q·Kᵀ (causal rows cut to the mask), one pass for z = scale·S + bias and the exact
//             row max, one for P = e^{z − m} and l = Σ P, O = P·V written straight into o, then
//             o_i /= l_i and LSE = m + log l — no online rescaling, no per-key-block statistics;
//   backward  per query head of the GQA group: S = Q·Kᵀ, dP = dO·Vᵀ, one pass for P = e^{z − LSE}
//             and dS = P ∘ (dP − D) (stored scaled), then dV += Pᵀ·dO, dK += dSᵀ·Q over the whole
//             head and dQ = dS·K written straight into dq.
// Same math as the tiled kernel (attention_forward.cpp / attention_backward.cpp): the same bias
// formula, mask, vexp and tile GEMMs; only the blocking differs. With bf16 products (AMX) the
// forward's products run here on amx_gemm (forward_item<…, true>) and the backward's items in
// attention_short_amx.cpp. With bf16 products q, k, v may be bf16 (AttentionParams::q16 …, the
// CPU bf16 model's qkv): the items are templated on the input type and pack through the same
// loaders (attention_amx.h), bitwise the results of the fp32 values; o may be bf16 too
// (AttentionParams::o16: the CPU bf16 model's atty, the rounding of the fp32 o, read back by the
// backward for D_i = dO_i·O_i as the CUDA bf16 backward does). Static schedule over the
// items (all cost the same); per-thread scratch kept across calls.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <optional>
#include <type_traits>
#include <vector>

#include "backend/cpu/aligned_scratch.h"
#include "backend/cpu/attention_amx.h"
#include "backend/cpu/attention_bf16.h"
#include "backend/cpu/attention_kernel.h"

// See attention_kernel.h: 64-byte vectors in a non-AVX-512 build.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace goat::cpu::attn {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
bool g_short_enabled = true;
std::atomic<KernelPath> g_last_path[2] = {KernelPath::tiled, KernelPath::tiled};  // forward, backward

// Per-thread scratch (sizes in floats; grown, never shrunk).
struct ShortScratch {
  std::vector<float> dp, kt, vt, kb, dkb, dvec;
  // S (fp32 products: Tq × tkp; AMX: tq16 × tk32, a tile operand) and, for bf16 products (forward):
  // Q as bf16 rows (tq16 × D), P as bf16 rows (tq16 × tk32), Kᵀ as pairs over d (D/2 × tk32
  // words), V as pairs over keys (tk32/2 × D words), O (tq16 × D fp32); 64-byte aligned, so that
  // every AMX tile row is one cache line (aligned_scratch.h). Set by scratch_for.
  AlignedScratch s_buf, q16_buf, p16_buf, kt2_buf, v2_buf, tmp_buf, os_buf;
  float *s = nullptr, *os = nullptr;
  uint16_t *q16 = nullptr, *p16 = nullptr;
  uint32_t *kt2 = nullptr, *v2 = nullptr, *tmp = nullptr;
  static ShortScratch& get() {
    thread_local ShortScratch w;
    return w;
  }
  static void grow(std::vector<float>& v, int64_t n) {
    if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
  }
};

// Kᵀ (D × tkp, zero columns past Tk) of rows at `src` (row stride rs).
void pack_transposed(const float* src, int64_t rs, int64_t tk, int64_t d, int64_t tkp, float* dst) {
  if (tk < tkp)
    for (int64_t c = 0; c < d; ++c) std::fill(dst + c * tkp + tk, dst + (c + 1) * tkp, 0.f);
  transpose_into(src, rs, tk, d, dst, tkp);
}

// S (Tq × tkp, row stride tkp) = A·Bᵀ with A rows at `a` (stride a_rs) and Bᵀ packed (D × tkp);
// causal rows cut to the mask (tile_gemm_causal's `cols`).
void scores(const AttentionParams& p, const float* a, int64_t a_rs, const float* bt, int64_t tkp, float* s) {
  const int64_t shift = p.Tk - p.Tq;
  if (p.causal)
    tile_gemm_causal(Tri::cols, shift, p.Tq, tkp, p.D, a, a_rs, 1, bt, tkp, s, tkp, false);
  else
    tile_gemm(p.Tq, tkp, p.D, a, a_rs, 1, bt, tkp, s, tkp, false);
}

// Products with 32 output columns (head dim 32: P·V, dS·K, Pᵀ·dO, dSᵀ·Q) run in 12-row blocks
// (24 accumulators; the 6-row blocks of tile_gemm reload B for every 6 rows); other widths, and
// the rows past the last full block, go to tile_gemm / tile_gemm_causal. mode: k_lower or k_upper
// (causal), as tile_gemm_causal, with blocks of kWideRows rows.
constexpr int64_t kWideRows = 12;
void narrow_gemm(bool causal, Tri mode, int64_t diag, int64_t m, int64_t n, int64_t k, const float* a, int64_t a_rs,
                 int64_t a_cs, const float* b, int64_t ldb, float* c, int64_t ldc, bool acc) {
  int64_t r0 = 0;
  if (n == 2 * kLanes)
    for (; r0 + kWideRows <= m; r0 += kWideRows) {
      int64_t k0 = 0, k1 = k;
      if (causal && mode == Tri::k_lower) k1 = std::clamp<int64_t>(r0 + kWideRows + diag, 0, k);
      if (causal && mode == Tri::k_upper) k0 = std::clamp<int64_t>(r0 - diag, 0, k);
      if (k1 <= k0 && acc) continue;
      micro_kernel<kWideRows, 2>(std::max<int64_t>(k1 - k0, 0), a + r0 * a_rs + k0 * a_cs, a_rs, a_cs, b + k0 * ldb,
                                 ldb, c + r0 * ldc, ldc, acc);
    }
  if (r0 == m) return;
  if (causal)
    tile_gemm_causal(mode, diag + (mode == Tri::k_upper ? -r0 : r0), m - r0, n, k, a + r0 * a_rs, a_rs, a_cs, b, ldb,
                     c + r0 * ldc, ldc, acc);
  else
    tile_gemm(m - r0, n, k, a + r0 * a_rs, a_rs, a_cs, b, ldb, c + r0 * ldc, ldc, acc);
}

// Columns of query row i the elementwise pass writes (zeros where masked) for the cut products:
// up to the last key any row block containing row i reads (blocks of kWideRows rows at head dim 32).
int64_t row_cover(const AttentionParams& p, int64_t i, int64_t tkp) {
  if (!p.causal) return tkp;
  const int64_t margin = p.D == 2 * kLanes ? kWideRows : kMaxRows;
  const int64_t want = i + p.Tk - p.Tq + 1 + margin;
  return want <= 0 ? 0 : std::min(tkp, round_up(want, kLanes));
}

// kPrior: slope or key bias present (else z = scale·S and the bias terms are skipped). kAmx: the
// products on AMX with bf16 operands (dtype bf16, attention_amx.h): S and O in 16-row blocks, P
// rounded to its bf16 rows by the exp pass itself (zeros past the mask, up to tk32 for the 32-key
// steps of P·V): no fp32 P and no separate rounding pass.
// In: the element type of q, k, v (float, or uint16_t for bf16 inputs, AMX only).
template <bool kPrior, bool kAmx, class In = float>
void forward_item(const AttentionParams& p, int64_t b, int64_t h, ShortScratch& w) {
  const In *const q_in = input_rows<In>(p.q, p.q16), *const k_in = input_rows<In>(p.k, p.k16),
                  *const v_in = input_rows<In>(p.v, p.v16);
  // The next item's (b, h + 1) Q, K, V rows, prefetched during this item's softmax.
  const int64_t nb = h + 1 < p.H ? b : b + 1, nh = (h + 1) % p.H, nhk = nh / (p.H / p.Hkv);
  const bool has_next = nb < p.B;
  const In* nq = has_next ? q_in + nb * p.q_s[0] + nh * p.q_s[1] : nullptr;
  const In* nk = has_next ? k_in + nb * p.k_s[0] + nhk * p.k_s[1] : nullptr;
  const In* nv = has_next ? v_in + nb * p.v_s[0] + nhk * p.v_s[1] : nullptr;
  const int64_t D = p.D, Tq = p.Tq, Tk = p.Tk, tkp = round_up(Tk, kLanes), shift = Tk - Tq;
  const int64_t hk = h / (p.H / p.Hkv);
  const In* q = q_in + b * p.q_s[0] + h * p.q_s[1];
  const In* k = k_in + b * p.k_s[0] + hk * p.k_s[1];
  const In* v = v_in + b * p.v_s[0] + hk * p.v_s[1];
  const int64_t o_at = b * p.o_s[0] + h * p.o_s[1];
  float* lse = p.lse + (b * p.H + h) * Tq;
  const float slope = p.slope ? p.slope[hk] : 0.f;
  const int64_t tq16 = round_up(Tq, 16), tk32 = round_up(Tk, 32), ld = kAmx ? tk32 : tkp;
  key_bias_row(p, b, hk, ld, w.kb.data());
  if constexpr (kAmx) {
    const BfRows q16 = bf16_rows_operand(q, p.q_s[2], Tq, D, w.q16);
    to_bf16_pairs_over_cols(k, p.k_s[2], Tk, D, w.tmp, w.kt2, tk32);
    to_bf16_pairs(v, p.v_s[2], Tk, D, tk32 / 2, w.v2, D);
    amx_gemm(p.causal ? AmxPart::cols : AmxPart::full, shift, tq16, tkp, D, q16.rows, q16.ld, w.kt2, tk32, w.s, ld,
             false);
  } else {
    pack_transposed(k, p.k_s[2], Tk, D, tkp, w.kt.data());
    scores(p, q, p.q_s[2], w.kt.data(), tkp, w.s);
  }
  for (int64_t i = 0; i < Tq; ++i) {
    const int64_t qpos = shift + i, nc = row_cover(p, i, tkp);
    const int64_t n_adm = p.causal ? std::min(Tk, qpos + 1) : Tk;  // keys 0 … n_adm − 1 admitted
    float* sr = w.s + i * ld;
    prefetch_row(nq, p.q_s[2], i, D);
    for (int64_t j = i; j < Tk; j += Tq) prefetch_row(nk, p.k_s[2], j, D), prefetch_row(nv, p.v_s[2], j, D);
    v16 mx = splat(kNegInf);
    for (int64_t c0 = 0; c0 < nc; c0 += kLanes) {
      const v16 col = splat(static_cast<float>(c0)) + iota();
      v16 z = load(sr + c0) * p.scale;
      if constexpr (kPrior)
        z = fma(load(sr + c0), splat(p.scale),
                fma(splat(slope), col - static_cast<float>(qpos), load(w.kb.data() + c0)));
      if (c0 + kLanes > n_adm) z = col < static_cast<float>(n_adm) ? z : splat(kNegInf);
      store(sr + c0, z);
      mx = vmax(mx, z);
    }
    const float m = hmax(mx);
    v16 sum{};
    uint16_t* pr16 = kAmx ? w.p16 + i * ld : nullptr;  // AMX: P goes straight to its bf16 row
    for (int64_t c0 = 0; c0 < nc; c0 += kLanes) {
      const v16 pr = vexp(load(sr + c0) - m);
      if constexpr (kAmx)
        store_bf16(pr16 + c0, pr);
      else
        store(sr + c0, pr);
      sum += pr;
    }
    const float l = hsum(sum);
    lse[i] = m + std::log(l);
    w.dvec[i] = 1.f / l;
    if constexpr (kAmx)  // AMX reads P up to the row block's 32-key step: zeros past the cover
      std::fill(pr16 + nc, pr16 + ld, uint16_t{0});
  }
  if constexpr (kAmx) {  // O = P·V in 16-row blocks (pad rows of p16 stay zero), o = O / l
    amx_gemm(p.causal ? AmxPart::k_lower : AmxPart::full, shift, tq16, D, tk32, w.p16, ld, w.v2, D,
             w.os, D, false);
    // o in fp32, or bf16 (AttentionParams::o16): the rounding of the same fp32 values
    const auto store_o = [&](auto* o) {
      for (int64_t i = 0; i < Tq; ++i)
        for (int64_t c = 0; c < D; c += kLanes) {
          const v16 x = load(w.os + i * D + c) * w.dvec[i];
          if constexpr (std::is_same_v<decltype(o), uint16_t*>)
            store_bf16(o + i * p.o_s[2] + c, x);
          else
            store(o + i * p.o_s[2] + c, x);
        }
    };
    if (p.o16)
      store_o(p.o16 + o_at);
    else
      store_o(p.o + o_at);
  } else {
    float* o = p.o + o_at;
    // O = P·V straight into o (V rows read in place), then each row divided by its l.
    narrow_gemm(p.causal, Tri::k_lower, shift, Tq, D, Tk, w.s, tkp, 1, v, p.v_s[2], o, p.o_s[2], false);
    for (int64_t i = 0; i < Tq; ++i)
      for (int64_t c = 0; c < D; c += kLanes) store(o + i * p.o_s[2] + c, load(o + i * p.o_s[2] + c) * w.dvec[i]);
  }
}

// One (b, kv head) item; returns Σ dS (t_j − t_i) over it (for d_slope). kPrior: a slope or key
// bias, or their gradients (else the bias terms and the prior gradients' sums are skipped).
template <bool kPrior>
double backward_item(const AttentionParams& p, const AttentionBackwardParams& g, int64_t b, int64_t hk,
                     ShortScratch& w) {
  const int64_t D = p.D, Tq = p.Tq, Tk = p.Tk, tkp = round_up(Tk, kLanes), shift = Tk - Tq, G = p.H / p.Hkv;
  const float* k = p.k + b * p.k_s[0] + hk * p.k_s[1];
  const float* v = p.v + b * p.v_s[0] + hk * p.v_s[1];
  const float slope = p.slope ? p.slope[hk] : 0.f;
  pack_transposed(k, p.k_s[2], Tk, D, tkp, w.kt.data());
  pack_transposed(v, p.v_s[2], Tk, D, tkp, w.vt.data());
  key_bias_row(p, b, hk, tkp, w.kb.data());
  std::fill(w.dkb.begin(), w.dkb.begin() + tkp, 0.f);
  float* dk = g.dk + b * g.dk_s[0] + hk * g.dk_s[1];
  float* dv = g.dv + b * g.dv_s[0] + hk * g.dv_s[1];
  double slope_sum = 0.0;  // Σ dS·Δt: fp32 lanes within a row, double across rows
  for (int64_t gi = 0; gi < G; ++gi) {
    const int64_t h = hk * G + gi;
    const HeadInputs in = head_inputs(p, g, b, h);
    const float *q = in.q, *d_o = in.d_o, *lse = in.lse;
    const NextHead<> next(p, g, b, hk, gi);  // prefetched during this head's elementwise pass
    row_dots(p, g, in, w.dvec.data());  // D_i = dO_i · O_i
    scores(p, q, p.q_s[2], w.kt.data(), tkp, w.s);
    scores(p, d_o, g.do_s[2], w.vt.data(), tkp, w.dp.data());
    for (int64_t i = 0; i < Tq; ++i) {
      const int64_t qpos = shift + i, nc = row_cover(p, i, tkp);
      const int64_t n_adm = p.causal ? std::min(Tk, qpos + 1) : Tk;
      float* sr = w.s + i * tkp;
      float* dsr = w.dp.data() + i * tkp;
      const float lse_i = lse[i], dv_i = w.dvec[i];
      next.prefetch(p, g, i);
      v16 slope_row{};
      for (int64_t c0 = 0; c0 < nc; c0 += kLanes) {
        const v16 col = splat(static_cast<float>(c0)) + iota();
        const v16 delta = col - static_cast<float>(qpos);
        v16 z = load(sr + c0) * p.scale;
        if constexpr (kPrior) z = fma(load(sr + c0), splat(p.scale), fma(splat(slope), delta, load(w.kb.data() + c0)));
        v16 pr = vexp(z - lse_i);
        v16 dsv = pr * (load(dsr + c0) - dv_i);
        if (c0 + kLanes > n_adm) {  // masked: zeros (dP may be undefined there)
          const auto adm = col < static_cast<float>(n_adm);
          pr = adm ? pr : v16{};
          dsv = adm ? dsv : v16{};
        }
        store(sr + c0, pr);
        store(dsr + c0, dsv * p.scale);
        if constexpr (kPrior) {
          store(w.dkb.data() + c0, load(w.dkb.data() + c0) + dsv);
          slope_row = fma(dsv, delta, slope_row);
        }
      }
      if constexpr (kPrior) slope_sum += hsum(slope_row);
    }
    // dV (+)= Pᵀ·dO, dK (+)= (scale·dS)ᵀ·Q straight into dv, dk (the group's first head writes, the
    // others add); dQ = (scale·dS)·K into dq.
    float* dq = g.dq + b * g.dq_s[0] + h * g.dq_s[1];
    const bool acc = gi > 0;
    narrow_gemm(p.causal, Tri::k_upper, shift, Tk, D, Tq, w.s, 1, tkp, d_o, g.do_s[2], dv, g.dv_s[2], acc);
    narrow_gemm(p.causal, Tri::k_upper, shift, Tk, D, Tq, w.dp.data(), 1, tkp, q, p.q_s[2], dk, g.dk_s[2], acc);
    narrow_gemm(p.causal, Tri::k_lower, shift, Tq, D, Tk, w.dp.data(), tkp, 1, k, p.k_s[2], dq, g.dq_s[2], false);
  }
  if (g.d_key_bias) std::copy(w.dkb.begin(), w.dkb.begin() + Tk, g.d_key_bias + (b * p.Hkv + hk) * Tk);
  return slope_sum;
}

ShortScratch& scratch_for(const AttentionParams& p, bool amx) {
  ShortScratch& w = ShortScratch::get();
  const int64_t tkp = round_up(p.Tk, kLanes), n = p.Tq * tkp;
  ShortScratch::grow(w.dp, n);
  ShortScratch::grow(w.kt, p.D * tkp), ShortScratch::grow(w.vt, p.D * tkp);
  ShortScratch::grow(w.kb, tkp), ShortScratch::grow(w.dkb, tkp), ShortScratch::grow(w.dvec, p.Tq);
  if (!amx) {
    w.s = w.s_buf.get<float>(n);
    return w;
  }
  const int64_t tq16 = round_up(p.Tq, 16), tk32 = round_up(p.Tk, 32);
  w.s = w.s_buf.get<float>(std::max(n, tq16 * tk32)), w.os = w.os_buf.get<float>(tq16 * p.D);
  ShortScratch::grow(w.kb, tk32);
  // Pad rows (Tq … tq16) of the bf16 operands zero: only rows < Tq are written by the items.
  w.q16 = w.q16_buf.get<uint16_t>(tq16 * p.D), w.p16 = w.p16_buf.get<uint16_t>(tq16 * tk32);
  std::fill(w.q16 + p.Tq * p.D, w.q16 + tq16 * p.D, uint16_t{0});
  std::fill(w.p16 + p.Tq * tk32, w.p16 + tq16 * tk32, uint16_t{0});
  w.kt2 = w.kt2_buf.get<uint32_t>(p.D / 2 * tk32), w.v2 = w.v2_buf.get<uint32_t>(tk32 / 2 * p.D);
  w.tmp = w.tmp_buf.get<uint32_t>(tk32 * p.D / 2);
  return w;
}

bool parallel_call(const AttentionParams& p) { return p.B * p.H * p.Tq * p.Tk * p.D > (1 << 17); }

}  // namespace

void set_short_path(bool enabled) { g_short_enabled = enabled; }

void note_path(bool backward, KernelPath path) { g_last_path[backward].store(path, std::memory_order_relaxed); }
KernelPath last_path(bool backward) { return g_last_path[backward].load(std::memory_order_relaxed); }

bool short_path_applies(const AttentionParams& p) {
  const bool diag = p.d_entropy || p.d_sink || p.d_pmax || p.d_kl || p.d_omega;
  return g_short_enabled && !diag && p.D % kLanes == 0 && p.D <= kShortMaxD && p.Tq <= kShortMaxT &&
         p.Tk <= kShortMaxT && p.Tk >= p.Tq && p.Tq > 0;
}

void short_forward(const AttentionParams& p) {
  const bool amx = bf16_products(p);
  note_path(false, amx ? KernelPath::short_amx : KernelPath::short_fp32);
#pragma omp parallel if (parallel_call(p))
  {
    const FlushDenormals ftz;
    ShortScratch& w = scratch_for(p, amx);
    const std::optional<AmxTiles> tiles = amx ? std::optional<AmxTiles>(std::in_place) : std::nullopt;
    const bool prior = p.slope || p.key_bias, in16 = p.q16 != nullptr;  // bf16 inputs: amx (bf16_inputs)
    const auto item_fn = prior ? (in16  ? &forward_item<true, true, uint16_t>
                                  : amx ? &forward_item<true, true>
                                        : &forward_item<true, false>)
                               : (in16  ? &forward_item<false, true, uint16_t>
                                  : amx ? &forward_item<false, true>
                                        : &forward_item<false, false>);
#pragma omp for schedule(static)
    for (int64_t item = 0; item < p.B * p.H; ++item) item_fn(p, item / p.H, item % p.H, w);
  }
}

void short_backward(const AttentionParams& p, const AttentionBackwardParams& g) {
  const int64_t n_items = p.B * p.Hkv;
  thread_local std::vector<double> slope_part;  // of the calling thread
  slope_part.assign(static_cast<size_t>(n_items), 0.0);
  double* const part = slope_part.data();
  const bool prior = p.slope || p.key_bias || g.d_key_bias || g.d_slope, amx = bf16_products(p);
  note_path(true, amx ? KernelPath::short_amx : KernelPath::short_fp32);
#pragma omp parallel if (n_items > 1 && parallel_call(p))
  {
    const FlushDenormals ftz;
    if (amx) {  // bf16 products: attention_short_amx.cpp
      const AmxTiles tiles;
#pragma omp for schedule(static)
      for (int64_t item = 0; item < n_items; ++item)
        part[item] = short_backward_item_amx(p, g, item / p.Hkv, item % p.Hkv);
    } else {
      ShortScratch& w = scratch_for(p, false);
#pragma omp for schedule(static)
      for (int64_t item = 0; item < n_items; ++item)
        part[item] = prior ? backward_item<true>(p, g, item / p.Hkv, item % p.Hkv, w)
                           : backward_item<false>(p, g, item / p.Hkv, item % p.Hkv, w);
    }
  }
  if (g.d_slope)
    for (int64_t hk = 0; hk < p.Hkv; ++hk) {
      double s = 0.0;
      for (int64_t b = 0; b < p.B; ++b) s += part[b * p.Hkv + hk];
      g.d_slope[hk] = static_cast<float>(s);
    }
}

}  // namespace goat::cpu::attn
