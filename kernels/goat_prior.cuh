// GOAT's key-only prior on the device (goat.md §3, model/position_goat.h): the sink MLP over the
// key positions, u_h(j) = gain_h·MLP(x_j) + bump_h·[t_j = 0], replicated over the batch as the
// attention kernel's key_bias (B, Hkv, Tk), and the recency slope softplus(rho_h); and the
// backward for the prior's parameters. The layer's parameters and gradients are read and written
// in place in the device arenas: no host round trip per step. The features x(t_j) (Tk, 2M+2) are
// computed on the host in fp64 (cos/sin of t up to 16k need fp64 angles) and uploaded only when
// (Tk, first position) changes, i.e. once per run in training.
//
// Kernels (all fixed-order, no atomics: two runs give identical bits):
//   forward:   one thread per key j (grid-stride): the 4 hidden units and the output (fp32, as the
//              CPU), h1 and mlp_out kept for backward, u written for every (b, h); thread j < Hkv
//              also writes slope_j.
//   backward:  (1) one thread per key j: g_out_j = Σ_h gain_h·Σ_b d_key_bias[b, h, j] (fp64);
//              (2) one thread per parameter (gain_h, bump_h, rho_h, fc2.bias, fc2.weight_k,
//              fc1.bias_k, fc1.weight_km): its sum over j in order, in fp64, added (as fp32) to
//              the gradient — the CPU reference's order. Tk iterations per thread: ~50 threads
//              of a tiny kernel; Tk·(2M+2)·4 multiply-adds in all.
// Scalar formulas: kmath::goat_* (kernel_math.h), shared with the CPU code.
#pragma once

#include "cuda_common.cuh"

namespace goat::kernels {

struct GoatPriorArgs {
  const float* feat;  // (tk, nx) features of keys pos0 + j
  const float *w1, *b1, *w2, *b2;          // fc1 (4, nx), (4); fc2 (1, 4), (1)
  const float *gain, *bump, *rho;          // (hkv) each
  float* h1;                               // (tk, 4) pre-activations
  float* mlp_out;                          // (tk)
  float* key_bias;                         // (batch, hkv, tk) or nullptr (backward's recompute)
  float* slope;                            // (hkv) or nullptr (non-causal)
  int64_t batch, hkv, tk, nx, pos0;
  // backward
  const float* d_key_bias;                 // (batch, hkv, tk)
  const float* d_slope;                    // (hkv) or nullptr
  double* g_out;                           // (tk) scratch: ∂L/∂MLP(x_j)
  float *g_w1, *g_b1, *g_w2, *g_b2, *g_gain, *g_bump, *g_rho;  // += (fp32 gradient arena)
};

__global__ void goat_prior_forward_kernel(GoatPriorArgs p) {
  constexpr int kH = kmath::kGoatSinkHidden;
  const int64_t n = p.tk > p.hkv ? p.tk : p.hkv;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < n;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if (p.slope && j < p.hkv) p.slope[j] = static_cast<float>(kmath::goat_softplus(p.rho[j]));
    if (j >= p.tk) continue;
    const float* x = p.feat + j * p.nx;
    float out = p.b2[0];
    for (int k = 0; k < kH; ++k) {
      float h = p.b1[k];
      for (int64_t m = 0; m < p.nx; ++m) h += p.w1[k * p.nx + m] * x[m];
      p.h1[j * kH + k] = h;
      out += kmath::goat_sink_unit(p.w2[k], h);
    }
    p.mlp_out[j] = out;
    if (!p.key_bias) continue;
    for (int64_t h = 0; h < p.hkv; ++h) {
      const float u = p.gain[h] * out + (p.pos0 + j == 0 ? p.bump[h] : 0.f);
      for (int64_t b = 0; b < p.batch; ++b) p.key_bias[(b * p.hkv + h) * p.tk + j] = u;
    }
  }
}

// ∂L/∂u_h(j): the column sums of the kernel's d_key_bias over the batch, in batch order.
__device__ __forceinline__ double goat_du(const GoatPriorArgs& p, int64_t h, int64_t j) {
  double du = 0.0;
  for (int64_t b = 0; b < p.batch; ++b) du += p.d_key_bias[(b * p.hkv + h) * p.tk + j];
  return du;
}

__global__ void goat_prior_gout_kernel(GoatPriorArgs p) {
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < p.tk;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    double g = 0.0;
    for (int64_t h = 0; h < p.hkv; ++h) g += goat_du(p, h, j) * p.gain[h];
    p.g_out[j] = g;
  }
}

// Parameter slots: [0, hkv) gain, bump and rho of head h; then fc2.bias; fc2.weight_k, fc1.bias_k
// (k < 4); fc1.weight (4·nx).
__global__ void goat_prior_param_grad_kernel(GoatPriorArgs p) {
  constexpr int kH = kmath::kGoatSinkHidden;
  const int64_t slots = p.hkv + 1 + 2 * kH + kH * p.nx;
  for (int64_t s = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; s < slots;
       s += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if (s < p.hkv) {
      double d_gain = 0.0;
      for (int64_t j = 0; j < p.tk; ++j) {
        const double du = goat_du(p, s, j);
        d_gain += du * p.mlp_out[j];
        if (p.pos0 + j == 0) p.g_bump[s] += static_cast<float>(du);
      }
      p.g_gain[s] += static_cast<float>(d_gain);
      if (p.d_slope) p.g_rho[s] += static_cast<float>(kmath::goat_sigmoid(p.rho[s]) * p.d_slope[s]);
      continue;
    }
    const int64_t t = s - p.hkv;
    if (t == 0) {
      double d_b2 = 0.0;
      for (int64_t j = 0; j < p.tk; ++j) d_b2 += p.g_out[j];
      p.g_b2[0] += static_cast<float>(d_b2);
      continue;
    }
    // k: the hidden unit; m: the input (−1: fc2.weight_k, −2: fc1.bias_k).
    const int64_t u = t - 1;
    const int k = static_cast<int>(u < 2 * kH ? u % kH : (u - 2 * kH) / p.nx);
    const int64_t m = u < kH ? -1 : u < 2 * kH ? -2 : (u - 2 * kH) % p.nx;
    double acc = 0.0, d_w2 = 0.0;
    for (int64_t j = 0; j < p.tk; ++j) {
      const double dh = kmath::goat_sink_unit_grad(p.g_out[j], p.w2[k], p.h1[j * kH + k], d_w2);
      if (m == -2) acc += dh;
      if (m >= 0) acc += dh * p.feat[j * p.nx + m];
    }
    if (m == -1) p.g_w2[k] += static_cast<float>(d_w2);
    if (m == -2) p.g_b1[k] += static_cast<float>(acc);
    if (m >= 0) p.g_w1[k * p.nx + m] += static_cast<float>(acc);
  }
}

inline cudaError_t launch_goat_prior_forward(const GoatPriorArgs& p, cudaStream_t s) {
  const int64_t n = p.tk > p.hkv ? p.tk : p.hkv;
  if (n == 0) return cudaSuccess;
  return simt::launch(goat_prior_forward_kernel, dim3(grid_for(n, 128)), dim3(128), 0, s, p);
}

// Recomputes h1 and mlp_out (p.key_bias may be nullptr), then the two gradient kernels.
inline cudaError_t launch_goat_prior_backward(const GoatPriorArgs& p, cudaStream_t s) {
  if (p.tk == 0) return cudaSuccess;
  cudaError_t e = launch_goat_prior_forward(p, s);
  if (e != cudaSuccess) return e;
  e = simt::launch(goat_prior_gout_kernel, dim3(grid_for(p.tk, 128)), dim3(128), 0, s, p);
  if (e != cudaSuccess) return e;
  const int64_t slots = p.hkv + 1 + 2 * kmath::kGoatSinkHidden + kmath::kGoatSinkHidden * p.nx;
  return simt::launch(goat_prior_param_grad_kernel, dim3(grid_for(slots, 64)), dim3(64), 0, s, p);
}

}  // namespace goat::kernels
