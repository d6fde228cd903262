// CUDA backend entry for the attention diagnostics (kernels/attention_diagnostics.cuh): runs the
// diagnostics pass after either forward into a device scratch and copies each requested
// (B, H, Tq) array down to the caller's host memory (ops/attention.h: diagnostics arrays are host
// memory on every device; one synchronous copy per array, only on diagnostics steps).
#include "attention_diagnostics.cuh"
#include "backend/cuda/attention_args.h"
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_runtime_util.h"

namespace goat::cuda {

void attention_diagnostics(const AttentionDesc& a, const AttentionDiagHost& out, DType dt) {
  const size_t rows = static_cast<size_t>(a.B * a.H * a.Tq);
  float* host[5] = {out.entropy, out.sink_mass, out.p_max, out.kl, out.omega};
  float* dev[5] = {};
  for (int s = 0; s < 5; ++s)
    if (host[s] && rows > 0) dev[s] = static_cast<float*>(alloc(rows * sizeof(float)));
  const size_t n_lanes = a.lanes ? static_cast<size_t>(a.Tk * 2 * a.lane_R) : 0;
  float* k_lanes = n_lanes ? static_cast<float*>(alloc(n_lanes * sizeof(float))) : nullptr;
  const kernels::AttentionDiagOut o{dev[0], dev[1], dev[2], dev[3], dev[4], out.content_dim > 0 ? out.content_dim : a.D,
                                    k_lanes};
  dispatch_dtype(dt, [&]<typename T>() {
    check(kernels::launch_attention_diagnostics(to_args<T>(a), o, stream()), "attention", "diagnostics kernels");
  });
  free(k_lanes);
  for (int s = 0; s < 5; ++s) {
    if (!dev[s]) continue;
    copy_to_host(host[s], dev[s], rows * sizeof(float));
    free(dev[s]);
  }
}

}  // namespace goat::cuda
