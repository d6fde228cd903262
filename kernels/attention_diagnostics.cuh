// Attention diagnostics on the device (ops/attention.h, theory.md §5): entropy, sink mass, p_max,
// KL(p ‖ π) and ω per query row, as a separate pass after either forward (the fused flash kernel
// or the plain one): it needs only q, k, the prior hook and the forward's saved fp32 LSE, so the
// forward kernels stay as they are and turning diagnostics on cannot change o, LSE or training.
//
// One block per query row (b, h, i), grid (Tq, H, B), 128 threads, q's row in dynamic shared
// memory (D floats). Thread t takes keys j ≡ t (mod 128) in order and recomputes
//   s_j = scale·<q[:dc], k_j[:dc]>                  (content logit)
//   ℓ_j = scale·<q[dc:], k_j[dc:]> + slope·(t_j − t_i) + key_bias(j)   (log-prior)
//   z_j = s_j + ℓ_j (as scale·<q, k_j> + prior, the forward's logit)
// accumulating about the shift m = LSE: l = Σ e^{z − m}, ent = Σ e^{z − m}(z − m), es = Σ e^{z − m} s,
// max z, max/min s and an online logsumexp of ℓ (running max, sum). The per-thread partials are
// combined by the warp-shuffle tree of block_sum / block_max (a fixed order: deterministic), and
// the row's values come from the per-row formulas of kernel_math.h that the CPU kernel uses.
// With in-kernel GOAT lanes (p.lanes: the fused flash forward built them from positions and
// (a, b), flash_lanes.cuh) the pass sees the q/k the forward saw, not the raw ones in memory:
// q's row gets its lane columns from flash::lane_pair (t_i = q_pos0 + i) and key j's lane columns
// come from a (Tk, 2R) table that attention_lane_table_kernel fills with the same function
// (t_j = k_pos0 + j), both rounded to T as the kernels' bf16 tiles round them, and the columns
// past dc + 2R are 0.
// Cost: 2·Tk·D flops per row (no reuse of k across rows: a diagnostics pass, run every
// train.diag_every steps).
#pragma once

#include "attention.cuh"
#include "cuda_common.cuh"
#include "flash_lanes.cuh"

namespace goat::kernels {

// Outputs, each (B, H, Tq) fp32 contiguous on the device, or nullptr.
struct AttentionDiagOut {
  float *entropy, *sink_mass, *p_max, *kl, *omega;
  int64_t content_dim;    // dims [0, content_dim) are content, the rest prior lanes (1..D)
  float* k_lanes;         // (Tk, 2R) scratch with in-kernel lanes (R > 0), else nullptr
};

// The k lanes of the keys as the fused kernels hold them: k_lanes[j, (r | R + r)] =
// T(lane_pair(k row at k_pos0 + j, r)). One thread per (j, r).
template <typename T>
__global__ void attention_lane_table_kernel(AttentionArgs<T> p, float* k_lanes) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x, R = p.lane_R;
  if (idx >= p.Tk * R) return;
  const int64_t j = idx / R, r = idx % R;
  float lo, hi;
  flash::lane_pair(p, 0, r, p.k_pos0 + j, false, lo, hi);
  k_lanes[j * 2 * R + r] = to_f(from_f<T>(lo));
  k_lanes[j * 2 * R + R + r] = to_f(from_f<T>(hi));
}

template <typename T>
__global__ void attention_diagnostics_kernel(AttentionArgs<T> p, AttentionDiagOut out) {
  __shared__ float scratch[32];
  float* qrow = simt::dynamic_smem<float>();
  const int64_t i = blockIdx.x, h = blockIdx.y, b = blockIdx.z, hk = h / (p.H / p.Hkv);
  // Columns [0, kc) are read from q/k; with in-kernel lanes [kc, kc + nl) are the lanes, the rest 0.
  const int64_t kc = p.lanes ? p.lane_dc : p.D, nl = p.lanes ? 2 * p.lane_R : 0;
  const T* q = p.q + off3(p.q_s, b, h, i);
  for (int64_t d = threadIdx.x; d < p.D; d += blockDim.x) {
    const int64_t r = d - kc;
    if (r < 0) {
      qrow[d] = to_f(q[d]);
    } else if (r >= nl) {
      qrow[d] = 0.f;
    } else if (r < p.lane_R) {  // lane pair r writes columns kc + r and kc + R + r
      float lo, hi;
      flash::lane_pair(p, hk, r, p.q_pos0 + i, true, lo, hi);
      qrow[d] = to_f(from_f<T>(lo)), qrow[d + p.lane_R] = to_f(from_f<T>(hi));
    }
  }
  __syncthreads();
  const int64_t row = (b * p.H + h) * p.Tq + i, nk = keys_of(p, i), dc = out.content_dim;
  const float lse = p.lse[row];
  float l = 0.f, ent = 0.f, es = 0.f, zmax = -INFINITY, smax = -INFINITY, smin = INFINITY;
  float mp = -INFINITY, lp = 0.f, z0 = 0.f;
  for (int64_t j = threadIdx.x; j < nk; j += blockDim.x) {
    const T* k = p.k + off3(p.k_s, b, hk, j);
    const float* klanes = out.k_lanes + j * nl;  // read only when nl > 0
    float c = 0.f, lanes = 0.f;
    for (int64_t d = 0; d < p.D; ++d) {
      const float kd = d < kc ? to_f(k[d]) : d < kc + nl ? klanes[d - kc] : 0.f;
      if (d < dc)
        c += qrow[d] * kd;
      else
        lanes += qrow[d] * kd;
    }
    const float bias = prior_of(p, b, hk, i, j);
    const float z = p.scale * (c + lanes) + bias;
    const float e = expf(z - lse);
    l += e;
    ent += e * (z - lse);
    zmax = fmaxf(zmax, z);
    if (j == 0) z0 = z;
    const float s = p.scale * c, ell = p.scale * lanes + bias;
    es += e * s;
    smax = fmaxf(smax, s);
    smin = fminf(smin, s);
    if (ell > mp) {
      lp = lp * expf(mp - ell) + 1.f;
      mp = ell;
    } else {
      lp += expf(ell - mp);
    }
  }
  l = block_sum(l, scratch);
  ent = block_sum(ent, scratch);
  es = block_sum(es, scratch);
  zmax = block_max(zmax, scratch);
  smax = block_max(smax, scratch);
  smin = -block_max(-smin, scratch);
  const float mp_all = block_max(mp, scratch);
  lp = block_sum(mp == -INFINITY ? 0.f : lp * expf(mp - mp_all), scratch);
  if (threadIdx.x != 0) return;  // thread 0 took key 0 (every row has it)
  const float row_lse = lse + logf(l);  // the logsumexp of the recomputed logits
  if (out.entropy) out.entropy[row] = kmath::attn_entropy(l, ent);
  if (out.sink_mass) out.sink_mass[row] = kmath::attn_sink(z0, row_lse);
  if (out.p_max) out.p_max[row] = kmath::attn_p_max(zmax, lse, l);
  if (out.kl) out.kl[row] = kmath::attn_kl_content(es, l, row_lse) + kmath::attn_log_normaliser(mp_all, lp);
  if (out.omega) out.omega[row] = smax - smin;
}

// out.k_lanes must hold Tk·2R floats when p.lanes and R > 0.
template <typename T>
cudaError_t launch_attention_diagnostics(const AttentionArgs<T>& p, const AttentionDiagOut& out, cudaStream_t s) {
  if (p.B * p.H * p.Tq == 0) return cudaSuccess;
  if (p.lanes && p.lane_R > 0) {
    const int64_t n = p.Tk * p.lane_R;
    const cudaError_t e = simt::launch(attention_lane_table_kernel<T>, dim3(grid_for(n, 128, 1 << 30)),
                                       dim3(128), 0, s, p, out.k_lanes);
    if (e != cudaSuccess) return e;
  }
  const size_t smem = static_cast<size_t>(p.D) * sizeof(float);  // under 48 KiB for any head dim in use
  const dim3 grid(static_cast<unsigned>(p.Tq), static_cast<unsigned>(p.H), static_cast<unsigned>(p.B));
  return simt::launch(attention_diagnostics_kernel<T>, grid, dim3(128), smem, s, p, out);
}

}  // namespace goat::kernels
