// Elementwise kernels: GELU-tanh forward/backward and add, over contiguous spans of T (float or
// __nv_bfloat16), fp32 math (formulas in kernel_math.h, shared with no other copy). Grid-stride
// loops; in-place use (out == in, d_in == d_out, out == a) is allowed: each element is read then
// written by one thread.
#pragma once

#include "cuda_common.cuh"

namespace goat::kernels {

template <typename T>
struct UnaryArgs {
  T* out;       // (n)
  const T* in;  // (n)
  int64_t n;
};

template <typename T>
struct GeluBackwardArgs {
  T* d_in;         // (n) overwritten
  const T* d_out;  // (n)
  const T* in;     // (n)
  int64_t n;
};

template <typename T>
struct AddArgs {
  T* out;  // (n)
  const T* a;
  const T* b;
  int64_t n;
};

template <typename T>
__global__ void gelu_forward_kernel(UnaryArgs<T> p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.n; i += stride)
    p.out[i] = from_f<T>(kmath::gelu(to_f(p.in[i])));
}

template <typename T>
__global__ void gelu_backward_kernel(GeluBackwardArgs<T> p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.n; i += stride)
    p.d_in[i] = from_f<T>(to_f(p.d_out[i]) * kmath::gelu_grad(to_f(p.in[i])));
}

template <typename T>
__global__ void add_kernel(AddArgs<T> p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.n; i += stride)
    p.out[i] = from_f<T>(to_f(p.a[i]) + to_f(p.b[i]));
}

template <typename T>
cudaError_t launch_gelu_forward(const UnaryArgs<T>& p, cudaStream_t s) {
  return simt::launch(gelu_forward_kernel<T>, dim3(grid_for(p.n, 256)), dim3(256), 0, s, p);
}
template <typename T>
cudaError_t launch_gelu_backward(const GeluBackwardArgs<T>& p, cudaStream_t s) {
  return simt::launch(gelu_backward_kernel<T>, dim3(grid_for(p.n, 256)), dim3(256), 0, s, p);
}
template <typename T>
cudaError_t launch_add(const AddArgs<T>& p, cudaStream_t s) {
  return simt::launch(add_kernel<T>, dim3(grid_for(p.n, 256)), dim3(256), 0, s, p);
}

}  // namespace goat::kernels
