// Fused flash-attention forward (FlashAttention-2) for bf16 q/k/v/o with D ∈ {16, 32, 64, 128} and the
// prior hook of ops/attention.h computed in fp32 inside the kernel:
//   z_ij = scale·<q_i, k_j> + slope[hk]·(t_j − t_i) + key_bias[b, hk, j],  o_i = Σ_j softmax_j(z_ij) v_j
// (GOAT's relative lanes either arrive folded into q/k or, with p.lanes set, are written into the
// Q and K tiles after they land, flash_lanes.cuh; docs/kernels.md).
//
// Block: 64 query rows × one (b, h), 4 warps of 16 rows. The Q tile goes global → shared (cp.async)
// → registers (ldmatrix, D/16 A fragments) once. K/V tiles of 64 keys stream through two shared
// stages: tile n + 1 is in flight while tile n is multiplied. Per key tile a warp computes
// S = Q·Kᵀ (16 × 64, fp32 accumulators), adds the prior and the causal mask, updates the fp32
// running max/sum (online softmax), rounds P to bf16 in registers (accumulator-to-A identity) and
// accumulates O += P·V (16 × D fp32). Key tiles past the block's last query position are skipped
// (causal). lse = m + log(l) in fp32 for the backward pass.
// Shared memory: 4 tiles of 64 × (D + 8) bf16 (36 KiB at D = 64, 68 KiB at D = 128); the Q tile
// is staged in stage 1 before the pipeline starts.
#pragma once

#include "flash_lanes.cuh"

namespace goat::kernels::flash {

// grid (ceil(Tq / 64), H, B), block 128, dynamic smem smem_bytes<D>().
template <int D>
__global__ void __launch_bounds__(kThreads, 2) flash_forward_kernel(AttentionArgs<bf16> p) {
  constexpr int BM = 64, BN = 64, S = kStride<D>, KS = D / 16, NT = BN / 8, OT = D / 8;
  bf16* smem = simt::dynamic_smem<bf16>();
  auto stage = [smem](int64_t s) { return smem + (s & 1) * (2 * BN * S); };  // K, then V at + BN·S
  const auto [warp, lane, g, t] = warp_lane();
  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * BM, h = blockIdx.y, b = blockIdx.z;
  const int64_t hk = h / (p.H / p.Hkv);
  const bf16* q = p.q + off3(p.q_s, b, h, 0);
  const bf16* k = p.k + off3(p.k_s, b, hk, 0);
  const bf16* v = p.v + off3(p.v_s, b, hk, 0);
  const PairScore ps = pair_score(p, b, hk);
  const int n_tiles = static_cast<int>((keys_needed(ps, p.Tq, m0, BM) + BN - 1) / BN);

  load_tile<D, BM>(stage(1), q, p.q_s[2], m0, p.Tq);
  simt::cp_async_commit();
  load_tile_pair<D, BN>(stage(0), k, p.k_s[2], v, p.v_s[2], 0, p.Tk);
  simt::cp_async_commit();
  simt::cp_async_wait<1>();
  __syncthreads();
  const bool lanes = p.lanes;
  if (lanes) {
    write_lanes<D, BM>(stage(1), p, hk, p.q_pos0 + m0, true);
    __syncthreads();
  }
  uint32_t qf[KS][4];
  GOAT_UNROLL for (int ks = 0; ks < KS; ++ks) load_a<D>(qf[ks], stage(1), warp * 16, ks * 16);
  __syncthreads();  // stage 1 is the first prefetch's target

  const int64_t row[2] = {m0 + warp * 16 + g, m0 + warp * 16 + g + 8};  // this lane's query rows
  float o[OT][4] = {};
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.f, 0.f};  // l: this lane's partial sums
  for (int n = 0; n < n_tiles; ++n) {
    pipeline_step<D, BN>(n + 1 < n_tiles, stage(n + 1), k, p.k_s[2], v, p.v_s[2], (n + 1) * int64_t{BN}, p.Tk);
    bf16* ks_tile = stage(n);
    const bf16* vs_tile = ks_tile + BN * S;
    if (lanes) {
      write_lanes<D, BN>(ks_tile, p, hk, p.k_pos0 + n * int64_t{BN}, false);
      __syncthreads();
    }

    float s[NT][4] = {};
    GOAT_UNROLL for (int ks = 0; ks < KS; ++ks)
      GOAT_UNROLL for (int nt = 0; nt < NT; nt += 2) {
        uint32_t kb[4];
        load_b_nk<D>(kb, ks_tile, nt * 8, ks * 16);
        mma2(s[nt], s[nt + 1], qf[ks], kb);
      }

    const int64_t j0 = static_cast<int64_t>(n) * BN;
    float mx[2] = {m_run[0], m_run[1]};
    GOAT_UNROLL for (int nt = 0; nt < NT; ++nt)
      GOAT_UNROLL for (int e = 0; e < 4; ++e) {
        const int64_t i = row[e >> 1], j = j0 + nt * 8 + 2 * t + (e & 1);
        const float z = ps.admissible(i, j) ? ps.z(s[nt][e], i, j) : -INFINITY;
        s[nt][e] = z;
        mx[e >> 1] = fmaxf(mx[e >> 1], z);
      }
    float base[2];
    GOAT_UNROLL for (int r = 0; r < 2; ++r) {
      mx[r] = group_max(mx[r]);
      base[r] = mx[r] == -INFINITY ? 0.f : mx[r];  // a row with nothing admissible yet stays 0
      const float corr = expf(m_run[r] - base[r]);
      m_run[r] = mx[r];
      l_run[r] *= corr;
      GOAT_UNROLL for (int ot = 0; ot < OT; ++ot) o[ot][2 * r] *= corr, o[ot][2 * r + 1] *= corr;
    }
    GOAT_UNROLL for (int nt = 0; nt < NT; ++nt)
      GOAT_UNROLL for (int e = 0; e < 4; ++e) {
        s[nt][e] = expf(s[nt][e] - base[e >> 1]);
        l_run[e >> 1] += s[nt][e];
      }

    mma_acc_kn<D>(o, s, vs_tile);  // O += P·V, P rounded to bf16
    __syncthreads();  // this stage is the prefetch target of the next iteration
  }
  simt::cp_async_wait<0>();

  GOAT_UNROLL for (int r = 0; r < 2; ++r) {
    const float l = group_sum(l_run[r]);
    if (row[r] >= p.Tq) continue;
    const float inv = 1.f / l;
    bf16* orow = p.o + off3(p.o_s, b, h, row[r]);
    GOAT_UNROLL for (int ot = 0; ot < OT; ++ot) store_bf16x2(orow + ot * 8 + 2 * t, o[ot][2 * r] * inv, o[ot][2 * r + 1] * inv);
    if (t == 0) p.lse[(b * p.H + h) * p.Tq + row[r]] = m_run[r] + logf(l);
  }
}

template <int D>
cudaError_t launch_flash_forward(const AttentionArgs<bf16>& p, cudaStream_t s) {
  if (p.B * p.H * p.Tq == 0) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>((p.Tq + 63) / 64), static_cast<unsigned>(p.H), static_cast<unsigned>(p.B));
  return launch_with_smem(flash_forward_kernel<D>, grid, kThreads, smem_bytes<D>(), s, p);
}

}  // namespace goat::kernels::flash
