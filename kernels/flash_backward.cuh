// Fused flash-attention backward (FlashAttention-2) for bf16 with D = 16, 32, 64 or 128, the prior of
// flash_forward.cuh and its gradients, deterministic (no atomics, fixed reduction orders):
//   P_ij = exp(z_ij − lse_i), dP_ij = <do_i, v_j>, dS_ij = P_ij (dP_ij − D_i), D_i = <do_i, o_i>
//   dv_j = Σ_i P_ij do_i,  dk_j = scale·Σ_i dS_ij q_i,  dq_i = scale·Σ_j dS_ij k_j
//   d_key_bias_j = Σ_i dS_ij,  d_slope = Σ_ij dS_ij (t_j − t_i)      (sums over the group's heads)
// Three kernels: (1) D_i, one warp per query row; (2) per 64-key block of one (b, kv head): K, V
// in shared memory, query tiles of 32 rows (Q, dO double-buffered by cp.async) over every head of
// the group; a warp owns 16 keys and computes Sᵀ = K·Qᵀ and dPᵀ = V·dOᵀ (16 × 32), then
// dV += Pᵀ·dO and dK += dSᵀ·Q (16 × D fp32 accumulators), the key-bias column sums and the
// per-key slope partials in fp32 registers; (3) dQ per 64-query block with Q, dO resident and
// K/V tiles of 32 keys double-buffered: S, dP (16 × 32 per warp), dQ += dS·K. The per-key slope
// partials are summed per kv head in key order by attention_slope_sum_kernel. Each output
// element is written by exactly one thread after a fixed sequence of fp32 operations, so two
// runs are bitwise identical. Shared memory: smem_bytes<D>() for kernels 2 and 3.
#pragma once

#include "flash_lanes.cuh"

namespace goat::kernels::flash {

// The two score-like products of a backward step, sharing one loop over the D/16 k-steps:
// c1 += A1 · B1ᵀ and c2 += A2 · B2ᵀ, where the A fragments are rows row0..row0+15 of the tiles
// a1, a2 and the B tiles hold 8·NT rows (N × D, D contiguous). The kv kernel computes Sᵀ = K·Qᵀ
// and dPᵀ = V·dOᵀ with it, the dQ kernel S = Q·Kᵀ and dP = dO·Vᵀ. (16 × 8·NT fp32 accumulators.)
template <int D, int NT>
__device__ __forceinline__ void mma_abt_pair(float (&c1)[NT][4], float (&c2)[NT][4], const bf16* a1, const bf16* a2,
                                             const bf16* b1, const bf16* b2, int row0) {
  GOAT_UNROLL for (int ks = 0; ks < D / 16; ++ks) {
    uint32_t fa1[4], fa2[4];
    load_a<D>(fa1, a1, row0, ks * 16);
    load_a<D>(fa2, a2, row0, ks * 16);
    GOAT_UNROLL for (int nt = 0; nt < NT; nt += 2) {
      uint32_t fb1[4], fb2[4];
      load_b_nk<D>(fb1, b1, nt * 8, ks * 16);
      load_b_nk<D>(fb2, b2, nt * 8, ks * 16);
      mma2(c1[nt], c1[nt + 1], fa1, fb1);
      mma2(c2[nt], c2[nt + 1], fa2, fb2);
    }
  }
}

// Dynamic shared memory of the kv and dQ kernels: two resident tiles of Rows rows (K and V, or Q
// and dO), then two pipeline stages, each a pair of StageRows-row tiles (Q and dO, or K and V).
template <int D, int Rows, int StageRows>
struct BackwardSmem {
  bf16* base;  // simt::dynamic_smem<bf16>()
  __device__ __forceinline__ bf16* resident(int i) const { return base + i * Rows * kStride<D>; }
  __device__ __forceinline__ bf16* stage(int64_t s) const {
    return base + 2 * Rows * kStride<D> + (s & 1) * (2 * StageRows * kStride<D>);
  }
};

// D_i = <do_i, o_i> in fp32. grid ceil(B·H·Tq / 4), block 128 (one warp per row).
__global__ void flash_delta_kernel(AttentionArgs<bf16> p) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * 4 + threadIdx.x / 32;
  const int lane = static_cast<int>(threadIdx.x) & 31;
  if (r >= p.B * p.H * p.Tq) return;
  const int64_t i = r % p.Tq, h = (r / p.Tq) % p.H, b = r / (p.Tq * p.H);
  const bf16* dout = p.d_o + off3(p.do_s, b, h, i);
  const bf16* o = p.o + off3(p.o_s, b, h, i);
  float s = 0.f;
  for (int64_t d = lane; d < p.D; d += 32) s += to_f(dout[d]) * to_f(o[d]);
  for (int w = 16; w > 0; w >>= 1) s += __shfl_xor_sync(kFullMask, s, w);
  if (lane == 0) p.delta[r] = s;
}

// dK, dV, d_key_bias and slope partials of 64 keys. grid (ceil(Tk / 64), Hkv, B), block 128.
template <int D>
__global__ void __launch_bounds__(kThreads, 2) flash_backward_kv_kernel(AttentionArgs<bf16> p) {
  constexpr int BN = 64, BM = 32, S = kStride<D>, NT = BM / 8, OT = D / 8;
  const BackwardSmem<D, BN, BM> smem{simt::dynamic_smem<bf16>()};  // K, V; stages of (Q, then dO at + BM·S)
  bf16* const k_tile = smem.resident(0), *const v_tile = smem.resident(1);
  const auto [warp, lane, g, t] = warp_lane();
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * BN, hk = blockIdx.y, b = blockIdx.z;
  const int64_t group = p.H / p.Hkv;
  const PairScore ps = pair_score(p, b, hk);
  const int64_t first_q = p.causal && n0 - ps.shift > 0 ? n0 - ps.shift : 0;  // first row seeing key n0
  const int64_t qt0 = first_q / BM, per_head = (p.Tq + BM - 1) / BM - qt0;
  const int64_t total = per_head > 0 ? group * per_head : 0;
  auto q_of = [&](int64_t it) { return p.q + off3(p.q_s, b, hk * group + it / per_head, 0); };
  auto do_of = [&](int64_t it) { return p.d_o + off3(p.do_s, b, hk * group + it / per_head, 0); };
  auto q0_of = [&](int64_t it) { return (qt0 + it % per_head) * BM; };

  load_tile_pair<D, BN>(k_tile, p.k + off3(p.k_s, b, hk, 0), p.k_s[2], p.v + off3(p.v_s, b, hk, 0), p.v_s[2], n0, p.Tk);
  simt::cp_async_commit();
  if (total > 0) load_tile_pair<D, BM>(smem.stage(0), q_of(0), p.q_s[2], do_of(0), p.do_s[2], q0_of(0), p.Tq);
  simt::cp_async_commit();

  const int64_t key[2] = {n0 + warp * 16 + g, n0 + warp * 16 + g + 8};  // this lane's key rows
  const bool lanes = p.lanes;
  const int64_t dc = lanes ? p.lane_dc : D;  // dk columns past dc (the lanes) are stored as 0
  float dk[OT][4] = {}, dv[OT][4] = {};
  float kb_sum[2] = {0.f, 0.f}, sl_sum[2] = {0.f, 0.f};
  for (int64_t it = 0; it < total; ++it) {
    const bool more = it + 1 < total;
    const int64_t next = more ? it + 1 : it;
    pipeline_step<D, BM>(more, smem.stage(it + 1), q_of(next), p.q_s[2], do_of(next), p.do_s[2], q0_of(next), p.Tq);
    bf16* q_tile = smem.stage(it);
    const bf16* do_tile = q_tile + BM * S;
    const int64_t h = hk * group + it / per_head, q0 = q0_of(it);
    if (lanes) {
      if (it == 0) write_lanes<D, BN>(k_tile, p, hk, p.k_pos0 + n0, false);
      write_lanes<D, BM>(q_tile, p, hk, p.q_pos0 + q0, true);
      __syncthreads();
    }

    float st[NT][4] = {}, dpt[NT][4] = {};  // Sᵀ, dPᵀ: rows = keys, columns = queries
    mma_abt_pair<D, NT>(st, dpt, k_tile, v_tile, q_tile, do_tile, warp * 16);
    GOAT_UNROLL for (int nt = 0; nt < NT; ++nt)
      GOAT_UNROLL for (int c = 0; c < 2; ++c) {
        const int64_t i = q0 + nt * 8 + 2 * t + c;
        const bool row_ok = i < p.Tq;
        const int64_t r = (b * p.H + h) * p.Tq + (row_ok ? i : 0);
        const float lse = p.lse[r], delta = p.delta[r];
        GOAT_UNROLL for (int kr = 0; kr < 2; ++kr) {
          const int e = 2 * kr + c;
          const int64_t j = key[kr];
          const bool ok = row_ok && ps.admissible(i, j);
          const float pr = ok ? expf(ps.z(st[nt][e], i, j) - lse) : 0.f;
          const float ds = pr * (dpt[nt][e] - delta);
          kb_sum[kr] += ds;
          sl_sum[kr] += ok ? ds * static_cast<float>(j - (ps.shift + i)) : 0.f;
          st[nt][e] = pr;
          dpt[nt][e] = ds;
        }
      }
    GOAT_UNROLL for (int kc = 0; kc < BM / 16; ++kc) {
      uint32_t pa[4], dsa[4];
      acc_to_a(pa, st[2 * kc], st[2 * kc + 1]);
      acc_to_a(dsa, dpt[2 * kc], dpt[2 * kc + 1]);
      GOAT_UNROLL for (int ot = 0; ot < OT; ot += 2) {
        uint32_t dob[4], qb[4];
        load_b_kn<D>(dob, do_tile, kc * 16, ot * 8);
        mma2(dv[ot], dv[ot + 1], pa, dob);
        load_b_kn<D>(qb, q_tile, kc * 16, ot * 8);
        mma2(dk[ot], dk[ot + 1], dsa, qb);
      }
    }
    __syncthreads();  // this stage is the prefetch target of the next iteration
  }
  simt::cp_async_wait<0>();

  GOAT_UNROLL for (int kr = 0; kr < 2; ++kr) {
    const float kb = group_sum(kb_sum[kr]), sl = group_sum(sl_sum[kr]);
    const int64_t j = key[kr];
    if (j >= p.Tk) continue;
    bf16* dkrow = p.dk + off3(p.dk_s, b, hk, j);
    bf16* dvrow = p.dv + off3(p.dv_s, b, hk, j);
    GOAT_UNROLL for (int ot = 0; ot < OT; ++ot) {
      const int64_t col = ot * 8 + 2 * t;
      store_bf16x2(dkrow + col, col < dc ? p.scale * dk[ot][2 * kr] : 0.f,
                   col + 1 < dc ? p.scale * dk[ot][2 * kr + 1] : 0.f);
      store_bf16x2(dvrow + ot * 8 + 2 * t, dv[ot][2 * kr], dv[ot][2 * kr + 1]);
    }
    if (t != 0) continue;
    const int64_t kidx = (b * p.Hkv + hk) * p.Tk + j;
    if (p.d_key_bias) p.d_key_bias[kidx] = kb;
    if (p.slope_part) p.slope_part[kidx] = sl;
  }
}

// dQ of 64 query rows of one (b, h). grid (ceil(Tq / 64), H, B), block 128.
template <int D>
__global__ void __launch_bounds__(kThreads, 2) flash_backward_q_kernel(AttentionArgs<bf16> p) {
  constexpr int BM = 64, BN = 32, S = kStride<D>, NT = BN / 8, OT = D / 8;
  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * BM, h = blockIdx.y, b = blockIdx.z;
  const int64_t hk = h / (p.H / p.Hkv);
  const BackwardSmem<D, BM, BN> smem{simt::dynamic_smem<bf16>()};  // Q, dO; stages of (K, then V at + BN·S)
  bf16* const q_tile = smem.resident(0), *const do_tile = smem.resident(1);
  const auto [warp, lane, g, t] = warp_lane();
  const bf16* k = p.k + off3(p.k_s, b, hk, 0);
  const bf16* v = p.v + off3(p.v_s, b, hk, 0);
  const PairScore ps = pair_score(p, b, hk);
  const int n_tiles = static_cast<int>((keys_needed(ps, p.Tq, m0, BM) + BN - 1) / BN);

  load_tile_pair<D, BM>(q_tile, p.q + off3(p.q_s, b, h, 0), p.q_s[2], p.d_o + off3(p.do_s, b, h, 0), p.do_s[2], m0, p.Tq);
  load_tile_pair<D, BN>(smem.stage(0), k, p.k_s[2], v, p.v_s[2], 0, p.Tk);
  simt::cp_async_commit();

  const int64_t row[2] = {m0 + warp * 16 + g, m0 + warp * 16 + g + 8};
  float lse[2], delta[2];
  GOAT_UNROLL for (int r = 0; r < 2; ++r) {
    const int64_t idx = (b * p.H + h) * p.Tq + (row[r] < p.Tq ? row[r] : 0);
    lse[r] = p.lse[idx];
    delta[r] = p.delta[idx];
  }
  float dq[OT][4] = {};
  const bool lanes = p.lanes;
  const int64_t dc = lanes ? p.lane_dc : D;  // dq columns past dc (the lanes) are stored as 0
  for (int n = 0; n < n_tiles; ++n) {
    pipeline_step<D, BN>(n + 1 < n_tiles, smem.stage(n + 1), k, p.k_s[2], v, p.v_s[2], (n + 1) * int64_t{BN}, p.Tk);
    bf16* k_tile = smem.stage(n);
    const bf16* v_tile = k_tile + BN * S;
    if (lanes) {
      if (n == 0) write_lanes<D, BM>(q_tile, p, hk, p.q_pos0 + m0, true);
      write_lanes<D, BN>(k_tile, p, hk, p.k_pos0 + n * int64_t{BN}, false);
      __syncthreads();
    }

    float s[NT][4] = {}, dp[NT][4] = {};
    mma_abt_pair<D, NT>(s, dp, q_tile, do_tile, k_tile, v_tile, warp * 16);
    const int64_t j0 = static_cast<int64_t>(n) * BN;
    GOAT_UNROLL for (int nt = 0; nt < NT; ++nt)
      GOAT_UNROLL for (int e = 0; e < 4; ++e) {
        const int64_t i = row[e >> 1], j = j0 + nt * 8 + 2 * t + (e & 1);
        const bool ok = i < p.Tq && ps.admissible(i, j);
        const float pr = ok ? expf(ps.z(s[nt][e], i, j) - lse[e >> 1]) : 0.f;
        s[nt][e] = pr * (dp[nt][e] - delta[e >> 1]);  // dS
      }
    mma_acc_kn<D>(dq, s, k_tile);  // dQ += dS·K
    __syncthreads();
  }
  simt::cp_async_wait<0>();
  if (lanes && p.lane_R > 0) lane_grad_partials<D>(p, dq, reinterpret_cast<float*>(smem.base), b, h, m0);

  GOAT_UNROLL for (int r = 0; r < 2; ++r) {
    if (row[r] >= p.Tq) continue;
    bf16* dqrow = p.dq + off3(p.dq_s, b, h, row[r]);
    GOAT_UNROLL for (int ot = 0; ot < OT; ++ot) {
      const int64_t col = ot * 8 + 2 * t;
      store_bf16x2(dqrow + col, col < dc ? p.scale * dq[ot][2 * r] : 0.f, col + 1 < dc ? p.scale * dq[ot][2 * r + 1] : 0.f);
    }
  }
}

// Needs p.delta (B·H·Tq floats), when p.d_slope is set p.slope_part (B·Hkv·Tk floats) and with
// in-kernel lanes (p.lanes, R > 0) p.lane_part (B·H·ceil(Tq/64)·2R floats) and d_lane_a/b.
template <int D>
cudaError_t launch_flash_backward(const AttentionArgs<bf16>& p, cudaStream_t s) {
  if (p.B * p.H * p.Tq == 0) return cudaSuccess;
  constexpr size_t smem = smem_bytes<D>();
  const int64_t rows = p.B * p.H * p.Tq;
  cudaError_t e = simt::launch(flash_delta_kernel, dim3(static_cast<unsigned>((rows + 3) / 4)), dim3(kThreads), 0, s, p);
  if (e != cudaSuccess) return e;
  const dim3 gkv(static_cast<unsigned>((p.Tk + 63) / 64), static_cast<unsigned>(p.Hkv), static_cast<unsigned>(p.B));
  e = launch_with_smem(flash_backward_kv_kernel<D>, gkv, kThreads, smem, s, p);
  if (e != cudaSuccess) return e;
  const dim3 gq(static_cast<unsigned>((p.Tq + 63) / 64), static_cast<unsigned>(p.H), static_cast<unsigned>(p.B));
  e = launch_with_smem(flash_backward_q_kernel<D>, gq, kThreads, smem, s, p);
  if (e == cudaSuccess && p.lanes && p.lane_R > 0)
    e = simt::launch(goat_lane_grad_kernel<bf16>, dim3(grid_for(p.Hkv * p.lane_R, 128, 1 << 30)), dim3(128), 0, s, p);
  if (e != cudaSuccess || !p.d_slope) return e;
  return simt::launch(attention_slope_sum_kernel<bf16>, dim3(grid_for(p.Hkv, 32, 1 << 30)), dim3(32), 0, s, p);
}

}  // namespace goat::kernels::flash
