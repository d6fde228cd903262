// CUDA backend entry points for the embedding and the fused softmax cross-entropy
// (kernels/embedding.cuh, kernels/cross_entropy.cuh). The mean loss is summed on the host in
// fp64 from the (n) per-row losses, as the CPU op does.
#include <vector>

#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_runtime_util.h"
#include "cross_entropy.cuh"
#include "embedding.cuh"

namespace goat::cuda {

void embedding_forward(void* out, const int32_t* tokens, const void* wte, const void* wpe, int64_t b, int64_t t,
                       int64_t c, int64_t v, int64_t pos_offset, DType dt) {
  dispatch_dtype(dt, [&]<typename T>() {
    const kernels::EmbeddingForwardArgs<T> p{static_cast<T*>(out), tokens, static_cast<const T*>(wte),
                                             static_cast<const T*>(wpe), b, t, c, v, pos_offset};
    check(kernels::launch_embedding_forward(p, stream()), "embedding", "forward kernel (token ids in range?)");
  });
}

void embedding_backward(float* d_wte, float* d_wpe, const void* d_out, const int32_t* tokens, int64_t b, int64_t t,
                        int64_t c, int64_t v, int64_t pos_offset, DType dt) {
  dispatch_dtype(dt, [&]<typename T>() {
    const kernels::EmbeddingBackwardArgs<T> p{d_wte, d_wpe, static_cast<const T*>(d_out), tokens, b, t, c, v,
                                              pos_offset};
    check(kernels::launch_embedding_backward(p, stream()), "embedding", "backward kernels (token ids in range?)");
  });
}

int64_t count_targets(const int32_t* targets, int64_t n, int32_t ignore_index) {
  std::vector<int32_t> h(static_cast<size_t>(n));
  copy_to_host(h.data(), targets, static_cast<size_t>(n) * sizeof(int32_t));
  int64_t k = 0;
  for (int32_t x : h) k += x != ignore_index;
  return k;
}

double cross_entropy(float* losses, void* d_logits, const void* logits, const int32_t* targets, int64_t n, int64_t v,
                     float scale, int32_t ignore_index, DType dt) {
  dispatch_dtype(dt, [&]<typename T>() {
    const kernels::CrossEntropyArgs<T> p{losses, static_cast<T*>(d_logits), static_cast<const T*>(logits), targets, n,
                                         v,      scale,                      ignore_index};
    check(kernels::launch_cross_entropy(p, stream()), "cross_entropy", "kernel (targets in range?)");
  });
  if (!losses || n == 0) return 0.0;
  std::vector<float> h(static_cast<size_t>(n));
  copy_to_host(h.data(), losses, h.size() * sizeof(float));
  const int64_t kept = count_targets(targets, n, ignore_index);
  double s = 0.0;
  for (float x : h) s += x;
  return kept ? s / static_cast<double>(kept) : 0.0;
}

}  // namespace goat::cuda
