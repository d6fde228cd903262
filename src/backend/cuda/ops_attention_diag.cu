// CUDA backend entry for the attention diagnostics (kernels/attention_diagnostics.cuh): runs the
// diagnostics pass after either forward into a device scratch and copies each requested
// (B, H, Tq) array down to the caller's host memory (ops/attention.h: diagnostics arrays are host
// memory on every device; one synchronous copy per array, only on diagnostics steps).
#include <cstring>

#include "attention_diagnostics.cuh"
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_runtime_util.h"

namespace goat::cuda {

void attention_diagnostics(const AttentionDesc& a, const AttentionDiagHost& out, DType dt) {
  const size_t rows = static_cast<size_t>(a.B * a.H * a.Tq);
  float* host[5] = {out.entropy, out.sink_mass, out.p_max, out.kl, out.omega};
  float* dev[5] = {};
  for (int s = 0; s < 5; ++s)
    if (host[s] && rows > 0) dev[s] = static_cast<float*>(alloc(rows * sizeof(float)));
  const kernels::AttentionDiagOut o{dev[0], dev[1], dev[2], dev[3], dev[4], out.content_dim > 0 ? out.content_dim : a.D};
  dispatch_dtype(dt, [&]<typename T>() {
    kernels::AttentionArgs<T> p{};
    p.q = static_cast<const T*>(a.q), p.k = static_cast<const T*>(a.k), p.lse = a.lse;
    p.slope = a.slope, p.key_bias = a.key_bias;
    std::memcpy(p.q_s, a.q_s, sizeof p.q_s), std::memcpy(p.k_s, a.k_s, sizeof p.k_s);
    p.B = a.B, p.H = a.H, p.Hkv = a.Hkv, p.Tq = a.Tq, p.Tk = a.Tk, p.D = a.D, p.scale = a.scale, p.causal = a.causal;
    check(kernels::launch_attention_diagnostics(p, o, stream()), "attention", "diagnostics kernel");
  });
  for (int s = 0; s < 5; ++s) {
    if (!dev[s]) continue;
    copy_to_host(host[s], dev[s], rows * sizeof(float));
    free(dev[s]);
  }
}

}  // namespace goat::cuda
