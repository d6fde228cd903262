// GOAT's relative lanes built inside the fused flash kernels (goat.md §3, docs/kernels.md): after
// a Q or K tile has landed in shared memory, its lane columns are overwritten from the rows'
// positions and the kv head's (a, b), so q/k in global memory are never rewritten:
//   q row at t:  [dc, dc+R) = (a∘cos(wt) + b∘sin(wt)) / scale,  [dc+R, dc+2R) = (a∘sin(wt) − b∘cos(wt)) / scale
//   k row at t:  [dc, dc+R) = cos(wt),                          [dc+R, dc+2R) = sin(wt)
//   columns [dc+2R, D) = 0 in both (the key-only term u(j) arrives as the fp32 key bias).
// The kernel multiplies <q, k> by scale (the content scale 1/sqrt(dc)); dividing the q lanes by it
// leaves the lanes' part of z_ij = Σ_r a cos(w(t_i − t_j)) + b sin(w(t_i − t_j)) unscaled.
// cos/sin are computed once per (tile row, r) in fp64 from the exact integer position and
// w_r = 10000^(−r / max(R − 1, 1)) (as the CPU scheme's tables), then rounded to fp32 — not per
// pair. Backward: the dQ kernel's accumulator columns of the lanes are ∂L/∂q~ (dS·k~); per query
// block they become Σ_i ∂a, ∂b partials (lane_part), which goat_lane_grad_kernel sums per kv head
// in a fixed order (deterministic); the lane columns of dq and dk are stored as 0.
#pragma once

#include "flash_common.cuh"

namespace goat::kernels::flash {

// cos and sin of w_r · t in fp64, rounded to fp32. No libm trig or pow: their slow paths
// (Payne-Hanek reduction) put a local-memory array in every kernel that calls them (ptxas stack
// frame, which check_ptxas.sh refuses). w_r = exp(−r/max(R−1,1)·ln 10000) by exp's Taylor series
// after 1024-fold scaling (relative error 2e-13), x reduced to [−π, π] with a two-part 2π, then
// Taylor series to y^28: within 3e-9 of libm's cos/sin(10000^(−r/(R−1))·t) for t ≤ 1e5, far
// below the fp32 rounding (6e-8) the result gets.
__device__ __forceinline__ double lane_exp(double y) {  // y in [−ln 10000, 0]
  double z = y / 1024.0, term = 1.0, sum = 1.0;  // |z| < 0.01: 10 terms give full precision
  for (int n = 1; n <= 10; ++n) term *= z / n, sum += term;
  for (int i = 0; i < 10; ++i) sum *= sum;  // (e^z)^1024
  return sum;
}
__device__ __forceinline__ void lane_cos_sin(int64_t R, int64_t r, int64_t t, float& c, float& s) {
  constexpr double kLn10000 = 9.210340371976184, kTwoPiHi = 6.283185307179586, kTwoPiLo = 2.4492935982947064e-16;
  const double w = lane_exp(-kLn10000 * static_cast<double>(r) / static_cast<double>(R > 1 ? R - 1 : 1));
  const double x = w * static_cast<double>(t);
  const double k = rint(x / kTwoPiHi);
  const double y = fma(-k, kTwoPiLo, fma(-k, kTwoPiHi, x)), y2 = y * y;
  double cs = 0.0, sn = 0.0;
  for (int n = 26; n >= 0; n -= 2) cs = 1.0 - cs * y2 / ((n + 1.0) * (n + 2.0));  // Horner on y²
  for (int n = 26; n >= 0; n -= 2) sn = 1.0 - sn * y2 / ((n + 2.0) * (n + 3.0));
  c = static_cast<float>(cs);
  s = static_cast<float>(y * sn);
}

// Overwrites the lane columns [dc, D) of a (Rows × kStride<D>) tile whose row r sits at position
// pos0 + r: q lanes of kv head hk (is_q) or k lanes. Issued by all 128 threads; the caller
// synchronises before and after.
template <int D, int Rows, typename T>
__device__ __forceinline__ void write_lanes(bf16* tile, const AttentionArgs<T>& p, int64_t hk, int64_t pos0, bool is_q) {
  const int64_t R = p.lane_R, dc = p.lane_dc, nl = D - dc;  // nl = 2R + the zero columns
  const float inv_scale = 1.f / p.scale;
  for (int64_t c = threadIdx.x; c < Rows * nl; c += kThreads) {
    const int64_t row = c / nl, l = c % nl;
    bf16* dst = tile + row * kStride<D> + dc;
    if (l >= 2 * R) {
      dst[l] = from_f<bf16>(0.f);
      continue;
    }
    if (l >= R) continue;  // (row, r) with r = l writes both of its lanes
    float cs, sn;
    lane_cos_sin(R, l, pos0 + row, cs, sn);
    if (is_q) {
      const float a = p.lane_a[hk * R + l], b = p.lane_b[hk * R + l];
      dst[l] = from_f<bf16>((a * cs + b * sn) * inv_scale);
      dst[R + l] = from_f<bf16>((a * sn - b * cs) * inv_scale);
    } else {
      dst[l] = from_f<bf16>(cs);
      dst[R + l] = from_f<bf16>(sn);
    }
  }
}

// The dQ kernel's lane gradients of its 64 query rows [m0, m0 + 64) of (b, h): the accumulator
// columns [dc, dc + 2R) of every row (dq~ lanes = Σ_j dS_ij k~_j) go through shared memory
// (`scratch`, 64 × 2R floats; the tiles are no longer read), then thread r < R sums over the
// block's rows in row order: ∂a_r = Σ_i dq~_cos,r c_r(t_i) + dq~_sin,r s_r(t_i),
// ∂b_r = Σ_i dq~_cos,r s_r(t_i) − dq~_sin,r c_r(t_i), into lane_part[(b, h, block), (r | R + r)].
template <int D, int OT, typename T>
__device__ __forceinline__ void lane_grad_partials(const AttentionArgs<T>& p, const float (&dq)[OT][4], float* scratch,
                                                   int64_t b, int64_t h, int64_t m0) {
  const auto [warp, lane, g, t] = warp_lane();
  const int64_t R = p.lane_R, dc = p.lane_dc;
  __syncthreads();  // every warp is done with the tiles
  GOAT_UNROLL for (int ot = 0; ot < OT; ++ot)
    GOAT_UNROLL for (int e = 0; e < 4; ++e) {
      const int64_t col = ot * 8 + 2 * t + (e & 1), row = warp * 16 + g + 8 * (e >> 1);
      if (col >= dc && col < dc + 2 * R) scratch[row * 2 * R + col - dc] = dq[ot][e];
    }
  __syncthreads();
  const int64_t r = threadIdx.x;
  if (r >= R) return;
  float da = 0.f, db = 0.f;
  for (int64_t i = 0; i < 64 && m0 + i < p.Tq; ++i) {
    float cs, sn;
    lane_cos_sin(R, r, p.q_pos0 + m0 + i, cs, sn);
    const float lc = scratch[i * 2 * R + r], ls = scratch[i * 2 * R + R + r];
    da += lc * cs + ls * sn;
    db += lc * sn - ls * cs;
  }
  float* part = p.lane_part + ((b * p.H + h) * ((p.Tq + 63) / 64) + blockIdx.x) * 2 * R;
  part[r] = da;
  part[R + r] = db;
}

// d_lane_a, d_lane_b (Hkv, R) = Σ over batch, the group's query heads and query blocks (in that
// order) of lane_part. One thread per (hk, r).
template <typename T>
__global__ void goat_lane_grad_kernel(AttentionArgs<T> p) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t R = p.lane_R, group = p.H / p.Hkv, nblk = (p.Tq + 63) / 64;
  if (idx >= p.Hkv * R) return;
  const int64_t hk = idx / R, r = idx % R;
  float da = 0.f, db = 0.f;
  for (int64_t b = 0; b < p.B; ++b)
    for (int64_t h = hk * group; h < (hk + 1) * group; ++h)
      for (int64_t blk = 0; blk < nblk; ++blk) {
        const float* part = p.lane_part + ((b * p.H + h) * nblk + blk) * 2 * R;
        da += part[r];
        db += part[R + r];
      }
  p.d_lane_a[idx] = da;
  p.d_lane_b[idx] = db;
}

}  // namespace goat::kernels::flash
