// CUDA backend entries for GOAT's key-only prior (kernels/goat_prior.cuh): the descriptor of
// cuda_ops.h copied into the kernels' parameter struct, launches checked with the op's name.
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_runtime_util.h"
#include "goat_prior.cuh"

namespace goat::cuda {

namespace {

kernels::GoatPriorArgs to_args(const GoatPriorDesc& d) {
  kernels::GoatPriorArgs p{};
  p.feat = d.feat, p.w1 = d.w1, p.b1 = d.b1, p.w2 = d.w2, p.b2 = d.b2;
  p.gain = d.gain, p.bump = d.bump, p.rho = d.rho;
  p.h1 = d.h1, p.mlp_out = d.mlp_out, p.key_bias = d.key_bias, p.slope = d.slope;
  p.batch = d.batch, p.hkv = d.hkv, p.tk = d.tk, p.nx = d.nx, p.pos0 = d.pos0;
  p.d_key_bias = d.d_key_bias, p.d_slope = d.d_slope, p.g_out = d.g_out;
  p.g_w1 = d.g_w1, p.g_b1 = d.g_b1, p.g_w2 = d.g_w2, p.g_b2 = d.g_b2;
  p.g_gain = d.g_gain, p.g_bump = d.g_bump, p.g_rho = d.g_rho;
  return p;
}

}  // namespace

void goat_prior_forward(const GoatPriorDesc& d) {
  check(kernels::launch_goat_prior_forward(to_args(d), stream()), "goat prior", "forward kernel");
}

void goat_prior_backward(const GoatPriorDesc& d) {
  kernels::GoatPriorArgs p = to_args(d);
  p.key_bias = nullptr, p.slope = nullptr;  // the recompute only refreshes h1 and mlp_out
  check(kernels::launch_goat_prior_backward(p, stream()), "goat prior", "backward kernels");
}

}  // namespace goat::cuda
