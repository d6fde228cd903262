// Host SIMT emulation, part 3: device intrinsics with CUDA's names and semantics.
// Barriers and warp-level functions go through the scheduler (sched.h); the shuffle lane
// arithmetic follows the PTX ISA definition of shfl.sync (section "Parallel Synchronization and
// Communication Instructions: shfl.sync") exactly, including `width` segments; reading from a lane
// outside the mask yields all-ones bits (NaN for float), which the hardware leaves undefined.
// Atomics use std::atomic_ref because blocks run in parallel on several OS threads. The fast-math
// intrinsics (__expf, __fdividef, ...) use the correctly rounded libm functions: results may
// differ from the GPU's approximations by a few ulp, so tests compare with tolerances.
#pragma once

#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "simt/emu/defs.h"
#include "simt/emu/sched.h"

namespace goat::simt::detail {

enum class ShflMode { idx, up, down, bfly };

struct ShflIn {
  uint64_t v;
  uint32_t b;  // srcLane, delta or laneMask
  uint32_t c;  // PTX c operand: ((32 - width) << 8) | clamp
};

template <ShflMode M>
void shfl_combine(const ExchangeView& x) {
  for (uint32_t lane = 0; lane < 32; ++lane) {
    if (!(x.mask >> lane & 1u)) continue;
    ShflIn in;
    std::memcpy(&in, x.in + lane * kExchangeBytes, sizeof in);
    // PTX ISA shfl.sync: segmask = c[12:8], cval = c[4:0].
    const int segmask = static_cast<int>((in.c >> 8) & 0x1f), cval = static_cast<int>(in.c & 0x1f);
    const int l = static_cast<int>(lane), b = static_cast<int>(in.b);
    const int min_lane = l & segmask, max_lane = min_lane | (cval & ~segmask);
    int j = l;
    bool p = false;
    if constexpr (M == ShflMode::up) {
      j = l - b;
      p = j >= max_lane;
    } else if constexpr (M == ShflMode::down) {
      j = l + b;
      p = j <= max_lane;
    } else if constexpr (M == ShflMode::bfly) {
      j = l ^ b;
      p = j <= max_lane;
    } else {
      j = min_lane | (b & 0x1f & ~segmask);
      p = j <= max_lane;
    }
    if (!p) j = l;
    uint64_t v = ~uint64_t{0};  // source lane not taking part: undefined on the GPU, poison here
    if (x.mask >> j & 1u) std::memcpy(&v, x.in + static_cast<uint32_t>(j) * kExchangeBytes, sizeof v);
    std::memcpy(x.out + lane * kExchangeBytes, &v, sizeof v);
  }
}

template <ShflMode M, typename T>
T shfl(unsigned mask, T var, unsigned b, int width, const char* op) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "shuffle of a type wider than 8 bytes");
  if (width < 1 || width > 32 || (width & (width - 1))) fault(std::string(op) + ": width must be a power of two <= 32");
  ShflIn in{0, b, (static_cast<uint32_t>(32 - width) << 8) | (M == ShflMode::up ? 0u : 0x1fu)};
  std::memcpy(&in.v, &var, sizeof(T));
  uint64_t out;
  warp_exchange(mask, op, &shfl_combine<M>, &in, sizeof in, &out, sizeof out);
  T r;
  std::memcpy(&r, &out, sizeof(T));
  return r;
}

inline void ballot_combine(const ExchangeView& x) {
  uint32_t bits = 0;
  for (uint32_t lane = 0; lane < 32; ++lane) {
    int p = 0;
    if (x.mask >> lane & 1u) std::memcpy(&p, x.in + lane * kExchangeBytes, sizeof p);
    if (p) bits |= 1u << lane;
  }
  for (uint32_t lane = 0; lane < 32; ++lane)
    if (x.mask >> lane & 1u) std::memcpy(x.out + lane * kExchangeBytes, &bits, sizeof bits);
}

inline unsigned ballot(unsigned mask, int pred, const char* op) {
  unsigned out = 0;
  warp_exchange(mask, op, &ballot_combine, &pred, sizeof pred, &out, sizeof out);
  return out;
}

enum class ReduceOp { add, min, max, and_, or_, xor_ };

template <ReduceOp R, typename T>
void reduce_combine(const ExchangeView& x) {
  bool first = true;
  T acc{};
  for (uint32_t lane = 0; lane < 32; ++lane) {
    if (!(x.mask >> lane & 1u)) continue;
    T v;
    std::memcpy(&v, x.in + lane * kExchangeBytes, sizeof v);
    if (first)
      acc = v;
    else if constexpr (R == ReduceOp::add)
      acc = static_cast<T>(acc + v);
    else if constexpr (R == ReduceOp::min)
      acc = v < acc ? v : acc;
    else if constexpr (R == ReduceOp::max)
      acc = v > acc ? v : acc;
    else if constexpr (R == ReduceOp::and_)
      acc &= v;
    else if constexpr (R == ReduceOp::or_)
      acc |= v;
    else
      acc ^= v;
    first = false;
  }
  for (uint32_t lane = 0; lane < 32; ++lane)
    if (x.mask >> lane & 1u) std::memcpy(x.out + lane * kExchangeBytes, &acc, sizeof acc);
}

template <ReduceOp R, typename T>
T reduce(unsigned mask, T v, const char* op) {
  T out;
  warp_exchange(mask, op, &reduce_combine<R, T>, &v, sizeof v, &out, sizeof out);
  return out;
}

inline void nop_combine(const ExchangeView&) {}

template <typename R, typename A, typename B>
constexpr R min_as(A a, B b) {
  return static_cast<R>(a) < static_cast<R>(b) ? static_cast<R>(a) : static_cast<R>(b);
}
template <typename R, typename A, typename B>
constexpr R max_as(A a, B b) {
  return static_cast<R>(a) > static_cast<R>(b) ? static_cast<R>(a) : static_cast<R>(b);
}

template <typename T, typename F>
T atomic_update(T* p, F f) {
  std::atomic_ref<T> r(*p);
  T old = r.load(std::memory_order_relaxed);
  while (!r.compare_exchange_weak(old, f(old), std::memory_order_relaxed)) {
  }
  return old;
}

}  // namespace goat::simt::detail

// ---- barriers ----
inline void __syncthreads() { goat::simt::block_barrier(); }
inline int __syncthreads_count(int pred) { return goat::simt::block_barrier_count(pred); }
inline int __syncthreads_and(int pred) { return goat::simt::block_barrier_count(!pred) == 0; }
inline int __syncthreads_or(int pred) { return goat::simt::block_barrier_count(pred) != 0; }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  goat::simt::warp_exchange(mask, "__syncwarp", &goat::simt::detail::nop_combine, nullptr, 0, nullptr, 0);
}
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }
// The emulator cannot see divergence: every lane that has not returned counts as active.
inline unsigned __activemask() {
  const unsigned lanes = static_cast<unsigned>(blockDim.x * blockDim.y * blockDim.z);
  const unsigned linear = threadIdx.x + threadIdx.y * blockDim.x + threadIdx.z * blockDim.x * blockDim.y;
  const unsigned first = linear & ~31u, n = lanes - first < 32 ? lanes - first : 32;
  const unsigned present = n == 32 ? 0xffffffffu : ((1u << n) - 1u);
  return present & ~goat::simt::exited_lanes_of_warp();
}
[[noreturn]] inline void __trap() { goat::simt::fault("__trap()"); }

// ---- warp shuffles, votes and reductions ----
template <typename T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize) {
  using goat::simt::detail::ShflMode;
  return goat::simt::detail::shfl<ShflMode::idx>(mask, var, static_cast<unsigned>(src_lane), width, "__shfl_sync");
}
template <typename T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  using goat::simt::detail::ShflMode;
  return goat::simt::detail::shfl<ShflMode::up>(mask, var, delta, width, "__shfl_up_sync");
}
template <typename T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  using goat::simt::detail::ShflMode;
  return goat::simt::detail::shfl<ShflMode::down>(mask, var, delta, width, "__shfl_down_sync");
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize) {
  using goat::simt::detail::ShflMode;
  return goat::simt::detail::shfl<ShflMode::bfly>(mask, var, static_cast<unsigned>(lane_mask), width,
                                                  "__shfl_xor_sync");
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
  return goat::simt::detail::ballot(mask, pred, "__ballot_sync");
}
inline int __any_sync(unsigned mask, int pred) { return goat::simt::detail::ballot(mask, pred, "__any_sync") != 0; }
inline int __all_sync(unsigned mask, int pred) { return goat::simt::detail::ballot(mask, pred, "__all_sync") == mask; }
inline unsigned __reduce_add_sync(unsigned mask, unsigned v) {
  return goat::simt::detail::reduce<goat::simt::detail::ReduceOp::add>(mask, v, "__reduce_add_sync");
}
inline int __reduce_add_sync(unsigned mask, int v) {
  return goat::simt::detail::reduce<goat::simt::detail::ReduceOp::add>(mask, v, "__reduce_add_sync");
}
inline unsigned __reduce_min_sync(unsigned mask, unsigned v) {
  return goat::simt::detail::reduce<goat::simt::detail::ReduceOp::min>(mask, v, "__reduce_min_sync");
}
inline int __reduce_min_sync(unsigned mask, int v) {
  return goat::simt::detail::reduce<goat::simt::detail::ReduceOp::min>(mask, v, "__reduce_min_sync");
}
inline unsigned __reduce_max_sync(unsigned mask, unsigned v) {
  return goat::simt::detail::reduce<goat::simt::detail::ReduceOp::max>(mask, v, "__reduce_max_sync");
}
inline int __reduce_max_sync(unsigned mask, int v) {
  return goat::simt::detail::reduce<goat::simt::detail::ReduceOp::max>(mask, v, "__reduce_max_sync");
}

// ---- atomics (return the old value, as in CUDA; the value converts to *p's type, as CUDA's overloads) ----
template <typename T>
T atomicAdd(T* p, std::type_identity_t<T> v) {
  return std::atomic_ref<T>(*p).fetch_add(v, std::memory_order_relaxed);
}
template <typename T>
T atomicSub(T* p, std::type_identity_t<T> v) {
  return std::atomic_ref<T>(*p).fetch_sub(v, std::memory_order_relaxed);
}
template <typename T>
T atomicExch(T* p, std::type_identity_t<T> v) {
  return std::atomic_ref<T>(*p).exchange(v, std::memory_order_relaxed);
}
template <typename T>
T atomicMax(T* p, std::type_identity_t<T> v) {
  return goat::simt::detail::atomic_update(p, [v](T o) { return v > o ? v : o; });
}
template <typename T>
T atomicMin(T* p, std::type_identity_t<T> v) {
  return goat::simt::detail::atomic_update(p, [v](T o) { return v < o ? v : o; });
}
template <typename T>
T atomicAnd(T* p, std::type_identity_t<T> v) {
  return std::atomic_ref<T>(*p).fetch_and(v, std::memory_order_relaxed);
}
template <typename T>
T atomicOr(T* p, std::type_identity_t<T> v) {
  return std::atomic_ref<T>(*p).fetch_or(v, std::memory_order_relaxed);
}
template <typename T>
T atomicCAS(T* p, std::type_identity_t<T> compare, std::type_identity_t<T> val) {
  std::atomic_ref<T>(*p).compare_exchange_strong(compare, val, std::memory_order_relaxed);
  return compare;  // holds the old value either way
}

// ---- loads ----
template <typename T>
T __ldg(const T* p) {
  return *p;
}

// ---- math and bit intrinsics ----
inline float __expf(float x) { return std::exp(x); }
inline float __exp10f(float x) { return std::pow(10.0f, x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __frsqrt_rn(float x) { return static_cast<float>(1.0 / std::sqrt(static_cast<double>(x))); }
inline float __saturatef(float x) { return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f; }  // NaN -> 0
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline int __float2int_rn(float x) { return static_cast<int>(std::nearbyint(x)); }
inline int __float2int_rz(float x) { return static_cast<int>(x); }
inline float __int2float_rn(int x) { return static_cast<float>(x); }
inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline unsigned __float_as_uint(float x) { return std::bit_cast<unsigned>(x); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline float __uint_as_float(unsigned x) { return std::bit_cast<float>(x); }
inline int __popc(unsigned x) { return std::popcount(x); }
inline int __popcll(unsigned long long x) { return std::popcount(x); }
inline int __clz(int x) { return std::countl_zero(static_cast<unsigned>(x)); }
inline int __clzll(long long x) { return std::countl_zero(static_cast<unsigned long long>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline unsigned __brev(unsigned x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
  return __builtin_bswap32(x);
}
inline unsigned __umulhi(unsigned a, unsigned b) { return static_cast<unsigned>((uint64_t{a} * b) >> 32); }
// min/max overloads of CUDA's math_functions.hpp: same-type integer and floating versions, and
// mixed signed/unsigned (the result is unsigned) and float/double (the result is double) pairs.
inline int min(int a, int b) { return goat::simt::detail::min_as<int>(a, b); }
inline int max(int a, int b) { return goat::simt::detail::max_as<int>(a, b); }
inline unsigned min(unsigned a, unsigned b) { return goat::simt::detail::min_as<unsigned>(a, b); }
inline unsigned max(unsigned a, unsigned b) { return goat::simt::detail::max_as<unsigned>(a, b); }
inline unsigned min(int a, unsigned b) { return goat::simt::detail::min_as<unsigned>(a, b); }
inline unsigned max(int a, unsigned b) { return goat::simt::detail::max_as<unsigned>(a, b); }
inline unsigned min(unsigned a, int b) { return goat::simt::detail::min_as<unsigned>(a, b); }
inline unsigned max(unsigned a, int b) { return goat::simt::detail::max_as<unsigned>(a, b); }
inline long min(long a, long b) { return goat::simt::detail::min_as<long>(a, b); }
inline long max(long a, long b) { return goat::simt::detail::max_as<long>(a, b); }
inline unsigned long min(unsigned long a, unsigned long b) { return goat::simt::detail::min_as<unsigned long>(a, b); }
inline unsigned long max(unsigned long a, unsigned long b) { return goat::simt::detail::max_as<unsigned long>(a, b); }
inline unsigned long min(long a, unsigned long b) { return goat::simt::detail::min_as<unsigned long>(a, b); }
inline unsigned long max(long a, unsigned long b) { return goat::simt::detail::max_as<unsigned long>(a, b); }
inline unsigned long min(unsigned long a, long b) { return goat::simt::detail::min_as<unsigned long>(a, b); }
inline unsigned long max(unsigned long a, long b) { return goat::simt::detail::max_as<unsigned long>(a, b); }
inline long long min(long long a, long long b) { return goat::simt::detail::min_as<long long>(a, b); }
inline long long max(long long a, long long b) { return goat::simt::detail::max_as<long long>(a, b); }
inline unsigned long long min(unsigned long long a, unsigned long long b) {
  return goat::simt::detail::min_as<unsigned long long>(a, b);
}
inline unsigned long long max(unsigned long long a, unsigned long long b) {
  return goat::simt::detail::max_as<unsigned long long>(a, b);
}
inline unsigned long long min(long long a, unsigned long long b) {
  return goat::simt::detail::min_as<unsigned long long>(a, b);
}
inline unsigned long long max(long long a, unsigned long long b) {
  return goat::simt::detail::max_as<unsigned long long>(a, b);
}
inline unsigned long long min(unsigned long long a, long long b) {
  return goat::simt::detail::min_as<unsigned long long>(a, b);
}
inline unsigned long long max(unsigned long long a, long long b) {
  return goat::simt::detail::max_as<unsigned long long>(a, b);
}
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }
inline double min(float a, double b) { return std::fmin(static_cast<double>(a), b); }
inline double max(float a, double b) { return std::fmax(static_cast<double>(a), b); }
inline double min(double a, float b) { return std::fmin(a, static_cast<double>(b)); }
inline double max(double a, float b) { return std::fmax(a, static_cast<double>(b)); }
