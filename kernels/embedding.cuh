// Token + position embedding. Forward: one thread per output element. Backward: d_wte (fp32,
// accumulated) by one thread per column walking all rows in order (deterministic scatter without
// atomics), d_wpe by one thread per (t, column) summing over the batch. Ids outside [0, V) trap.
#pragma once

#include "cuda_common.cuh"

namespace goat::kernels {

template <typename T>
struct EmbeddingForwardArgs {
  T* out;                 // (b, t, c)
  const int32_t* tokens;  // (b, t)
  const T* wte;           // (v, c)
  const T* wpe;           // (tmax, c) or nullptr
  int64_t b, t, c, v, pos_offset;
};

template <typename T>
struct EmbeddingBackwardArgs {
  float* d_wte;           // (v, c) += or nullptr
  float* d_wpe;           // (tmax, c) += or nullptr
  const T* d_out;         // (b, t, c)
  const int32_t* tokens;  // (b, t)
  int64_t b, t, c, v, pos_offset;
};

template <typename T>
__global__ void embedding_forward_kernel(EmbeddingForwardArgs<T> p) {
  const int64_t total = p.b * p.t * p.c, stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t row = i / p.c, j = i % p.c;
    const int32_t id = p.tokens[row];
    if (id < 0 || id >= p.v) __trap();
    float e = to_f(p.wte[id * p.c + j]);
    if (p.wpe) e += to_f(p.wpe[(p.pos_offset + row % p.t) * p.c + j]);
    p.out[i] = from_f<T>(e);
  }
}

template <typename T>
__global__ void embedding_backward_wte_kernel(EmbeddingBackwardArgs<T> p) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= p.c) return;
  for (int64_t row = 0; row < p.b * p.t; ++row) {
    const int32_t id = p.tokens[row];
    if (id < 0 || id >= p.v) __trap();
    p.d_wte[id * p.c + j] += to_f(p.d_out[row * p.c + j]);
  }
}

template <typename T>
__global__ void embedding_backward_wpe_kernel(EmbeddingBackwardArgs<T> p) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= p.t * p.c) return;
  float s = 0.f;
  for (int64_t bb = 0; bb < p.b; ++bb) s += to_f(p.d_out[bb * p.t * p.c + i]);
  p.d_wpe[p.pos_offset * p.c + i] += s;
}

template <typename T>
cudaError_t launch_embedding_forward(const EmbeddingForwardArgs<T>& p, cudaStream_t s) {
  const int64_t total = p.b * p.t * p.c;
  if (total == 0) return cudaSuccess;
  return simt::launch(embedding_forward_kernel<T>, dim3(grid_for(total, 256)), dim3(256), 0, s, p);
}

template <typename T>
cudaError_t launch_embedding_backward(const EmbeddingBackwardArgs<T>& p, cudaStream_t s) {
  if (p.b * p.t * p.c == 0) return cudaSuccess;
  cudaError_t e = cudaSuccess;
  if (p.d_wte)
    e = simt::launch(embedding_backward_wte_kernel<T>, dim3(grid_for(p.c, 128, 1 << 30)), dim3(128), 0, s, p);
  if (e == cudaSuccess && p.d_wpe)
    e = simt::launch(embedding_backward_wpe_kernel<T>, dim3(grid_for(p.t * p.c, 128, 1 << 30)), dim3(128), 0, s, p);
  return e;
}

}  // namespace goat::kernels
