// CUDA backend entry points for attention (kernels/attention.cuh): copies the descriptor into
// the kernel's parameter struct and provides the backward pass's scratch (D_i per query row and
// the per-key d_slope partials) from the caching allocator.
#include <cstring>

#include "attention.cuh"
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_runtime_util.h"

namespace goat::cuda {

namespace {

template <typename T>
kernels::AttentionArgs<T> to_args(const AttentionDesc& a) {
  kernels::AttentionArgs<T> p{};
  p.q = static_cast<const T*>(a.q), p.k = static_cast<const T*>(a.k), p.v = static_cast<const T*>(a.v);
  p.o = static_cast<T*>(a.o), p.lse = a.lse, p.slope = a.slope, p.key_bias = a.key_bias;
  std::memcpy(p.q_s, a.q_s, sizeof p.q_s), std::memcpy(p.k_s, a.k_s, sizeof p.k_s);
  std::memcpy(p.v_s, a.v_s, sizeof p.v_s), std::memcpy(p.o_s, a.o_s, sizeof p.o_s);
  p.B = a.B, p.H = a.H, p.Hkv = a.Hkv, p.Tq = a.Tq, p.Tk = a.Tk, p.D = a.D, p.scale = a.scale, p.causal = a.causal;
  p.d_o = static_cast<const T*>(a.d_o);
  p.dq = static_cast<T*>(a.dq), p.dk = static_cast<T*>(a.dk), p.dv = static_cast<T*>(a.dv);
  std::memcpy(p.do_s, a.do_s, sizeof p.do_s), std::memcpy(p.dq_s, a.dq_s, sizeof p.dq_s);
  std::memcpy(p.dk_s, a.dk_s, sizeof p.dk_s), std::memcpy(p.dv_s, a.dv_s, sizeof p.dv_s);
  p.d_key_bias = a.d_key_bias, p.d_slope = a.d_slope;
  return p;
}

}  // namespace

void attention_forward(const AttentionDesc& a, DType dt) {
  dispatch_dtype(dt, [&]<typename T>() {
    check(kernels::launch_attention_forward(to_args<T>(a), stream()), "attention", "forward kernel");
  });
}

void attention_backward(const AttentionDesc& a, DType dt) {
  float* delta = static_cast<float*>(alloc(static_cast<size_t>(a.B * a.H * a.Tq) * sizeof(float)));
  float* part = a.d_slope ? static_cast<float*>(alloc(static_cast<size_t>(a.B * a.Hkv * a.Tk) * sizeof(float))) : nullptr;
  dispatch_dtype(dt, [&]<typename T>() {
    kernels::AttentionArgs<T> p = to_args<T>(a);
    p.delta = delta, p.slope_part = part;
    check(kernels::launch_attention_backward(p, stream()), "attention", "backward kernels");
  });
  free(part);
  free(delta);
}

}  // namespace goat::cuda
