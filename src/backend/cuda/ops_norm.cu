// CUDA backend entry points for the elementwise ops and LayerNorm: wrap raw pointers into the
// kernels' parameter structs (kernels/elementwise.cuh, kernels/layernorm.cuh), launch on the
// backend stream and check the launch.
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_runtime_util.h"
#include "elementwise.cuh"
#include "layernorm.cuh"

namespace goat::cuda {

void gelu_forward(void* out, const void* in, int64_t n, DType dt) {
  dispatch_dtype(dt, [&]<typename T>() {
    check(kernels::launch_gelu_forward(kernels::UnaryArgs<T>{static_cast<T*>(out), static_cast<const T*>(in), n},
                                       stream()),
          "gelu", "forward kernel");
  });
}

void gelu_backward(void* d_in, const void* d_out, const void* in, int64_t n, DType dt) {
  dispatch_dtype(dt, [&]<typename T>() {
    const kernels::GeluBackwardArgs<T> p{static_cast<T*>(d_in), static_cast<const T*>(d_out),
                                         static_cast<const T*>(in), n};
    check(kernels::launch_gelu_backward(p, stream()), "gelu", "backward kernel");
  });
}

void add_forward(void* out, const void* a, const void* b, int64_t n, DType dt) {
  dispatch_dtype(dt, [&]<typename T>() {
    const kernels::AddArgs<T> p{static_cast<T*>(out), static_cast<const T*>(a), static_cast<const T*>(b), n};
    check(kernels::launch_add(p, stream()), "add", "kernel");
  });
}

void layernorm_forward(void* out, float* mean, float* rstd, const void* in, const void* w, const void* b,
                       void* residual, const void* ra, const void* rb, int64_t n, int64_t c, float eps, DType dt) {
  dispatch_dtype(dt, [&]<typename T>() {
    const kernels::LayerNormForwardArgs<T> p{static_cast<T*>(out),        mean, rstd, static_cast<const T*>(in),
                                             static_cast<const T*>(w),    static_cast<const T*>(b),
                                             static_cast<T*>(residual),   static_cast<const T*>(ra),
                                             static_cast<const T*>(rb),   n,    c,    eps};
    check(kernels::launch_layernorm_forward(p, stream()), "layernorm", "forward kernel");
  });
}

void layernorm_backward(void* d_in, float* d_w, float* d_b, const void* d_out, const void* in, const void* w,
                        const float* mean, const float* rstd, int64_t n, int64_t c, DType dt) {
  dispatch_dtype(dt, [&]<typename T>() {
    const kernels::LayerNormBackwardArgs<T> p{static_cast<T*>(d_in),        d_w,  d_b, static_cast<const T*>(d_out),
                                              static_cast<const T*>(in),    static_cast<const T*>(w),
                                              mean,                         rstd, n,   c};
    check(kernels::launch_layernorm_backward(p, stream()), "layernorm", "backward kernels");
  });
}

}  // namespace goat::cuda
