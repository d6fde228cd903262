// The CPU attention backward's optional outputs for the bf16 model (AttentionBackwardParams): dq,
// dk, dv as bf16 bits and their column sums over (b, t) (the in_proj bias gradient), so the in_proj
// backward reads a ready bf16 d_out and has no rounding or bias pass of its own.
//   direct  (the short AMX item, attention_short_amx.cpp): the item stores bf16 and sums the rows
//           it stores into its batch row's sums (B, H + 2·Hkv, D); here only the sum over b.
//   else    (tiled kernel, fp32 products, long T): the kernel writes fp32 into scratch (or into the
//           fp32 outputs), then one pass per (b, head) rounds and sums in the same order.
// Sum order (fixed, documented in attention_kernel.h): per batch row and column, t ascending in
// fp32 from 0; then the batch rows ascending in fp32 from 0; then added into dq_sum / dk_sum / dv_sum.
#include <algorithm>
#include <vector>

#include "backend/cpu/attention_kernel.h"
#include "core/dtype.h"

namespace goat::cpu::attn {

namespace {

// Sums of the per-batch-row rows `part` (B, H + 2·Hkv, D) into dq_sum (n < H), dk_sum, dv_sum.
void finish_sums(const AttentionParams& p, const AttentionBackwardParams& g, const float* part) {
  const int64_t N = p.H + 2 * p.Hkv, D = p.D;
  for (int64_t n = 0; n < N; ++n) {
    float* dst = n < p.H ? g.dq_sum + n * D : n < p.H + p.Hkv ? g.dk_sum + (n - p.H) * D : g.dv_sum + (n - p.H - p.Hkv) * D;
    for (int64_t c = 0; c < D; ++c) {
      float s = 0.f;
      for (int64_t b = 0; b < p.B; ++b) s += part[(b * N + n) * D + c];
      dst[c] += s;
    }
  }
}

// One (b, head) block of T rows (fp32 src, row stride src_rs) into the bf16 output (or nothing:
// dst16 null) and its batch row's sums (overwritten; or none: sum null).
void round_and_sum(const float* src, int64_t src_rs, int64_t T, int64_t D, uint16_t* dst16, int64_t dst_rs, float* sum) {
  if (sum) std::fill(sum, sum + D, 0.f);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < D; ++c) {
      const float v = src[t * src_rs + c];
      if (sum) sum[c] += v;
      if (dst16) dst16[t * dst_rs + c] = bf16::from_float(v).bits;
    }
}

}  // namespace

void backward_grad_out(const AttentionParams& p, const AttentionBackwardParams& g, bool direct, BackwardRun run) {
  const int64_t N = p.H + 2 * p.Hkv, D = p.D;
  const bool bf16 = g.bf16_out();
  std::vector<float> part(static_cast<size_t>(g.sums() ? p.B * N * D : 0));
  float* const sums = g.sums() ? part.data() : nullptr;  // (B, N, D) per-batch-row sums
  if (direct) {
    AttentionBackwardParams gd = g;
    gd.sum_part = sums;
    run(p, gd);
    if (sums) finish_sums(p, g, sums);
    return;
  }
  // fp32 outputs: scratch (B, H, Tq, D) and 2 × (B, Hkv, Tk, D) contiguous when the outputs are bf16.
  std::vector<float> scratch(static_cast<size_t>(bf16 ? p.B * (p.H * p.Tq + 2 * p.Hkv * p.Tk) * D : 0));
  AttentionBackwardParams gf = g;
  gf.dq16 = gf.dk16 = gf.dv16 = nullptr;
  gf.dq_sum = gf.dk_sum = gf.dv_sum = gf.sum_part = nullptr;
  if (bf16) {
    float* q = scratch.data();
    float* k = q + p.B * p.H * p.Tq * D;
    float* v = k + p.B * p.Hkv * p.Tk * D;
    gf.dq = q, gf.dk = k, gf.dv = v;
    const int64_t qs[3] = {p.H * p.Tq * D, p.Tq * D, D}, ks[3] = {p.Hkv * p.Tk * D, p.Tk * D, D};
    std::copy(qs, qs + 3, gf.dq_s), std::copy(ks, ks + 3, gf.dk_s), std::copy(ks, ks + 3, gf.dv_s);
  }
  run(p, gf);
  // (b, n) blocks: n < H query heads, then key heads, then value heads.
#pragma omp parallel for schedule(static) if (p.B * N * p.Tk * D >= (1 << 16))
  for (int64_t item = 0; item < p.B * N; ++item) {
    const int64_t b = item / N, n = item % N;
    const bool is_q = n < p.H, is_k = !is_q && n < p.H + p.Hkv;
    const int64_t head = is_q ? n : is_k ? n - p.H : n - p.H - p.Hkv, T = is_q ? p.Tq : p.Tk;
    const float* src = is_q ? gf.dq : is_k ? gf.dk : gf.dv;
    const int64_t* ss = is_q ? gf.dq_s : is_k ? gf.dk_s : gf.dv_s;
    uint16_t* dst = is_q ? g.dq16 : is_k ? g.dk16 : g.dv16;
    const int64_t* ds = is_q ? g.dq_s : is_k ? g.dk_s : g.dv_s;
    round_and_sum(src + b * ss[0] + head * ss[1], ss[2], T, D, dst ? dst + b * ds[0] + head * ds[1] : nullptr, ds[2],
                  sums ? sums + item * D : nullptr);
  }
  if (sums) finish_sums(p, g, sums);
}

}  // namespace goat::cpu::attn
