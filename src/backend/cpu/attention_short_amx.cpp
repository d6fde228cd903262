// Short-path backward with bf16 products on AMX (dtype bf16, attention_short.cpp's path: Tq ≤ Tk ≤
// kShortMaxT, head dim a multiple of 32). One item is one (batch, kv head); shapes per item:
//   packed once: Kᵀ, Vᵀ as pairs over d (D/2 × tk32 words, the B of S = Q·Kᵀ and dP = dO·Vᵀ) and K
//                as pairs over keys (tk32/2 × D, the B of dQ = dS·K);
//   per query head of the GQA group: Q, dO as bf16 rows (tq16 × D) and transposed (D × tq32, the
//                A of dKᵀ += Qᵀ·dS and dVᵀ += dOᵀ·P); per block of 32 query rows S, dP (32 × tk32
//                fp32, in L1) and the elementwise pass over its row pairs, which writes P and dS
//                straight as pairs over queries (tq32/2 × tk32 words, the B of those two products:
//                no transpose of the score matrices) and dS as bf16 rows (the A of dQ) while the
//                next head's rows are prefetched; dQ = dS·K (tq16 × D) scaled into dq;
//   dKᵀ, dVᵀ (D × tk32 fp32) accumulate over the group and are transposed into dk, dv once (16 × 16
//                register blocks, scaled on the way).
// dq, dk, dv are stored as fp32 or, for the CPU bf16 model, as bf16 bits (the in_proj backward's
// d_out: no fp32 pass and no rounding pass between); the same stores add the fp32 values into the
// per-batch-row column sums of in_proj's bias gradient (AttentionBackwardParams::dq_sum).
// Causal: S and dP computed only up to each 16-row block's last admitted key (AmxPart::cols), dQ's
// sum stops there (k_lower), and dKᵀ, dVᵀ sum each 64-key column block over the queries from the
// first 32-query step that sees it. Same math and rounding points as the tiled AMX backward
// (attention_backward.cpp): P and unscaled dS rounded to bf16, fp32 statistics, D_i = dO_i·O_i in
// fp32, scale applied to dK and dQ at the end; the same bias formula, mask and vexp.
// q, k, v fp32 or bf16 (AttentionParams::q16 …; item<…, In>): bf16 K is packed by a word transpose,
// V by a bit interleave, Q read in place as the A operand when Tq is a multiple of 16.
#include <algorithm>
#include <cmath>

#include "backend/cpu/aligned_scratch.h"
#include "backend/cpu/attention_amx.h"
#include "backend/cpu/attention_bf16.h"
#include "backend/cpu/attention_kernel.h"

// See attention_kernel.h: 64-byte vectors in a non-AVX-512 build.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace goat::cpu::attn {

namespace {

// Per-thread scratch, grown to the call's shape (sizes in the comment at the top), never shrunk;
// 64-byte aligned, so that every AMX tile row is one cache line (aligned_scratch.h).
struct AmxShortScratch {
  AlignedScratch s, dp, dkt, dvt, dqs, kb, dkb, dvec;
  AlignedScratch q16, do16, qt16, dot16, ds16;
  AlignedScratch kt2, vt2, kp, pp, dsp, tmp;
};

// P and unscaled dS of 16 columns from c0 of query row i (zeros where masked or past `nc`).
// kPrior: slope / key bias terms (else z = scale·S).
template <bool kPrior>
struct RowPass {
  const float *s, *dp, *kb;
  float scale, slope, lse, d;
  int64_t qpos, n_adm, nc;
  void at(int64_t c0, v16& pr, v16& ds, v16& slope_acc) const {
    if (c0 >= nc) {
      pr = v16{}, ds = v16{};
      return;
    }
    const v16 col = splat(static_cast<float>(c0)) + iota();
    const v16 delta = col - static_cast<float>(qpos);
    v16 z = load(s + c0) * scale;
    if constexpr (kPrior) z = fma(load(s + c0), splat(scale), fma(splat(slope), delta, load(kb + c0)));
    pr = vexp(z - lse);
    ds = pr * (load(dp + c0) - d);
    if (c0 + kLanes > n_adm) {  // masked: zeros (S and dP are undefined past the mask)
      const auto adm = col < static_cast<float>(n_adm);
      pr = adm ? pr : v16{};
      ds = adm ? ds : v16{};
    }
    if constexpr (kPrior) slope_acc = fma(ds, delta, slope_acc);
  }
};

// Where an item writes dq, dk or dv: fp32 rows, or bf16 bits (AttentionBackwardParams::dq16 …),
// row stride rs. The callers walk one 16-column block over all rows at a time and keep that
// block's column sum (in_proj's bias gradient, ascending rows) in a register: a sum kept in
// memory made every store wait for the previous one's add (a store-forwarding chain, half of
// store_transposed's samples).
struct GradOut {
  float* f;
  uint16_t* h;
  int64_t rs;
  static GradOut of(float* f, uint16_t* h, int64_t offset, int64_t rs) {
    return {f ? f + offset : nullptr, h ? h + offset : nullptr, rs};
  }
  void put(int64_t row, int64_t c, v16 x) const {
    if (h)
      store_bf16(h + row * rs + c, x);
    else
      store(f + row * rs + c, x);
  }
};

// out row t = scale·(column t of src) for t < n (src: d × ≥ round_up(n, 16) fp32, row stride ld;
// d a multiple of 16), through 16 × 16 register transposes; the column sums over t (ascending)
// into sum (d floats, overwritten) when given.
void store_transposed(const float* src, int64_t ld, int64_t d, int64_t n, float scale, const GradOut& out,
                      float* sum) {
  for (int64_t c0 = 0; c0 < d; c0 += kLanes) {
    v16 acc{};
    for (int64_t t0 = 0; t0 < n; t0 += kLanes) {
      const int64_t rows = std::min<int64_t>(kLanes, n - t0);
      v16 r[16];
      for (int i = 0; i < 16; ++i) r[i] = load(src + (c0 + i) * ld + t0);
      transpose16(r);
      for (int64_t i = 0; i < rows; ++i) {
        const v16 x = r[i] * scale;
        out.put(t0 + i, c0, x);
        acc += x;
      }
    }
    if (sum) store(sum + c0, acc);
  }
}

// Query rows per block of S and dP (even, a multiple of 16): 2 × 32 × 256 fp32 fit L1.
constexpr int64_t kRowBlock = 32;

// In: the element type of q, k, v (float, or uint16_t for bf16 inputs, AttentionParams::q16 …).
template <bool kPrior, class In>
double item(const AttentionParams& p, const AttentionBackwardParams& g, int64_t b, int64_t hk, AmxShortScratch& w) {
  const int64_t D = p.D, Tq = p.Tq, Tk = p.Tk, shift = Tk - Tq, G = p.H / p.Hkv;
  const int64_t tq16 = round_up(Tq, 16), tq32 = round_up(Tq, 32), tk16 = round_up(Tk, 16), ld = round_up(Tk, 32);
  const In* k = input_rows<In>(p.k, p.k16) + b * p.k_s[0] + hk * p.k_s[1];
  const In* v = input_rows<In>(p.v, p.v16) + b * p.v_s[0] + hk * p.v_s[1];
  const float slope = p.slope ? p.slope[hk] : 0.f;
  float* const s = w.s.get<float>(kRowBlock * ld);
  float* const dps = w.dp.get<float>(kRowBlock * ld);
  float* const dkt = w.dkt.get<float>(D * ld);
  float* const dvt = w.dvt.get<float>(D * ld);
  float* const dqs = w.dqs.get<float>(tq16 * D);
  float* const kb = w.kb.get<float>(ld);
  float* const dkb = w.dkb.get<float>(ld);
  float* const dvec = w.dvec.get<float>(Tq);
  uint16_t* const q16 = w.q16.get<uint16_t>(tq16 * D);
  uint16_t* const do16 = w.do16.get<uint16_t>(tq16 * D);
  uint16_t* const qt16 = w.qt16.get<uint16_t>(D * tq32);
  uint16_t* const dot16 = w.dot16.get<uint16_t>(D * tq32);
  uint16_t* const ds16 = w.ds16.get<uint16_t>(tq16 * ld);
  uint32_t* const kt2 = w.kt2.get<uint32_t>(D / 2 * ld);
  uint32_t* const vt2 = w.vt2.get<uint32_t>(D / 2 * ld);
  uint32_t* const kp = w.kp.get<uint32_t>(ld / 2 * D);
  uint32_t* const pp = w.pp.get<uint32_t>(tq32 / 2 * ld);
  uint32_t* const dsp = w.dsp.get<uint32_t>(tq32 / 2 * ld);
  uint32_t* const tmp = w.tmp.get<uint32_t>(ld * D / 2);

  to_bf16_pairs_over_cols(k, p.k_s[2], Tk, D, tmp, kt2, ld);
  to_bf16_pairs_over_cols(v, p.v_s[2], Tk, D, tmp, vt2, ld);
  to_bf16_pairs(k, p.k_s[2], Tk, D, ld / 2, kp, D);
  key_bias_row(p, b, hk, ld, kb);
  if constexpr (kPrior) std::fill(dkb, dkb + ld, 0.f);
  // Pair rows past the last query pair (read by the 32-query steps of dKᵀ, dVᵀ) and dS rows past
  // Tq (the A rows of dQ's pad rows) stay zero for the item.
  const int64_t pair_rows = (Tq + 1) / 2;
  std::fill(pp + pair_rows * ld, pp + tq32 / 2 * ld, 0u);
  std::fill(dsp + pair_rows * ld, dsp + tq32 / 2 * ld, 0u);
  std::fill(ds16 + Tq * ld, ds16 + tq16 * ld, uint16_t{0});
  const AmxPart rows_part = p.causal ? AmxPart::cols : AmxPart::full;
  double slope_sum = 0.0;  // Σ dS·Δt: fp32 lanes within a row pair, double across pairs
  for (int64_t gi = 0; gi < G; ++gi) {
    const int64_t h = hk * G + gi;
    const HeadInputs in = head_inputs(p, g, b, h);
    const In* q = input_rows<In>(p.q, p.q16) + b * p.q_s[0] + h * p.q_s[1];
    const float *d_o = in.d_o, *lse = in.lse;
    row_dots(p, g, in, dvec);
    const NextHead<In> next(p, g, b, hk, gi);  // prefetched during the elementwise pass
    const BfRows qa = bf16_rows_operand(q, p.q_s[2], Tq, D, q16);
    to_bf16_rows(d_o, g.do_s[2], Tq, D, D, do16, D);
    to_bf16_transposed(q, p.q_s[2], Tq, D, tq32, qt16);
    to_bf16_transposed(d_o, g.do_s[2], Tq, D, tq32, dot16);
    // Blocks of kRowBlock query rows: S, dP (kRowBlock × ld fp32, kept in L1), then the elementwise
    // pass over the block's row pairs (i, i + 1): P and dS as pairs over queries, dS as bf16 rows,
    // zeros up to ld.
    for (int64_t r0 = 0; r0 < Tq; r0 += kRowBlock) {
      const int64_t m = std::min(kRowBlock, tq16 - r0);
      amx_gemm(rows_part, shift + r0, m, tk16, D, qa.rows + r0 * qa.ld, qa.ld, kt2, ld, s, ld, false);
      amx_gemm(rows_part, shift + r0, m, tk16, D, do16 + r0 * D, D, vt2, ld, dps, ld, false);
      for (int64_t i = r0; i < std::min(r0 + m, Tq); i += 2) {
        RowPass<kPrior> r[2];
        for (int64_t t = 0; t < 2; ++t) {
          const int64_t row = i + t, qpos = shift + row;
          const int64_t n_adm = row >= Tq ? 0 : p.causal ? std::min(Tk, qpos + 1) : Tk;
          const int64_t at = std::min(row, Tq - 1);
          r[t] = RowPass<kPrior>{s + (at - r0) * ld, dps + (at - r0) * ld, kb, p.scale, slope, lse[at], dvec[at],
                                 qpos, n_adm, round_up(n_adm, kLanes)};
        }
        next.prefetch(p, g, i);
        if (i + 1 < Tq) next.prefetch(p, g, i + 1);
        v16 slope_acc{};
        uint32_t* ppr = pp + i / 2 * ld;
        uint32_t* dspr = dsp + i / 2 * ld;
        uint16_t* ds_lo = ds16 + i * ld;
        for (int64_t c0 = 0; c0 < ld; c0 += kLanes) {
          v16 p0, d0, p1, d1;
          r[0].at(c0, p0, d0, slope_acc);
          r[1].at(c0, p1, d1, slope_acc);
          store_bf16_pairs(ppr + c0, p0, p1);
          store_bf16_pairs(dspr + c0, d0, d1);
          store_bf16(ds_lo + c0, d0);
          if (i + 1 < Tq) store_bf16(ds_lo + ld + c0, d1);
          if constexpr (kPrior) store(dkb + c0, load(dkb + c0) + d0 + d1);
        }
        if constexpr (kPrior) slope_sum += hsum(slope_acc);
      }
    }
    // dVᵀ (+)= dOᵀ·P, dKᵀ (+)= Qᵀ·dS per 64-key column block over the queries that see it (the
    // group's first head writes, the others add).
    const bool acc = gi > 0;
    for (int64_t c0 = 0; c0 < tk16; c0 += 64) {
      const int64_t n = std::min<int64_t>(64, tk16 - c0);
      const int64_t k0 = p.causal ? std::clamp<int64_t>((c0 - shift) / 32 * 32, 0, tq32) : 0;
      amx_gemm(AmxPart::full, 0, D, n, tq32 - k0, dot16 + k0, tq32, pp + k0 / 2 * ld + c0, ld, dvt + c0, ld, acc);
      amx_gemm(AmxPart::full, 0, D, n, tq32 - k0, qt16 + k0, tq32, dsp + k0 / 2 * ld + c0, ld, dkt + c0, ld, acc);
    }
    // dQ = dS·K, scaled into dq.
    amx_gemm(p.causal ? AmxPart::k_lower : AmxPart::full, shift, tq16, D, ld, ds16, ld, kp, D, dqs, D, false);
    const GradOut dq = GradOut::of(g.dq, g.dq16, b * g.dq_s[0] + h * g.dq_s[1], g.dq_s[2]);
    float* const qsum = grad_sum_row(p, g, b, h);
    for (int64_t c = 0; c < D; c += kLanes) {  // one column block at a time, its sum in a register
      v16 acc{};
      for (int64_t i = 0; i < Tq; ++i) {
        const v16 x = load(dqs + i * D + c) * p.scale;
        dq.put(i, c, x);
        acc += x;
      }
      if (qsum) store(qsum + c, acc);
    }
  }
  // dk = scale·(dKᵀ)ᵀ, dv = (dVᵀ)ᵀ.
  store_transposed(dkt, ld, D, Tk, p.scale, GradOut::of(g.dk, g.dk16, b * g.dk_s[0] + hk * g.dk_s[1], g.dk_s[2]),
                   grad_sum_row(p, g, b, p.H + hk));
  store_transposed(dvt, ld, D, Tk, 1.f, GradOut::of(g.dv, g.dv16, b * g.dv_s[0] + hk * g.dv_s[1], g.dv_s[2]),
                   grad_sum_row(p, g, b, p.H + p.Hkv + hk));
  if (g.d_key_bias) std::copy(dkb, dkb + Tk, g.d_key_bias + (b * p.Hkv + hk) * Tk);
  return slope_sum;
}

}  // namespace

double short_backward_item_amx(const AttentionParams& p, const AttentionBackwardParams& g, int64_t b, int64_t hk) {
  thread_local AmxShortScratch w;
  const bool prior = p.slope || p.key_bias || g.d_key_bias || g.d_slope;
  if (p.q16) return prior ? item<true, uint16_t>(p, g, b, hk, w) : item<false, uint16_t>(p, g, b, hk, w);
  return prior ? item<true, float>(p, g, b, hk, w) : item<false, float>(p, g, b, hk, w);
}

}  // namespace goat::cpu::attn
