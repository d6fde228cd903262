// Position-scheme kernels, in place on strided (b, h, t, d) head rows of T (float or
// __nv_bfloat16) inside the fused qkv buffer; fp32 math with the formulas of kernel_math.h (the
// CPU backend, backend/cpu/position.cpp, calls the same ones):
//   rope_kernel            one thread per (row, pair): the pair rotated by ±θ(pos0 + t)
//   goat_q_kernel          one thread per (q row, dim): content ×= qscale, prior lanes from a, b
//   goat_k_kernel          one thread per (k row, lane dim): cos/sin lanes, the rest 0
//   goat_ab_grad_kernel    one thread per (kv head, frequency): ∂L/∂a, ∂L/∂b summed over
//                          (b, h) in order in fp64 per (b, h), added as fp32 (the CPU's order)
//   goat_rows_grad_kernel  one thread per (row, dim ≥ c0): dq content ×= qscale, lanes zeroed
// Templates: include from one .cu file only (ops_position.cu).
#pragma once

#include "cuda_common.cuh"

namespace goat::kernels {

template <typename T>
struct HeadRowsArg {
  T* x;
  int64_t b, h, t, d;
  int64_t sb, sh, st;  // element strides of b, h, t
};

template <typename T>
__device__ __forceinline__ T* head_row(const HeadRowsArg<T>& x, int64_t row) {  // row = (b·h + h)·t + t
  const int64_t t = row % x.t, bh = row / x.t;
  return x.x + (bh / x.h) * x.sb + (bh % x.h) * x.sh + t * x.st;
}

template <typename T>
struct RopeArgs {
  HeadRowsArg<T> x;
  const float* cos;  // (n_pos, d/2)
  const float* sin;
  int64_t pos0;
  float sign;
  bool interleaved;
};

template <typename T>
__global__ void rope_kernel(RopeArgs<T> p) {
  const int64_t half = p.x.d / 2, n = p.x.b * p.x.h * p.x.t * half;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t row = e / half, i = e % half, t = row % p.x.t;
    T* x = head_row(p.x, row);
    const int64_t i1 = p.interleaved ? 2 * i : i, i2 = p.interleaved ? 2 * i + 1 : i + half;
    float x1 = to_f(x[i1]), x2 = to_f(x[i2]);
    const int64_t k = (p.pos0 + t) * half + i;
    kmath::rope_rotate_pair(x1, x2, p.cos[k], p.sign * p.sin[k]);
    x[i1] = from_f<T>(x1);
    x[i2] = from_f<T>(x2);
  }
}

template <typename T>
struct GoatLanesArgs {
  HeadRowsArg<T> q, k;  // forward: q, k; backward: dq, dk
  const float *a, *b;   // (Hkv, r)
  float *da, *db;       // (Hkv, r) +=
  const float *cq, *sq, *ck, *sk;  // (Tq, r), (Tk, r)
  int64_t r, dc;
  float qscale;
};

template <typename T>
__global__ void goat_q_kernel(GoatLanesArgs<T> p) {
  const int64_t D = p.q.d, n = p.q.b * p.q.h * p.q.t * D, G = p.q.h / p.k.h;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t row = e / D, c = e % D, i = row % p.q.t, hk = row / p.q.t % p.q.h / G;
    T* x = head_row(p.q, row);
    if (c < p.dc) {
      x[c] = from_f<T>(to_f(x[c]) * p.qscale);
    } else if (c < p.dc + 2 * p.r) {
      const int64_t j = (c - p.dc) % p.r;
      float lc, ls;
      kmath::goat_q_lanes(p.a[hk * p.r + j], p.b[hk * p.r + j], p.cq[i * p.r + j], p.sq[i * p.r + j], lc, ls);
      x[c] = from_f<T>(c < p.dc + p.r ? lc : ls);
    } else {
      x[c] = from_f<T>(0.f);
    }
  }
}

template <typename T>
__global__ void goat_k_kernel(GoatLanesArgs<T> p) {
  const int64_t lanes = p.k.d - p.dc, n = p.k.b * p.k.h * p.k.t * lanes;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t row = e / lanes, l = e % lanes, t = row % p.k.t;
    T* x = head_row(p.k, row);
    const float v = l < p.r ? p.ck[t * p.r + l] : l < 2 * p.r ? p.sk[t * p.r + l - p.r] : 0.f;
    x[p.dc + l] = from_f<T>(v);
  }
}

template <typename T>
__global__ void goat_ab_grad_kernel(GoatLanesArgs<T> p) {
  const int64_t Hkv = p.k.h, G = p.q.h / Hkv;
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= Hkv * p.r) return;
  const int64_t hk = e / p.r, j = e % p.r;
  for (int64_t bh = 0; bh < p.q.b * p.q.h; ++bh) {
    if (bh % p.q.h / G != hk) continue;
    double da = 0.0, db = 0.0;
    for (int64_t i = 0; i < p.q.t; ++i) {
      const T* x = head_row(p.q, bh * p.q.t + i);
      kmath::goat_lane_grads(to_f(x[p.dc + j]), to_f(x[p.dc + p.r + j]), p.cq[i * p.r + j], p.sq[i * p.r + j], da,
                             db);
    }
    p.da[e] += static_cast<float>(da);
    p.db[e] += static_cast<float>(db);
  }
}

template <typename T>
struct GoatRowsGradArgs {
  HeadRowsArg<T> x;
  int64_t c0, dc;  // dims [c0, d) touched: content (< dc) ×= scale, lanes (≥ dc) zeroed
  float scale;
};

template <typename T>
__global__ void goat_rows_grad_kernel(GoatRowsGradArgs<T> p) {
  const int64_t w = p.x.d - p.c0, n = p.x.b * p.x.h * p.x.t * w;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t c = p.c0 + e % w;
    T* x = head_row(p.x, e / w);
    x[c] = from_f<T>(c < p.dc ? to_f(x[c]) * p.scale : 0.f);
  }
}

template <typename T>
cudaError_t launch_rope(const RopeArgs<T>& p, cudaStream_t s) {
  const int64_t n = p.x.b * p.x.h * p.x.t * (p.x.d / 2);
  if (n == 0) return cudaSuccess;
  return simt::launch(rope_kernel<T>, dim3(grid_for(n, 256)), dim3(256), 0, s, p);
}

template <typename T>
cudaError_t launch_goat_lanes_forward(const GoatLanesArgs<T>& p, cudaStream_t s) {
  const int64_t nq = p.q.b * p.q.h * p.q.t * p.q.d, nk = p.k.b * p.k.h * p.k.t * (p.k.d - p.dc);
  if (nq > 0) {
    const cudaError_t e = simt::launch(goat_q_kernel<T>, dim3(grid_for(nq, 256)), dim3(256), 0, s, p);
    if (e != cudaSuccess) return e;
  }
  if (nk == 0) return cudaSuccess;
  return simt::launch(goat_k_kernel<T>, dim3(grid_for(nk, 256)), dim3(256), 0, s, p);
}

// ∂a, ∂b from dq's lanes first, then dq and dk rewritten.
template <typename T>
cudaError_t launch_goat_lanes_backward(const GoatLanesArgs<T>& p, cudaStream_t s) {
  const int64_t nab = p.k.h * p.r;
  if (nab > 0) {
    const cudaError_t e = simt::launch(goat_ab_grad_kernel<T>, dim3(grid_for(nab, 64)), dim3(64), 0, s, p);
    if (e != cudaSuccess) return e;
  }
  const GoatRowsGradArgs<T> dq{p.q, 0, p.dc, p.qscale}, dk{p.k, p.dc, p.dc, 1.f};
  for (const GoatRowsGradArgs<T>& g : {dq, dk}) {
    const int64_t n = g.x.b * g.x.h * g.x.t * (g.x.d - g.c0);
    if (n == 0) continue;
    const cudaError_t e = simt::launch(goat_rows_grad_kernel<T>, dim3(grid_for(n, 256)), dim3(256), 0, s, g);
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

}  // namespace goat::kernels
