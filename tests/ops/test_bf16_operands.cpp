// The CPU bf16 model's pre-rounded operands at the op level (ops/linear.h, layernorm.h,
// elementwise.h with bf16 CPU tensors) against fp64 references with computed tolerances:
//  - round_to_bf16 against the nearest bf16 found in fp64 (ties to even), independent of the
//    bit trick the kernels use;
//  - layernorm / residual layernorm with a bf16 out: fp64 LayerNorm, error ≤ fp32 evaluation
//    (8·(C + 4)·u32 on |x̂·w| + |b|) plus bf16's rounding of the output (u16 = 2^-8, unit roundoff);
//  - the backward's LayerNorm writing bf16(d_in) and d_in's column sums (the next linear's d_out and
//    d_bias): nearest bf16 in fp64, sums ≤ γ_n·Σ|d_in|, and bitwise the linear backward's own pass;
//    with a bf16 d_out, fp64 LayerNorm backward on its (exact) values;
//  - GELU forward bf16 → bf16: fp64 GELU of the bf16 input, ≤ u16·|y| + 1e-6·(|x| + 1) (fp32 tanh form);
//  - linear forward with bf16 in/weight and a bf16 out (rounded from the fp32 accumulator in the
//    GEMM): fp64 of the (exact) bf16 operands, ≤ γ_K·Σ|a||b| then one bf16 rounding;
//  - the fused GELU-linear backward on bf16 d_act/pre/in/weight: g = d_act ∘ gelu'(pre) in fp64,
//    ≤ (u16 + γ_K)·Σ|g||b| + gelu' evaluation error (the operands in and w are exact bf16; only g
//    is rounded); d_bias ≤ γ_N·Σ|g| + error; a bf16 d_in adds one bf16 rounding.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

#include "backend/cpu/gemm_bf16.h"
#include "backend/cpu/vec_math.h"
#include "core/dtype.h"
#include "core/philox.h"
#include "core/tensor.h"
#include "ops/elementwise.h"
#include "ops/layernorm.h"
#include "ops/linear.h"

using namespace goat;

namespace {

const double u32 = std::ldexp(1.0, -24), u16 = std::ldexp(1.0, -8);

double gamma(int64_t k) { return static_cast<double>(k + 2) * u32 / (1.0 - static_cast<double>(k + 2) * u32); }

double bits_to_double(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

// Random values already representable in bf16 (as bits), scaled by stdev.
std::vector<uint16_t> bf16_normal(size_t n, uint64_t seed, float stdev = 1.f) {
  const Rng rng(seed, RngPurpose::test);
  std::vector<uint16_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = bf16::from_float(stdev * rng.normal(i)).bits;
  return v;
}

std::vector<float> f32_normal(size_t n, uint64_t seed, float stdev = 1.f) {
  const Rng rng(seed, RngPurpose::test);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = stdev * rng.normal(i);
  return v;
}

Tensor bf16_tensor(std::vector<uint16_t>& v, Shape s) { return Tensor(v.data(), s, DType::bf16); }

// The bf16 nearest to x (ties to even), found in fp64 from x's two bf16 neighbours: the fp32 bits
// truncated, and one bf16 ulp further out.
double nearest_bf16(float xf) {
  const double x = xf;
  if (x == 0) return 0.0;
  const double lo = bits_to_double(static_cast<uint16_t>(std::bit_cast<uint32_t>(xf) >> 16));
  const double ulp = std::ldexp(1.0, std::ilogb(lo == 0 ? x : lo) - 7);
  const double hi = lo + std::copysign(ulp, x);
  const double dlo = std::abs(x - lo), dhi = std::abs(hi - x);
  const bool lo_even = ((std::bit_cast<uint32_t>(xf) >> 16) & 1u) == 0;
  return dlo < dhi || (dlo == dhi && lo_even) ? lo : hi;
}

double gelu64(double x) { return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x))); }

// fp64 gelu'(x) and the magnitude of its two terms (the fp32 evaluation error scales with it).
void gelu_grad64(double x, double& grad, double& mag) {
  const double k = std::sqrt(2.0 / M_PI), u = k * (x + 0.044715 * x * x * x);
  const double du = k * (1 + 3 * 0.044715 * x * x), s = 0.5 * (1 + std::tanh(u));
  const double t = 2 * x * s * (1 - s) * du;
  grad = s + t;
  mag = std::abs(s) + std::abs(t);
}

}  // namespace

TEST(Bf16Operands, RoundToBf16IsNearestEven) {
  std::vector<float> src = f32_normal(5000, 1, 3.f);
  src.push_back(1.f + std::ldexp(1.f, -8));      // a tie: rounds to even (1)
  src.push_back(1.f + 3 * std::ldexp(1.f, -8));  // a tie: rounds to even (1 + 2^-6)
  src.push_back(-0.f);
  std::vector<uint16_t> dst(src.size());
  ops::round_to_bf16(Tensor(dst.data(), Shape{static_cast<int64_t>(dst.size())}, DType::bf16),
                     Tensor(src.data(), Shape{static_cast<int64_t>(src.size())}));
  for (size_t i = 0; i < src.size(); ++i) ASSERT_EQ(bits_to_double(dst[i]), nearest_bf16(src[i])) << "x = " << src[i];
}

TEST(Bf16Operands, LayerNormBf16OutMatchesFp64) {
  const int64_t n = 67, c = 96;
  std::vector<float> a = f32_normal(static_cast<size_t>(n * c), 2, 2.f), b = f32_normal(a.size(), 3),
                     w = f32_normal(static_cast<size_t>(c), 4), bias = f32_normal(static_cast<size_t>(c), 5);
  for (float& x : a) x += 5.f;  // |mean| > std
  for (const bool residual : {false, true}) {
    std::vector<uint16_t> out(a.size());
    std::vector<float> res(a.size()), mean(static_cast<size_t>(n)), rstd(mean.size());
    const Tensor out_t = bf16_tensor(out, Shape{n, c}), mean_t(mean.data(), Shape{n}), rstd_t(rstd.data(), Shape{n});
    const Tensor w_t(w.data(), Shape{c}), b_t(bias.data(), Shape{c});
    if (residual)
      ops::residual_layernorm_forward(Tensor(res.data(), Shape{n, c}), out_t, mean_t, rstd_t,
                                      Tensor(a.data(), Shape{n, c}), Tensor(b.data(), Shape{n, c}), w_t, b_t);
    else
      ops::layernorm_forward(out_t, mean_t, rstd_t, Tensor(a.data(), Shape{n, c}), w_t, b_t);
    for (int64_t r = 0; r < n; ++r) {
      std::vector<double> x(static_cast<size_t>(c));
      double m = 0, v = 0;
      for (int64_t j = 0; j < c; ++j) {
        x[j] = static_cast<double>(a[r * c + j]) + (residual ? static_cast<double>(b[r * c + j]) : 0.0);
        if (residual) {
          ASSERT_LE(std::abs(res[r * c + j] - x[j]), u32 * std::abs(x[j])) << "residual";
        }
        m += x[j];
      }
      m /= static_cast<double>(c);
      for (int64_t j = 0; j < c; ++j) v += (x[j] - m) * (x[j] - m);
      const double rs = 1.0 / std::sqrt(v / static_cast<double>(c) + ops::kLayerNormEps);
      const double fp32_err = 8.0 * static_cast<double>(c + 4) * u32;
      for (int64_t j = 0; j < c; ++j) {
        const double xh = (x[j] - m) * rs, want = xh * w[j] + bias[j];
        const double mag = std::abs(xh * w[j]) + std::abs(bias[j]);
        ASSERT_LE(std::abs(bits_to_double(out[r * c + j]) - want),
                  fp32_err * mag + u16 * (std::abs(want) + fp32_err * mag))
            << "row " << r << " col " << j << " residual " << residual;
      }
      ASSERT_LE(std::abs(mean[r] - m), fp32_err * (std::abs(m) + 1.0));
      ASSERT_LE(std::abs(rstd[r] - rs), fp32_err * rs);
    }
  }
}

// The backward's LayerNorm with d_in_bf16/d_in_col_sum: d_in, d_w, d_b bitwise those of the plain
// call; d_in_bf16 the nearest bf16 of the new d_in (fp64 check); d_in_col_sum (accumulated) within
// γ_n·Σ|d_in| of the fp64 column sums, and bitwise what to_bf16_column_sum (the linear backward's
// own pass, which the model no longer runs on dres) gives, rounding included.
TEST(Bf16Operands, LayerNormBackwardRoundsDInAndSumsItsColumns) {
  const int64_t n = 300, c = 96;  // 3 row chunks of 128, the last partial
  const std::vector<float> x = f32_normal(static_cast<size_t>(n * c), 20), dy = f32_normal(x.size(), 21),
                           w = f32_normal(static_cast<size_t>(c), 22), b = f32_normal(static_cast<size_t>(c), 23),
                           d_in0 = f32_normal(x.size(), 24), col0 = f32_normal(static_cast<size_t>(c), 25);
  std::vector<float> out(x.size()), mean(static_cast<size_t>(n)), rstd(mean.size());
  const Tensor mean_t(mean.data(), Shape{n}), rstd_t(rstd.data(), Shape{n});
  const auto cv = [](const std::vector<float>& v, Shape s) { return Tensor(const_cast<float*>(v.data()), s); };
  ops::layernorm_forward(Tensor(out.data(), Shape{n, c}), mean_t, rstd_t, cv(x, {n, c}), cv(w, {c}), cv(b, {c}));
  std::vector<float> d_plain = d_in0, dw_plain(w.size(), 0.f), db_plain(w.size(), 0.f);
  std::vector<float> d_fused = d_in0, dw_fused(w.size(), 0.f), db_fused(w.size(), 0.f), col = col0;
  std::vector<uint16_t> d16(x.size());
  ops::layernorm_backward(Tensor(d_plain.data(), Shape{n, c}), Tensor(dw_plain.data(), Shape{c}),
                          Tensor(db_plain.data(), Shape{c}), cv(dy, {n, c}), cv(x, {n, c}), cv(w, {c}), mean_t, rstd_t);
  ops::layernorm_backward(Tensor(d_fused.data(), Shape{n, c}), Tensor(dw_fused.data(), Shape{c}),
                          Tensor(db_fused.data(), Shape{c}), cv(dy, {n, c}), cv(x, {n, c}), cv(w, {c}), mean_t, rstd_t,
                          bf16_tensor(d16, Shape{n, c}), Tensor(col.data(), Shape{c}));
  ASSERT_EQ(d_plain, d_fused);
  ASSERT_EQ(dw_plain, dw_fused);
  ASSERT_EQ(db_plain, db_fused);
  for (size_t i = 0; i < d16.size(); ++i)
    ASSERT_EQ(bits_to_double(d16[i]), nearest_bf16(d_fused[i])) << "element " << i;
  for (int64_t j = 0; j < c; ++j) {
    double want = col0[j], mag = std::abs(col0[j]);
    for (int64_t r = 0; r < n; ++r) want += d_fused[r * c + j], mag += std::abs(d_fused[r * c + j]);
    ASSERT_LE(std::abs(col[j] - want), gamma(n + 1) * mag) << "column " << j;
  }
  std::vector<float> col_ref = col0;
  const uint16_t* ref16 = cpu::to_bf16_column_sum(0, d_fused.data(), n, c, c, col_ref.data());
  ASSERT_EQ(col, col_ref);
  ASSERT_EQ(std::vector<uint16_t>(ref16, ref16 + n * c), d16);
}

// LayerNorm backward with a bf16 d_out (the bf16 model's d_ln), rounding d_in and summing its
// columns too, against fp64 on the same (exact) d_out values and x: d_in within fp32_err of the
// magnitude of its terms, fp32_err = 8·(C + 4)·u32 (the forward's mean/rstd and the row sums in
// fp32) plus one u32 of the accumulated value; d_w, d_b within (fp32_err + γ_n) of Σ|terms|;
// d_in_bf16 the nearest bf16 of the d_in written; its column sums within γ_n·Σ|d_in|.
TEST(Bf16Operands, LayerNormBackwardBf16DOutMatchesFp64) {
  const int64_t n = 200, c = 64;
  const std::vector<float> x = f32_normal(static_cast<size_t>(n * c), 30), w = f32_normal(static_cast<size_t>(c), 31),
                           b = f32_normal(static_cast<size_t>(c), 32), d_in0 = f32_normal(x.size(), 33);
  std::vector<uint16_t> dy = bf16_normal(x.size(), 34), d16(x.size());
  std::vector<float> out(x.size()), mean(static_cast<size_t>(n)), rstd(mean.size()), d_in = d_in0,
                     dw(w.size(), 0.f), db(w.size(), 0.f), sum(w.size(), 0.f);
  const Tensor mean_t(mean.data(), Shape{n}), rstd_t(rstd.data(), Shape{n});
  const auto cv = [](const std::vector<float>& v, Shape s) { return Tensor(const_cast<float*>(v.data()), s); };
  ops::layernorm_forward(Tensor(out.data(), Shape{n, c}), mean_t, rstd_t, cv(x, {n, c}), cv(w, {c}), cv(b, {c}));
  ops::layernorm_backward(Tensor(d_in.data(), Shape{n, c}), Tensor(dw.data(), Shape{c}), Tensor(db.data(), Shape{c}),
                          bf16_tensor(dy, Shape{n, c}), cv(x, {n, c}), cv(w, {c}), mean_t, rstd_t,
                          bf16_tensor(d16, Shape{n, c}), Tensor(sum.data(), Shape{c}));
  const double fp32_err = 8.0 * static_cast<double>(c + 4) * u32;
  std::vector<double> dw64(static_cast<size_t>(c), 0.0), db64(dw64), dw_mag(dw64), db_mag(dw64);
  for (int64_t r = 0; r < n; ++r) {
    double m = 0, v = 0;
    for (int64_t j = 0; j < c; ++j) m += x[r * c + j];
    m /= static_cast<double>(c);
    for (int64_t j = 0; j < c; ++j) v += (x[r * c + j] - m) * (x[r * c + j] - m);
    const double rs = 1.0 / std::sqrt(v / static_cast<double>(c) + ops::kLayerNormEps);
    double mdn = 0, mdnx = 0, mag_dn = 0, mag_dnx = 0;
    for (int64_t j = 0; j < c; ++j) {
      const double g = bits_to_double(dy[r * c + j]), xh = (x[r * c + j] - m) * rs, dn = g * w[j];
      mdn += dn / static_cast<double>(c), mdnx += dn * xh / static_cast<double>(c);
      mag_dn += std::abs(dn) / static_cast<double>(c), mag_dnx += std::abs(dn * xh) / static_cast<double>(c);
      dw64[j] += g * xh, db64[j] += g, dw_mag[j] += std::abs(g * xh), db_mag[j] += std::abs(g);
    }
    for (int64_t j = 0; j < c; ++j) {
      const double g = bits_to_double(dy[r * c + j]), xh = (x[r * c + j] - m) * rs, dn = g * w[j];
      const double want = d_in0[r * c + j] + rs * (dn - mdn - xh * mdnx);
      const double mag = rs * (std::abs(dn) + mag_dn + (std::abs(xh) + 1.0) * mag_dnx);
      const float got = d_in[r * c + j];
      ASSERT_LE(std::abs(got - want), fp32_err * mag + u32 * std::abs(want)) << "row " << r << " col " << j;
      ASSERT_EQ(bits_to_double(d16[r * c + j]), nearest_bf16(got)) << "row " << r << " col " << j;
    }
  }
  for (int64_t j = 0; j < c; ++j) {
    ASSERT_LE(std::abs(dw[j] - dw64[j]), (fp32_err + gamma(n)) * dw_mag[j]) << "d_w " << j;
    ASSERT_LE(std::abs(db[j] - db64[j]), gamma(n) * db_mag[j]) << "d_b " << j;
    double want = 0, mag = 0;
    for (int64_t r = 0; r < n; ++r) want += d_in[r * c + j], mag += std::abs(d_in[r * c + j]);
    ASSERT_LE(std::abs(sum[j] - want), gamma(n) * mag) << "column sum " << j;
  }
}

TEST(Bf16Operands, GeluForwardBf16MatchesFp64) {
  const int64_t n = 40000;  // above the kernels' parallel threshold
  std::vector<uint16_t> in = bf16_normal(static_cast<size_t>(n), 6, 3.f), out(in.size());
  ops::gelu_forward(bf16_tensor(out, Shape{n}), bf16_tensor(in, Shape{n}));
  for (int64_t i = 0; i < n; ++i) {
    const double x = bits_to_double(in[i]), want = gelu64(x);
    ASSERT_LE(std::abs(bits_to_double(out[i]) - want), u16 * std::abs(want) + 1e-6 * (std::abs(x) + 1.0)) << "x " << x;
  }
}

TEST(Bf16Operands, LinearForwardBf16OperandsAndOutMatchFp64) {
  const int64_t n = 150, cin = 64, cout = 48;
  std::vector<uint16_t> in = bf16_normal(static_cast<size_t>(n * cin), 7),
                        w = bf16_normal(static_cast<size_t>(cout * cin), 8);
  std::vector<float> bias = f32_normal(static_cast<size_t>(cout), 9, 2.f), w32(w.size()),
                     out32(static_cast<size_t>(n * cout));
  for (size_t i = 0; i < w.size(); ++i) w32[i] = static_cast<float>(bits_to_double(w[i]));
  std::vector<uint16_t> out16(out32.size());
  // bf16 in, bf16 weight, bf16 out; and bf16 in with an f32 weight (rounded by the op) into f32
  ops::linear_forward(bf16_tensor(out16, Shape{n, cout}), bf16_tensor(in, Shape{n, cin}),
                      bf16_tensor(w, Shape{cout, cin}), Tensor(bias.data(), Shape{cout}));
  ops::linear_forward(Tensor(out32.data(), Shape{n, cout}), bf16_tensor(in, Shape{n, cin}),
                      Tensor(w32.data(), Shape{cout, cin}), Tensor(bias.data(), Shape{cout}));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t o = 0; o < cout; ++o) {
      double acc = bias[o], mag = std::abs(bias[o]);
      for (int64_t c = 0; c < cin; ++c) {
        const double p = bits_to_double(in[r * cin + c]) * bits_to_double(w[o * cin + c]);
        acc += p;
        mag += std::abs(p);
      }
      const double f32_bound = gamma(cin) * mag + u32 * std::abs(acc);
      ASSERT_LE(std::abs(out32[r * cout + o] - acc), f32_bound) << "f32 out (" << r << ", " << o << ")";
      ASSERT_LE(std::abs(bits_to_double(out16[r * cout + o]) - acc), f32_bound + u16 * (std::abs(acc) + f32_bound))
          << "bf16 out (" << r << ", " << o << ")";
    }
}

TEST(Bf16Operands, LinearBackwardGeluBf16MatchesFp64) {
  const int64_t n = 300, cin = 32, cout = 80;  // n > 128: several row chunks in the column sums
  std::vector<uint16_t> in = bf16_normal(static_cast<size_t>(n * cin), 10),
                        w = bf16_normal(static_cast<size_t>(cout * cin), 11),
                        d_act = bf16_normal(static_cast<size_t>(n * cout), 12),
                        pre = bf16_normal(d_act.size(), 13, 2.5f);
  std::vector<float> d_in(static_cast<size_t>(n * cin)), d_w(w.size(), 0.f), d_b(static_cast<size_t>(cout), 0.f);
  ops::linear_backward_gelu(Tensor(d_in.data(), Shape{n, cin}), Tensor(d_w.data(), Shape{cout, cin}),
                            Tensor(d_b.data(), Shape{cout}), bf16_tensor(d_act, Shape{n, cout}),
                            bf16_tensor(pre, Shape{n, cout}), bf16_tensor(in, Shape{n, cin}),
                            bf16_tensor(w, Shape{cout, cin}));
  std::vector<double> g(d_act.size()), g_err(d_act.size());
  for (size_t i = 0; i < g.size(); ++i) {
    double gr = 0, mag = 0;
    gelu_grad64(bits_to_double(pre[i]), gr, mag);
    g[i] = bits_to_double(d_act[i]) * gr;
    g_err[i] = 1e-5 * std::abs(bits_to_double(d_act[i])) * mag;
  }
  const auto check = [&](double got, double want, double mag, double err, int64_t k, double rounding,
                         const char* what) {
    ASSERT_LE(std::abs(got - want), (rounding + gamma(k)) * 1.01 * mag + err + u32 * std::abs(want)) << what;
  };
  struct Dot {
    double acc = 0, mag = 0, err = 0;  // Σ g·b, Σ |g·b|, Σ g_err·|b|
  };
  const auto dot = [&](int64_t len, auto g_index, auto b_value) {
    Dot d;
    for (int64_t p = 0; p < len; ++p) {
      const size_t i = static_cast<size_t>(g_index(p));
      const double b = b_value(p);
      d.acc += g[i] * b;
      d.mag += std::abs(g[i] * b);
      d.err += g_err[i] * std::abs(b);
    }
    return d;
  };
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < cin; ++c) {  // d_in = g · w
      const Dot d = dot(
          cout, [&](int64_t o) { return r * cout + o; }, [&](int64_t o) { return bits_to_double(w[o * cin + c]); });
      check(d_in[r * cin + c], d.acc, d.mag, d.err, cout, u16, "d_in");
    }
  for (int64_t o = 0; o < cout; ++o) {
    for (int64_t c = 0; c < cin; ++c) {  // d_w = gᵀ · in
      const Dot d = dot(
          n, [&](int64_t r) { return r * cout + o; }, [&](int64_t r) { return bits_to_double(in[r * cin + c]); });
      check(d_w[o * cin + c], d.acc, d.mag, d.err, n, u16, "d_w");
    }
    const Dot d = dot(
        n, [&](int64_t r) { return r * cout + o; }, [](int64_t) { return 1.0; });  // d_b = Σ_r g
    check(d_b[o], d.acc, d.mag, d.err, n, 0.0, "d_b");
  }
}

// The MLP's c_proj backward of the CPU bf16 model: d_out f32, d_in written as bf16 (c_fc's d_act).
TEST(Bf16Operands, LinearBackwardBf16DInMatchesFp64) {
  const int64_t n = 140, cin = 72, cout = 40;
  std::vector<uint16_t> in = bf16_normal(static_cast<size_t>(n * cin), 14),
                        w = bf16_normal(static_cast<size_t>(cout * cin), 15);
  std::vector<float> d_out = f32_normal(static_cast<size_t>(n * cout), 16), d_w(w.size(), 0.f),
                     d_b(static_cast<size_t>(cout), 0.f);
  std::vector<uint16_t> d_in(static_cast<size_t>(n * cin));
  ops::linear_backward(bf16_tensor(d_in, Shape{n, cin}), Tensor(d_w.data(), Shape{cout, cin}),
                       Tensor(d_b.data(), Shape{cout}), Tensor(d_out.data(), Shape{n, cout}),
                       bf16_tensor(in, Shape{n, cin}), bf16_tensor(w, Shape{cout, cin}));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < cin; ++c) {
      double acc = 0, mag = 0;
      for (int64_t o = 0; o < cout; ++o) {
        const double p = static_cast<double>(d_out[r * cout + o]) * bits_to_double(w[o * cin + c]);
        acc += p;
        mag += std::abs(p);
      }
      const double bound = (u16 + gamma(cout)) * 1.01 * mag + u32 * std::abs(acc);  // d_out rounded, then the GEMM
      ASSERT_LE(std::abs(bits_to_double(d_in[r * cin + c]) - acc), bound + u16 * (std::abs(acc) + bound)) << "d_in";
    }
  for (int64_t o = 0; o < cout; ++o) {
    double sum = 0, mag = 0;
    for (int64_t r = 0; r < n; ++r) {
      sum += d_out[r * cout + o];
      mag += std::abs(static_cast<double>(d_out[r * cout + o]));
    }
    ASSERT_LE(std::abs(d_b[o] - sum), gamma(n) * mag + u32 * std::abs(sum)) << "d_b";
  }
  EXPECT_THROW(
      ops::linear_backward(bf16_tensor(d_in, Shape{n, cin}), Tensor(), Tensor(), Tensor(d_out.data(), Shape{n, cout}),
                           bf16_tensor(in, Shape{n, cin}), bf16_tensor(w, Shape{cout, cin}), true),
      std::exception);  // a bf16 d_in cannot be accumulated into
}

// to_bf16_column_sum's column sums, bitwise the documented order (gemm_bf16.h): per column, the
// rows of each 128-row chunk in order from 0 in fp32, then the chunks in order from 0, then added
// to col_sum; the terms x, or x·gelu'(pre) for bf16 x and pre (the fp32 evaluation); the bf16 copy
// the nearest bf16 of each term. 300 rows: two full chunks and a partial one; a row stride > cols.
TEST(Bf16Operands, ColumnSumIsTheChunkOrder) {
  const int64_t rows = 300, cols = 70, ld = 75;
  // x over 24 binades, so that fp32 sums of bf16 values are not exact and the order shows.
  std::vector<uint16_t> x = bf16_normal(static_cast<size_t>(rows * ld), 50);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = bf16::from_float(std::ldexp(bf16::from_bits(x[i]).to_float(), static_cast<int>(i * 7 % 24) - 12)).bits;
  const std::vector<uint16_t> pre = bf16_normal(x.size(), 51, 2.f);
  const std::vector<float> col0 = f32_normal(static_cast<size_t>(cols), 52);
  for (const bool gelu : {false, true}) {
    std::vector<float> col = col0;
    const uint16_t* d = cpu::to_bf16_column_sum(0, x.data(), rows, cols, ld, col.data(), gelu ? pre.data() : nullptr);
    for (int64_t c = 0; c < cols; ++c) {
      float total = 0;
      for (int64_t r0 = 0; r0 < rows; r0 += 128) {
        float chunk = 0;
        for (int64_t r = r0; r < std::min(rows, r0 + 128); ++r) {
          const size_t i = static_cast<size_t>(r * ld + c);
          const float xv = bf16::from_bits(x[i]).to_float();
          const float v = gelu ? xv * cpu::gelu_grad_f32(bf16::from_bits(pre[i]).to_float()) : xv;
          chunk += v;
          ASSERT_EQ(d[r * cols + c], bf16::from_float(v).bits) << "gelu " << gelu << " row " << r << " col " << c;
        }
        total += chunk;
      }
      const float want = col0[static_cast<size_t>(c)] + total;
      ASSERT_EQ(std::bit_cast<uint32_t>(col[static_cast<size_t>(c)]), std::bit_cast<uint32_t>(want))
          << "gelu " << gelu << " column " << c;
    }
  }
}
