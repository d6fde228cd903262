// Optimizer kernels: AdamW over flat fp32 arenas (master weights and moments, optional bf16
// working copy written in the same pass) and the sum of squares for global-norm clipping (fixed
// grid, per-block fp64 partials summed in order by the host: deterministic). Non-template
// kernels: include from one .cu file only (ops_optim.cu).
#pragma once

#include "cuda_common.cuh"

namespace goat::kernels {

struct AdamWArgs {
  float* p;              // (n) fp32 master weights
  const float* grad;     // (n)
  float* m;              // (n)
  float* v;              // (n)
  __nv_bfloat16* p_bf16; // (n) working copy, or nullptr
  int64_t n;
  float lr, beta1, beta2, eps, weight_decay, grad_scale, inv_c1, inv_c2;
};

__global__ void adamw_kernel(AdamWArgs a) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < a.n; i += stride) {
    float p = a.p[i], m = a.m[i], v = a.v[i];
    kmath::adamw_element(p, a.grad[i], m, v, a.lr, a.beta1, a.beta2, a.eps, a.weight_decay, a.grad_scale, a.inv_c1,
                         a.inv_c2);
    a.p[i] = p;
    a.m[i] = m;
    a.v[i] = v;
    if (a.p_bf16) a.p_bf16[i] = __float2bfloat16(p);
  }
}

constexpr int kSumSquaresBlocks = 128, kSumSquaresThreads = 256;

struct SumSquaresArgs {
  const float* x;    // (n)
  double* partials;  // (kSumSquaresBlocks)
  int64_t n;
};

__global__ void sum_squares_kernel(SumSquaresArgs a) {
  __shared__ double part[kSumSquaresThreads];
  double s = 0.0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < a.n; i += stride) {
    const double x = a.x[i];
    s += x * x;
  }
  part[threadIdx.x] = s;
  __syncthreads();
  for (int w = kSumSquaresThreads / 2; w > 0; w >>= 1) {
    if (static_cast<int>(threadIdx.x) < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) a.partials[blockIdx.x] = part[0];
}

inline cudaError_t launch_adamw(const AdamWArgs& a, cudaStream_t s) {
  if (a.n == 0) return cudaSuccess;
  return simt::launch(adamw_kernel, dim3(grid_for(a.n, 256)), dim3(256), 0, s, a);
}

inline cudaError_t launch_sum_squares(const SumSquaresArgs& a, cudaStream_t s) {
  return simt::launch(sum_squares_kernel, dim3(kSumSquaresBlocks), dim3(kSumSquaresThreads), 0, s, a);
}

}  // namespace goat::kernels
