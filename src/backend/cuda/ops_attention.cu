// CUDA backend entry points for attention: copies the descriptor into the kernels' parameter
// struct, picks the kernel and provides the backward pass's scratch (D_i per query row and the
// per-key d_slope partials) from the caching allocator.
// Dispatch rule (docs/kernels.md): the fused flash kernels (kernels/flash_*.cuh) for bf16 with
// D ∈ {16, 32, 64, 128} when every q/k/v/o/d_o/dq/dk/dv pointer is 16-byte aligned and its (b, h, t)
// strides are multiples of 8 elements (cp.async moves 16-byte chunks); otherwise, and for fp32,
// the straightforward kernels of kernels/attention.cuh. GOATLM_ATTENTION=plain forces the latter.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "attention.cuh"
#include "flash_backward.cuh"
#include "flash_forward.cuh"
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
  p.lanes = a.lanes, p.lane_a = a.lane_a, p.lane_b = a.lane_b, p.lane_R = a.lane_R, p.lane_dc = a.lane_dc;
  p.q_pos0 = a.q_pos0, p.k_pos0 = a.k_pos0, p.d_lane_a = a.d_lane_a, p.d_lane_b = a.d_lane_b;
  return p;
}

bool aligned(const void* ptr, const int64_t* s) {
  if (!ptr) return true;
  return reinterpret_cast<uintptr_t>(ptr) % 16 == 0 && s[0] % 8 == 0 && s[1] % 8 == 0 && s[2] % 8 == 0;
}

bool use_flash(const AttentionDesc& a, DType dt, bool backward) {
  bool ok = attention_fused(dt, a.D);
  ok = ok && aligned(a.q, a.q_s) && aligned(a.k, a.k_s) && aligned(a.v, a.v_s) && aligned(a.o, a.o_s);
  if (backward) ok = ok && aligned(a.d_o, a.do_s) && aligned(a.dq, a.dq_s) && aligned(a.dk, a.dk_s) && aligned(a.dv, a.dv_s);
  if (a.lanes) {
    require(ok, "attention",
            "in-kernel GOAT lanes need the fused flash kernels (bf16, D 16/32/64/128, aligned operands, "
            "GOATLM_ATTENTION not plain); got dtype " + std::string(dtype_name(dt)) + ", D " + std::to_string(a.D));
    require(a.lane_R >= 0 && a.lane_dc > 0 && a.lane_dc + 2 * a.lane_R <= a.D && (a.lane_R == 0 || (a.lane_a && a.lane_b)),
            "attention",
            "in-kernel GOAT lanes: content dims " + std::to_string(a.lane_dc) + " + 2·R (R = " +
                std::to_string(a.lane_R) + ") must fit head dim " + std::to_string(a.D) + ", with a, b given");
    require(!backward || a.lane_R == 0 || (a.d_lane_a && a.d_lane_b), "attention",
            "in-kernel GOAT lanes: backward needs d_lane_a and d_lane_b");
  }
  return ok;
}

using FlashArgs = kernels::AttentionArgs<__nv_bfloat16>;

std::atomic<int64_t> flash_calls{0};

// The flash launcher F<D> for the runtime head dim (16, 32, 64 or 128: attention_fused checked it).
template <template <int> class F>
cudaError_t flash_for_head_dim(int64_t D, const FlashArgs& p) {
  switch (D) {
    case 16: return F<16>::run(p, stream());
    case 32: return F<32>::run(p, stream());
    case 64: return F<64>::run(p, stream());
    default: return F<128>::run(p, stream());
  }
}
template <int D>
struct FlashForward {
  static cudaError_t run(const FlashArgs& p, cudaStream_t s) { return kernels::flash::launch_flash_forward<D>(p, s); }
};
template <int D>
struct FlashBackward {
  static cudaError_t run(const FlashArgs& p, cudaStream_t s) { return kernels::flash::launch_flash_backward<D>(p, s); }
};

}  // namespace

bool attention_fused(DType dt, int64_t head_dim) {
  static const bool plain = [] {
    const char* e = std::getenv("GOATLM_ATTENTION");
    return e && std::strcmp(e, "plain") == 0;
  }();
  return !plain && dt == DType::bf16 && (head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128);
}

int64_t attention_flash_calls() { return flash_calls.load(); }

void attention_forward(const AttentionDesc& a, DType dt) {
  if (use_flash(a, dt, false)) {
    const FlashArgs p = to_args<__nv_bfloat16>(a);
    check(flash_for_head_dim<FlashForward>(a.D, p), "attention", "flash forward kernel");
    ++flash_calls;
    return;
  }
  dispatch_dtype(dt, [&]<typename T>() {
    check(kernels::launch_attention_forward(to_args<T>(a), stream()), "attention", "forward kernel");
  });
}

void attention_backward(const AttentionDesc& a, DType dt) {
  float* delta = static_cast<float*>(alloc(static_cast<size_t>(a.B * a.H * a.Tq) * sizeof(float)));
  float* part = a.d_slope ? static_cast<float*>(alloc(static_cast<size_t>(a.B * a.Hkv * a.Tk) * sizeof(float))) : nullptr;
  if (use_flash(a, dt, true)) {
    FlashArgs p = to_args<__nv_bfloat16>(a);
    p.delta = delta, p.slope_part = part;
    const size_t n_lane_part = a.lanes ? static_cast<size_t>(a.B * a.H * ((a.Tq + 63) / 64) * 2 * a.lane_R) : 0;
    p.lane_part = n_lane_part ? static_cast<float*>(alloc(n_lane_part * sizeof(float))) : nullptr;
    check(flash_for_head_dim<FlashBackward>(a.D, p), "attention", "flash backward kernels");
    if (p.lane_part) free(p.lane_part);
    ++flash_calls;
  } else {
    dispatch_dtype(dt, [&]<typename T>() {
      kernels::AttentionArgs<T> p = to_args<T>(a);
      p.delta = delta, p.slope_part = part;
      check(kernels::launch_attention_backward(p, stream()), "attention", "backward kernels");
    });
  }
  free(part);
  free(delta);
}

}  // namespace goat::cuda
