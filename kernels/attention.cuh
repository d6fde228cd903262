// Straightforward causal attention with the additive prior hook of ops/attention.h
//   z_ij = scale·<q_i, k_j> + slope[hk]·(t_j − t_i) + key_bias[b, hk, j],  t_j ≤ t_i when causal
// (t_i = Tk − Tq + i relative to key 0), T = float or __nv_bfloat16 storage, fp32 math, fp32 lse
// and prior. Not the fused flash kernel (its own issue): forward is one block per query row with
// the row's Tk logits in dynamic shared memory (Tk·4 bytes); backward is one block per query row
// for dq (and D_i = <do_i, o_i>), then one block per key row for dk, dv, d_key_bias and the
// per-key d_slope partials, summing over query rows and the heads of the group in order
// (deterministic, no atomics); a last kernel sums the d_slope partials per kv head.
#pragma once

#include "cuda_common.cuh"

namespace goat::kernels {

template <typename T>
struct AttentionArgs {
  const T* q;         // (B, H, Tq, D) strides q_s[0..2], last dim 1
  const T* k;         // (B, Hkv, Tk, D)
  const T* v;         // (B, Hkv, Tk, D)
  T* o;               // (B, H, Tq, D)
  float* lse;         // (B, H, Tq) contiguous
  const float* slope;     // (Hkv) or nullptr
  const float* key_bias;  // (B, Hkv, Tk) or nullptr
  int64_t q_s[3], k_s[3], v_s[3], o_s[3];
  int64_t B, H, Hkv, Tq, Tk, D;
  float scale;
  bool causal;
  // backward only
  const T* d_o;  // (B, H, Tq, D), strides do_s
  T* dq;         // strides dq_s
  T* dk;         // strides dk_s
  T* dv;         // strides dv_s
  int64_t do_s[3], dq_s[3], dk_s[3], dv_s[3];
  float* delta;         // (B, H, Tq) scratch: D_i = <do_i, o_i>
  float* d_key_bias;    // (B, Hkv, Tk) overwritten, or nullptr
  float* slope_part;    // (B, Hkv, Tk) scratch: per-key Σ dS·(t_j − t_i), or nullptr
  float* d_slope;       // (Hkv) overwritten, or nullptr
  // GOAT's relative lanes built inside the fused flash kernels (kernels/flash_lanes.cuh) when
  // `lanes` (else none). Columns [lane_dc, lane_dc + 2R) of q and k are replaced by the lanes
  // (q: (a∘cos + b∘sin, a∘sin − b∘cos) / scale, k: (cos, sin)), columns past them by 0, the
  // content [0, lane_dc) is read as is (scale applies to it); t = q_pos0 + i, k_pos0 + j.
  bool lanes;
  const float* lane_a;  // (Hkv, R) fp32
  const float* lane_b;  // (Hkv, R) fp32
  int64_t lane_R, lane_dc, q_pos0, k_pos0;
  float* lane_part;     // (B, H, ceil(Tq / 64), 2R) scratch: per query block Σ ∂a, Σ ∂b
  float* d_lane_a;      // (Hkv, R) overwritten (backward)
  float* d_lane_b;      // (Hkv, R) overwritten (backward)
};

__device__ __forceinline__ int64_t off3(const int64_t* s, int64_t a, int64_t b, int64_t c) {
  return a * s[0] + b * s[1] + c * s[2];
}

// Number of admissible keys of query row i.
template <typename T>
__device__ __forceinline__ int64_t keys_of(const AttentionArgs<T>& p, int64_t i) {
  return p.causal ? p.Tk - p.Tq + i + 1 : p.Tk;
}

template <typename T>
__device__ __forceinline__ float prior_of(const AttentionArgs<T>& p, int64_t b, int64_t hk, int64_t i, int64_t j) {
  float z = 0.f;
  if (p.slope) z += p.slope[hk] * static_cast<float>(j - (p.Tk - p.Tq + i));
  if (p.key_bias) z += p.key_bias[(b * p.Hkv + hk) * p.Tk + j];
  return z;
}

// grid (Tq, H, B), block 128, dynamic smem Tk floats.
template <typename T>
__global__ void attention_forward_kernel(AttentionArgs<T> p) {
  __shared__ float scratch[32];
  float* z = simt::dynamic_smem<float>();
  const int64_t i = blockIdx.x, h = blockIdx.y, b = blockIdx.z, hk = h / (p.H / p.Hkv);
  const T* q = p.q + off3(p.q_s, b, h, i);
  const int64_t nk = keys_of(p, i);
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < nk; j += blockDim.x) {
    const T* k = p.k + off3(p.k_s, b, hk, j);
    float s = 0.f;
    for (int64_t d = 0; d < p.D; ++d) s += to_f(q[d]) * to_f(k[d]);
    z[j] = p.scale * s + prior_of(p, b, hk, i, j);
    m = fmaxf(m, z[j]);
  }
  m = block_max(m, scratch);
  float l = 0.f;
  for (int64_t j = threadIdx.x; j < nk; j += blockDim.x) {
    z[j] = expf(z[j] - m);
    l += z[j];
  }
  l = block_sum(l, scratch);  // its barriers also publish z[] to every thread
  const float inv = 1.f / l;
  T* o = p.o + off3(p.o_s, b, h, i);
  for (int64_t d = threadIdx.x; d < p.D; d += blockDim.x) {
    float acc = 0.f;
    for (int64_t j = 0; j < nk; ++j) acc += z[j] * to_f(p.v[off3(p.v_s, b, hk, j) + d]);
    o[d] = from_f<T>(acc * inv);
  }
  if (threadIdx.x == 0) p.lse[(b * p.H + h) * p.Tq + i] = m + logf(l);
}

// dq_i = scale·Σ_j dS_ij k_j, dS_ij = P_ij (dP_ij − D_i), dP_ij = <do_i, v_j>. grid (Tq, H, B).
template <typename T>
__global__ void attention_backward_query_kernel(AttentionArgs<T> p) {
  __shared__ float scratch[32];
  float* ds = simt::dynamic_smem<float>();
  const int64_t i = blockIdx.x, h = blockIdx.y, b = blockIdx.z, hk = h / (p.H / p.Hkv);
  const T* q = p.q + off3(p.q_s, b, h, i);
  const T* dout = p.d_o + off3(p.do_s, b, h, i);
  const T* o = p.o + off3(p.o_s, b, h, i);
  const int64_t row = (b * p.H + h) * p.Tq + i;
  float dd = 0.f;
  for (int64_t d = threadIdx.x; d < p.D; d += blockDim.x) dd += to_f(dout[d]) * to_f(o[d]);
  const float delta = block_sum(dd, scratch);
  const float lse = p.lse[row];
  const int64_t nk = keys_of(p, i);
  for (int64_t j = threadIdx.x; j < nk; j += blockDim.x) {
    const T* k = p.k + off3(p.k_s, b, hk, j);
    const T* v = p.v + off3(p.v_s, b, hk, j);
    float s = 0.f, dp = 0.f;
    for (int64_t d = 0; d < p.D; ++d) {
      s += to_f(q[d]) * to_f(k[d]);
      dp += to_f(dout[d]) * to_f(v[d]);
    }
    const float pr = expf(p.scale * s + prior_of(p, b, hk, i, j) - lse);
    ds[j] = pr * (dp - delta);
  }
  __syncthreads();
  T* dq = p.dq + off3(p.dq_s, b, h, i);
  for (int64_t d = threadIdx.x; d < p.D; d += blockDim.x) {
    float acc = 0.f;
    for (int64_t j = 0; j < nk; ++j) acc += ds[j] * to_f(p.k[off3(p.k_s, b, hk, j) + d]);
    dq[d] = from_f<T>(p.scale * acc);
  }
  if (threadIdx.x == 0) p.delta[row] = delta;
}

// dv_j = Σ_{h,i} P_ij do_i, dk_j = scale·Σ dS_ij q_i, d_key_bias_j = Σ dS_ij, slope partial
// Σ dS_ij (t_j − t_i), over the group's heads h and admissible query rows i. grid (Tk, Hkv, B),
// block 128; dynamic smem 2·D floats (the dk, dv accumulators).
template <typename T>
__global__ void attention_backward_key_kernel(AttentionArgs<T> p) {
  __shared__ float scratch[32];
  float* acc_k = simt::dynamic_smem<float>();
  float* acc_v = acc_k + p.D;
  const int64_t j = blockIdx.x, hk = blockIdx.y, b = blockIdx.z, group = p.H / p.Hkv;
  const T* k = p.k + off3(p.k_s, b, hk, j);
  const T* v = p.v + off3(p.v_s, b, hk, j);
  for (int64_t d = threadIdx.x; d < p.D; d += blockDim.x) acc_k[d] = acc_v[d] = 0.f;
  float kb = 0.f, sl = 0.f;
  const int64_t i0 = p.causal ? j - (p.Tk - p.Tq) : 0;  // first query row that sees key j
  for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
    for (int64_t i = i0 < 0 ? 0 : i0; i < p.Tq; ++i) {
      const T* q = p.q + off3(p.q_s, b, h, i);
      const T* dout = p.d_o + off3(p.do_s, b, h, i);
      float s = 0.f, dp = 0.f;
      for (int64_t d = threadIdx.x; d < p.D; d += blockDim.x) {
        s += to_f(q[d]) * to_f(k[d]);
        dp += to_f(dout[d]) * to_f(v[d]);
      }
      s = block_sum(s, scratch);
      dp = block_sum(dp, scratch);
      const int64_t row = (b * p.H + h) * p.Tq + i;
      const float pr = expf(p.scale * s + prior_of(p, b, hk, i, j) - p.lse[row]);
      const float ds = pr * (dp - p.delta[row]);
      for (int64_t d = threadIdx.x; d < p.D; d += blockDim.x) {
        acc_v[d] += pr * to_f(dout[d]);
        acc_k[d] += ds * to_f(q[d]);
      }
      kb += ds;
      sl += ds * static_cast<float>(j - (p.Tk - p.Tq + i));
    }
  }
  for (int64_t d = threadIdx.x; d < p.D; d += blockDim.x) {
    p.dk[off3(p.dk_s, b, hk, j) + d] = from_f<T>(p.scale * acc_k[d]);
    p.dv[off3(p.dv_s, b, hk, j) + d] = from_f<T>(acc_v[d]);
  }
  if (threadIdx.x == 0) {
    const int64_t key = (b * p.Hkv + hk) * p.Tk + j;
    if (p.d_key_bias) p.d_key_bias[key] = kb;
    if (p.slope_part) p.slope_part[key] = sl;
  }
}

// d_slope[hk] = Σ_{b, j} slope_part[b, hk, j], in order. One thread per kv head.
template <typename T>
__global__ void attention_slope_sum_kernel(AttentionArgs<T> p) {
  const int64_t hk = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (hk >= p.Hkv) return;
  float s = 0.f;
  for (int64_t b = 0; b < p.B; ++b)
    for (int64_t j = 0; j < p.Tk; ++j) s += p.slope_part[(b * p.Hkv + hk) * p.Tk + j];
  p.d_slope[hk] = s;
}

// Launches kernel(p) on grid × threads with `smem` bytes of dynamic shared memory, opting in to
// more than the 48 KiB a kernel may use by default first.
template <typename T>
cudaError_t launch_with_smem(void (*kernel)(AttentionArgs<T>), dim3 grid, unsigned threads, size_t smem,
                             cudaStream_t s, const AttentionArgs<T>& p) {
  if (smem > 48 * 1024) {
    const cudaError_t e =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    if (e != cudaSuccess) return e;
  }
  return simt::launch(kernel, grid, dim3(threads), smem, s, p);
}

template <typename T>
cudaError_t launch_attention_forward(const AttentionArgs<T>& p, cudaStream_t s) {
  if (p.B * p.H * p.Tq == 0) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>(p.Tq), static_cast<unsigned>(p.H), static_cast<unsigned>(p.B));
  return launch_with_smem(attention_forward_kernel<T>, grid, 128, static_cast<size_t>(p.Tk) * sizeof(float), s, p);
}

// Needs p.delta (B·H·Tq floats) and, when p.d_slope is set, p.slope_part (B·Hkv·Tk floats).
template <typename T>
cudaError_t launch_attention_backward(const AttentionArgs<T>& p, cudaStream_t s) {
  if (p.B * p.H * p.Tq == 0) return cudaSuccess;
  const dim3 gq(static_cast<unsigned>(p.Tq), static_cast<unsigned>(p.H), static_cast<unsigned>(p.B));
  cudaError_t e =
      launch_with_smem(attention_backward_query_kernel<T>, gq, 128, static_cast<size_t>(p.Tk) * sizeof(float), s, p);
  if (e != cudaSuccess) return e;
  const dim3 gk(static_cast<unsigned>(p.Tk), static_cast<unsigned>(p.Hkv), static_cast<unsigned>(p.B));
  e = launch_with_smem(attention_backward_key_kernel<T>, gk, 128, 2 * static_cast<size_t>(p.D) * sizeof(float), s, p);
  if (e != cudaSuccess || !p.d_slope) return e;
  return simt::launch(attention_slope_sum_kernel<T>, dim3(grid_for(p.Hkv, 32, 1 << 30)), dim3(32), 0, s, p);
}

}  // namespace goat::kernels
