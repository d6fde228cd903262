// LayerNorm kernels over the last dim of an (n, c) row-major block, T = float or __nv_bfloat16
// storage with fp32 statistics and math. Forward: one block per row, two-pass variance (as the CPU
// op), optional fused residual (residual = a + b stored as T, then normalised from the stored
// value so backward sees the same x). Backward: one block per row for d_in (accumulated, the
// residual stream), then a column kernel for d_w/d_b (fp32, accumulated; each column summed over
// rows in order by one thread: deterministic, no atomics).
#pragma once

#include "cuda_common.cuh"

namespace goat::kernels {

template <typename T>
struct LayerNormForwardArgs {
  T* out;           // (n, c)
  float* mean;      // (n)
  float* rstd;      // (n)
  const T* in;      // (n, c); ignored when a/b are set
  const T* weight;  // (c)
  const T* bias;    // (c)
  T* residual;      // (n, c) or nullptr: if set, residual = a + b and it is normalised
  const T* a;       // (n, c)
  const T* b;       // (n, c)
  int64_t n, c;
  float eps;
};

template <typename T>
struct LayerNormBackwardArgs {
  T* d_in;          // (n, c) +=
  float* d_weight;  // (c) += or nullptr
  float* d_bias;    // (c) += or nullptr
  const T* d_out;   // (n, c)
  const T* in;      // (n, c)
  const T* weight;  // (c)
  const float* mean;
  const float* rstd;
  int64_t n, c;
};

template <typename T>
__global__ void layernorm_forward_kernel(LayerNormForwardArgs<T> p) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  const int64_t off = row * p.c;
  const T* x = p.in + off;
  if (p.residual) {
    for (int64_t j = threadIdx.x; j < p.c; j += blockDim.x)
      p.residual[off + j] = from_f<T>(to_f(p.a[off + j]) + to_f(p.b[off + j]));
    x = p.residual + off;  // each thread re-reads only the elements it wrote
  }
  float s = 0.f;
  for (int64_t j = threadIdx.x; j < p.c; j += blockDim.x) s += to_f(x[j]);
  const float mu = block_sum(s, scratch) / static_cast<float>(p.c);
  float q = 0.f;
  for (int64_t j = threadIdx.x; j < p.c; j += blockDim.x) {
    const float d = to_f(x[j]) - mu;
    q += d * d;
  }
  const float var = block_sum(q, scratch) / static_cast<float>(p.c);
  const float r = 1.f / sqrtf(var + p.eps);
  for (int64_t j = threadIdx.x; j < p.c; j += blockDim.x)
    p.out[off + j] = from_f<T>((to_f(x[j]) - mu) * r * to_f(p.weight[j]) + to_f(p.bias[j]));
  if (threadIdx.x == 0) {
    p.mean[row] = mu;
    p.rstd[row] = r;
  }
}

// d_in += rstd·(w·dy − mean_j(w·dy) − x̂·mean_j(w·dy·x̂)), x̂ = (x − μ)·rstd.
template <typename T>
__global__ void layernorm_backward_input_kernel(LayerNormBackwardArgs<T> p) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  const int64_t off = row * p.c;
  const float mu = p.mean[row], r = p.rstd[row];
  float s1 = 0.f, s2 = 0.f;
  for (int64_t j = threadIdx.x; j < p.c; j += blockDim.x) {
    const float g = to_f(p.d_out[off + j]) * to_f(p.weight[j]);
    s1 += g;
    s2 += g * (to_f(p.in[off + j]) - mu) * r;
  }
  const float m1 = block_sum(s1, scratch) / static_cast<float>(p.c);
  const float m2 = block_sum(s2, scratch) / static_cast<float>(p.c);
  for (int64_t j = threadIdx.x; j < p.c; j += blockDim.x) {
    const float g = to_f(p.d_out[off + j]) * to_f(p.weight[j]);
    const float xh = (to_f(p.in[off + j]) - mu) * r;
    p.d_in[off + j] = from_f<T>(to_f(p.d_in[off + j]) + r * (g - m1 - xh * m2));
  }
}

template <typename T>
__global__ void layernorm_backward_params_kernel(LayerNormBackwardArgs<T> p) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= p.c) return;
  float dw = 0.f, db = 0.f;
  for (int64_t i = 0; i < p.n; ++i) {
    const float dy = to_f(p.d_out[i * p.c + j]);
    dw += dy * (to_f(p.in[i * p.c + j]) - p.mean[i]) * p.rstd[i];
    db += dy;
  }
  if (p.d_weight) p.d_weight[j] += dw;
  if (p.d_bias) p.d_bias[j] += db;
}

template <typename T>
cudaError_t launch_layernorm_forward(const LayerNormForwardArgs<T>& p, cudaStream_t s) {
  if (p.n == 0) return cudaSuccess;
  return simt::launch(layernorm_forward_kernel<T>, dim3(static_cast<unsigned>(p.n)), dim3(256), 0, s, p);
}

template <typename T>
cudaError_t launch_layernorm_backward(const LayerNormBackwardArgs<T>& p, cudaStream_t s) {
  if (p.n == 0) return cudaSuccess;
  cudaError_t e = simt::launch(layernorm_backward_input_kernel<T>, dim3(static_cast<unsigned>(p.n)), dim3(256), 0, s, p);
  if (e != cudaSuccess || (!p.d_weight && !p.d_bias)) return e;
  return simt::launch(layernorm_backward_params_kernel<T>, dim3(grid_for(p.c, 128, 1 << 30)), dim3(128), 0, s, p);
}

}  // namespace goat::kernels
