// Fused softmax cross-entropy over the vocabulary: one block per row walks the row's V logits in
// chunks of blockDim (max, then Σ exp(x − max) in fp32, lse = max + log Σ), writes the row loss
// (fp32) and, when d_logits is set, d = scale·(softmax − onehot) in one more pass (d_logits may
// alias logits: the target logit is read before any write). A target outside [0, V) that is not
// ignore_index traps (a launch failure the backend reports with the op's name).
#pragma once

#include "cuda_common.cuh"

namespace goat::kernels {

template <typename T>
struct CrossEntropyArgs {
  float* losses;          // (n) or nullptr
  T* d_logits;            // (n, v) or nullptr; may alias logits
  const T* logits;        // (n, v)
  const int32_t* targets; // (n)
  int64_t n, v;
  float scale;            // d_logits = scale·(softmax − onehot)
  int32_t ignore_index;
};

template <typename T>
__global__ void cross_entropy_kernel(CrossEntropyArgs<T> p) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  const T* x = p.logits + row * p.v;
  const int32_t tgt = p.targets[row];
  const bool ignored = tgt == p.ignore_index;
  if (!ignored && (tgt < 0 || tgt >= p.v)) __trap();
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < p.v; j += blockDim.x) m = fmaxf(m, to_f(x[j]));
  m = block_max(m, scratch);
  float s = 0.f;
  for (int64_t j = threadIdx.x; j < p.v; j += blockDim.x) s += expf(to_f(x[j]) - m);
  const float x_t = ignored ? 0.f : to_f(x[tgt]);  // read by every thread before the barrier below
  const float lse = m + logf(block_sum(s, scratch));
  if (threadIdx.x == 0 && p.losses) p.losses[row] = ignored ? 0.f : lse - x_t;
  if (!p.d_logits) return;
  T* d = p.d_logits + row * p.v;
  for (int64_t j = threadIdx.x; j < p.v; j += blockDim.x) {
    const float g = ignored ? 0.f : p.scale * (expf(to_f(x[j]) - lse) - (j == tgt ? 1.f : 0.f));
    d[j] = from_f<T>(g);
  }
}

template <typename T>
cudaError_t launch_cross_entropy(const CrossEntropyArgs<T>& p, cudaStream_t s) {
  if (p.n == 0) return cudaSuccess;
  return simt::launch(cross_entropy_kernel<T>, dim3(static_cast<unsigned>(p.n)), dim3(256), 0, s, p);
}

}  // namespace goat::kernels
