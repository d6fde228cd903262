// Internal to the CUDA backend (.cu files only): the attention descriptor (cuda_ops.h) copied into
// the kernels' parameter struct (kernels/attention.cuh), one copy for the forward, backward and
// diagnostics entries, so each kernel sees the same q/k/v, prior and in-kernel lane fields.
#pragma once

#include <cstring>

#include "attention.cuh"
#include "backend/cuda/cuda_ops.h"

namespace goat::cuda {

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
  p.lanes = a.lanes, p.lane_a = a.lane_a, p.lane_b = a.lane_b, p.lane_R = a.lane_R, p.lane_dc = a.lane_dc;
  p.q_pos0 = a.q_pos0, p.k_pos0 = a.k_pos0, p.d_lane_a = a.d_lane_a, p.d_lane_b = a.d_lane_b;
  return p;
}

}  // namespace goat::cuda
