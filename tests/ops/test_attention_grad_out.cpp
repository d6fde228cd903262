// The attention backward's bf16 outputs and bias sums (AttentionGrads: bf16 dq, dk, dv and
// dq_sum, dk_sum, dv_sum — the CPU bf16 model's in_proj d_out and d_bias). For each shape the same
// backward runs twice, once into fp32 dq, dk, dv and once into bf16 ones with the sums:
//   every bf16 element equals bf16(the fp32 element) bit for bit (same kernel, the rounding moved
//   to the store), and nothing outside the views is written;
//   each sum equals, bitwise, its initial value plus the documented fixed-order fp32 sum of the
//   fp32 outputs (per batch row t ascending, then the batch rows), and it is within the recursive
//   summation bound (T + B + 1)·2⁻²⁴·Σ|x| of the fp64 sum.
// Shapes: the d256 model's, odd T, GQA, non-causal, Tq < Tk, contiguous and fused-row layouts, on
// the short AMX path (the item stores bf16 itself), and on the tiled kernel, T past the short
// path's limit and a head dim AMX does not take (fp32 run, then one rounding and summing pass).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cpu/attention_amx.h"
#include "backend/cpu/attention_kernel.h"
#include "backend/cpu/gemm_bf16.h"
#include "core/dtype.h"
#include "ops/attention.h"
#include "ops/test_attention_run.h"

namespace goat::test {
namespace {

struct GradCase {
  std::string name;
  int64_t B, H, Hkv, Tq, Tk, D;
  bool causal, fused, short_path;
};

// dq, dk, dv of one backward in either dtype: one buffer of (B, Tk, width) rows when fused (dq,
// dk, dv at column offsets), else three contiguous (B, N, T, D) arrays; guard words after each.
template <class E>
struct GradBuffers {
  static constexpr int64_t kGuard = 64;
  std::vector<E> buf;
  Tensor dq, dk, dv;
  GradBuffers(const GradCase& c, DType dt, E fill) {
    const int64_t W = (c.H + 2 * c.Hkv) * c.D, nq = c.B * c.H * c.Tq * c.D, nk = c.B * c.Hkv * c.Tk * c.D;
    const int64_t n = c.fused ? c.B * c.Tk * W : nq + 2 * nk;
    buf.assign(static_cast<size_t>(n + kGuard), fill);
    E* base = buf.data();
    const auto view = [&](int64_t offset, int64_t N, int64_t T, int64_t col) {
      Tensor t(base + offset + col, Shape{c.B, N, T, c.D}, dt, Device::cpu);
      if (c.fused) t.strides = {T * W, c.D, W, 1, 0, 0};
      return t;
    };
    if (c.fused) {
      dq = view(0, c.H, c.Tq, 0), dk = view(0, c.Hkv, c.Tk, c.H * c.D), dv = view(0, c.Hkv, c.Tk, (c.H + c.Hkv) * c.D);
    } else {
      dq = view(0, c.H, c.Tq, 0), dk = view(nq, c.Hkv, c.Tk, 0), dv = view(nq + nk, c.Hkv, c.Tk, 0);
    }
  }
  bool guard_intact(E fill) const {
    for (size_t i = buf.size() - kGuard; i < buf.size(); ++i)
      if (std::memcmp(&buf[i], &fill, sizeof fill) != 0) return false;
    return true;
  }
};

// Element (b, n, t, c) of a view.
template <class E>
E at(const Tensor& t, int64_t b, int64_t n, int64_t i, int64_t c) {
  return static_cast<const E*>(t.data)[b * t.strides[0] + n * t.strides[1] + i * t.strides[2] + c];
}

class GradOut : public ::testing::TestWithParam<GradCase> {};

TEST_P(GradOut, Bf16StoresAndBiasSums) {
  const GradCase& c = GetParam();
  if (!cpu::attn::amx_ready()) GTEST_SKIP() << "no AMX-BF16 here: the bf16 attention products do not run";
  const cpu::GemmPrecisionScope bf16(cpu::GemmPrecision::bf16);
  cpu::attn::set_short_path(c.short_path);
  const AttnCase ac{c.name, c.B, c.H, c.Hkv, c.Tq, c.Tk, c.D, c.causal, false, false, false};
  const RefProblem P = make_attn_problem(ac, 91);
  const std::vector<double> d_o64 = random_vec(c.B * c.H * c.Tq * c.D, 97);
  std::vector<float> q = to_f32(P.q), k = to_f32(P.k), v = to_f32(P.v), d_o = to_f32(d_o64);
  std::vector<float> o(q.size()), lse(static_cast<size_t>(c.B * c.H * c.Tq));
  ops::AttentionArgs a;
  a.q = Tensor(q.data(), {c.B, c.H, c.Tq, c.D}), a.k = Tensor(k.data(), {c.B, c.Hkv, c.Tk, c.D});
  a.v = Tensor(v.data(), {c.B, c.Hkv, c.Tk, c.D}), a.o = Tensor(o.data(), {c.B, c.H, c.Tq, c.D});
  a.lse = Tensor(lse.data(), {c.B, c.H, c.Tq});
  a.scale = static_cast<float>(P.scale), a.causal = c.causal;
  ops::attention_forward(a);
  const Tensor dot(d_o.data(), {c.B, c.H, c.Tq, c.D});

  GradBuffers<float> f32(c, DType::f32, 1e30f);
  ops::AttentionGrads g32;
  g32.dq = f32.dq, g32.dk = f32.dk, g32.dv = f32.dv;
  ops::attention_backward(a, dot, g32);
  using cpu::attn::KernelPath;
  const bool short_ok = c.short_path && c.Tk <= cpu::attn::kShortMaxT && c.D % 16 == 0;
  const KernelPath want_path = !short_ok ? KernelPath::tiled : c.D % 32 == 0 ? KernelPath::short_amx : KernelPath::short_fp32;
  EXPECT_TRUE(cpu::attn::last_path(true) == want_path) << "not the backward path this case is for";

  const uint16_t fill16 = 0x7fc1;  // a NaN pattern the kernel never stores
  GradBuffers<uint16_t> b16(c, DType::bf16, fill16);
  const float s0 = 0.375f;  // the sums are added to what is there
  std::vector<float> sq(static_cast<size_t>(c.H * c.D), s0), sk(static_cast<size_t>(c.Hkv * c.D), s0), sv(sk);
  ops::AttentionGrads g16;
  g16.dq = b16.dq, g16.dk = b16.dk, g16.dv = b16.dv;
  g16.dq_sum = sq.data(), g16.dk_sum = sk.data(), g16.dv_sum = sv.data();
  ops::attention_backward(a, dot, g16);
  EXPECT_TRUE(cpu::attn::last_path(true) == want_path);
  cpu::attn::set_short_path(true);
  EXPECT_TRUE(f32.guard_intact(1e30f) && b16.guard_intact(fill16)) << "a write past the gradient buffers";

  struct Part {
    const char* name;
    const Tensor &t32, &t16;
    int64_t N, T;
    const std::vector<float>& sum;
  };
  for (const Part& part : {Part{"dq", f32.dq, b16.dq, c.H, c.Tq, sq}, Part{"dk", f32.dk, b16.dk, c.Hkv, c.Tk, sk},
                           Part{"dv", f32.dv, b16.dv, c.Hkv, c.Tk, sv}}) {
    int64_t bad = 0, bad_sum = 0;
    for (int64_t n = 0; n < part.N; ++n)
      for (int64_t col = 0; col < c.D; ++col) {
        float fixed = 0.f;  // the documented order
        double exact = 0, mag = std::abs(s0);
        for (int64_t b = 0; b < c.B; ++b) {
          float row = 0.f;
          for (int64_t i = 0; i < part.T; ++i) {
            const float x = at<float>(part.t32, b, n, i, col);
            const uint16_t got = at<uint16_t>(part.t16, b, n, i, col), want = bf16::from_float(x).bits;
            if (got != want && bad++ < 5)
              ADD_FAILURE() << part.name << " (" << b << ", " << n << ", " << i << ", " << col << "): bf16 bits " << got
                            << ", bf16(fp32 " << x << ") = " << want;
            row += x;
            exact += x, mag += std::abs(x);
          }
          fixed += row;
        }
        const float got = part.sum[static_cast<size_t>(n * c.D + col)];
        const double bound = static_cast<double>(part.T + c.B + 1) * std::ldexp(1.0, -24) * mag;
        if ((got != s0 + fixed || !(std::abs(got - (s0 + exact)) <= bound)) && bad_sum++ < 5)
          ADD_FAILURE() << part.name << "_sum[" << n * c.D + col << "] = " << got << ", fixed-order " << s0 + fixed
                        << ", fp64 " << s0 + exact << " ± " << bound;
      }
    EXPECT_EQ(bad, 0) << part.name << ": bf16 elements that are not bf16(fp32)";
    EXPECT_EQ(bad_sum, 0) << part.name << ": column sums off";
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, GradOut,
                         ::testing::Values(GradCase{"d256", 2, 8, 8, 128, 128, 32, true, true, true},
                                           GradCase{"odd_T", 3, 4, 4, 37, 37, 32, true, true, true},
                                           GradCase{"gqa_noncausal", 2, 4, 2, 50, 50, 64, false, true, true},
                                           GradCase{"prefill_gqa", 2, 4, 1, 20, 45, 32, true, false, true},
                                           GradCase{"tiled", 2, 4, 2, 37, 37, 32, true, true, false},
                                           GradCase{"long_T", 1, 2, 2, 300, 300, 32, true, true, true},
                                           GradCase{"hd48_fp32_products", 2, 2, 1, 33, 33, 48, false, false, true}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace goat::test
