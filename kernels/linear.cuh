// The linear layer's bias kernels (the matmuls are cuBLASLt / the emulated CPU sgemm, see
// src/backend/cuda/gemm.cu): bias add over (rows, cols) with a row stride, and the bias gradient
// as column sums (one thread per column, rows in order: deterministic, fp32 accumulate).
#pragma once

#include "cuda_common.cuh"

namespace goat::kernels {

template <typename T>
struct BiasArgs {
  T* out;            // (rows, cols) with row stride ld: out += bias (bias add)
  const T* bias;     // (cols)
  float* d_bias;     // (cols) += Σ_rows d_out (bias gradient)
  const T* d_out;    // (rows, cols) with row stride ld
  int64_t rows, cols, ld;
};

template <typename T>
__global__ void bias_add_kernel(BiasArgs<T> a) {
  const int64_t total = a.rows * a.cols, stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t r = i / a.cols, j = i % a.cols;
    T& o = a.out[r * a.ld + j];
    o = from_f<T>(to_f(o) + to_f(a.bias[j]));
  }
}

template <typename T>
__global__ void bias_grad_kernel(BiasArgs<T> a) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= a.cols) return;
  float s = 0.f;
  for (int64_t r = 0; r < a.rows; ++r) s += to_f(a.d_out[r * a.ld + j]);
  a.d_bias[j] += s;
}

template <typename T>
cudaError_t launch_bias_add(const BiasArgs<T>& a, cudaStream_t s) {
  if (a.rows * a.cols == 0) return cudaSuccess;
  return simt::launch(bias_add_kernel<T>, dim3(grid_for(a.rows * a.cols, 256)), dim3(256), 0, s, a);
}

template <typename T>
cudaError_t launch_bias_grad(const BiasArgs<T>& a, cudaStream_t s) {
  if (a.cols == 0) return cudaSuccess;
  return simt::launch(bias_grad_kernel<T>, dim3(grid_for(a.cols, 128, 1 << 30)), dim3(128), 0, s, a);
}

}  // namespace goat::kernels
