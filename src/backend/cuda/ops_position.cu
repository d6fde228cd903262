// CUDA backend entry points for the position schemes (kernels/position.cuh): RoPE rotation and
// GOAT's prior lanes and their transposes, on the backend stream, every launch checked.
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_runtime_util.h"
#include "position.cuh"

namespace goat::cuda {

namespace {
template <typename T>
kernels::HeadRowsArg<T> rows(const HeadRows& x) {
  return {static_cast<T*>(x.x), x.b, x.h, x.t, x.d, x.s[0], x.s[1], x.s[2]};
}

template <typename T>
kernels::GoatLanesArgs<T> goat_args(const GoatLanesDesc& d) {
  return {rows<T>(d.q), rows<T>(d.k), d.a, d.b, d.da, d.db, d.cq, d.sq, d.ck, d.sk, d.r, d.dc, d.qscale};
}
}  // namespace

void rope_rotate(const HeadRows& x, const float* cos, const float* sin, int64_t pos0, float sign, bool interleaved,
                 DType dt) {
  dispatch_dtype(dt, [&]<typename T>() {
    const kernels::RopeArgs<T> p{rows<T>(x), cos, sin, pos0, sign, interleaved};
    check(kernels::launch_rope(p, stream()), "rope", "kernel");
  });
}

void goat_lanes_forward(const GoatLanesDesc& d, DType dt) {
  dispatch_dtype(dt, [&]<typename T>() {
    check(kernels::launch_goat_lanes_forward(goat_args<T>(d), stream()), "goat_lanes", "forward kernels");
  });
}

void goat_lanes_backward(const GoatLanesDesc& d, DType dt) {
  dispatch_dtype(dt, [&]<typename T>() {
    check(kernels::launch_goat_lanes_backward(goat_args<T>(d), stream()), "goat_lanes", "backward kernels");
  });
}

}  // namespace goat::cuda
