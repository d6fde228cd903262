// The fused flash-attention kernels (kernels/flash_*.cuh, bf16, D = 16/32/64/128) through
// ops::attention_forward/backward on the CUDA device, against the fp64 naive reference
// (attention_reference.h) with FlashAttention's rule (cuda_case.h): per output,
//   NMSE(cuda, fp64) ≤ 3²·NMSE(plain bf16, fp64) + 4·(8u)²(K + 16),
// where "plain bf16" is the fp64 reference on the bf16-rounded inputs with its activation
// outputs rounded to bf16, and its backward reading the bf16-stored o for D_i = <do_i, o_i> (as
// every kernel that stores o in bf16 must; the prior gradients are sums of dS with cancellation,
// so that rounding dominates d_slope). The CPU kernel (fp32) is checked against the same fp64 reference with
// the fp32 part of the rule. Shapes: T not a multiple of the tiles, T = 1, GQA, decode (Tq < Tk),
// every prior setting (slope, key bias, GOAT lanes R = 0/4/8 folded into q/k as goat.md §3 at
// absolute position offsets), T = 16× a training length of 16, the model's fused-QKV strided
// views; fact 11 (goat.md §6) at t ≈ 16k
// with slope 0.7; determinism (two backward runs bitwise identical). Skips without a device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>

#include "attention_reference.h"
#include "backend/cuda/cuda_ops.h"
#include "core/device_info.h"
#include "core/philox.h"
#include "ops/attention.h"
#include "tolerance.h"

#if defined(GOATLM_CUDA_EMU)
#include "simt/emu/testing.h"
#endif

namespace goat::cuda_test {
namespace {

struct FlashCase {
  std::string name;
  RefDims m;  // scale is set from D and R
  bool slope = true, key_bias = true;
  int R = 0;            // GOAT lanes in the last 2R + 1 dims of q/k (then scale 1, content pre-scaled)
  int64_t pos0 = 0;     // absolute position of key 0 (what the lanes see)
  float slope_value = 0.f;  // 0: 0.1 + 0.2·|N(0, 1)| per kv head
  bool fused = false;   // q/k/v (and dq/dk/dv) as views into one (B, T, (H + 2Hkv)·D) buffer, o and
                        // d_o into (B, T, H·D): the model's layout (needs Tq = Tk)
  bool in_kernel = false;  // the R lanes built by the kernel from (a, b) per kv head (goat.md's
                           // frequencies), column D − 1 zero, u(j) as the key bias (run_lanes)
};

// gtest prints a parameter through this (instead of its bytes).
void PrintTo(const FlashCase& c, std::ostream* os) { *os << c.name; }

// fp32 inputs of a case (what the model would hold before the bf16 cast).
struct Inputs {
  std::vector<float> q, k, v, d_o, slope, key_bias;
  // in_kernel cases: q/k as the kernel reads them (content unscaled, random values in the lane
  // columns, which it must overwrite) and the lane parameters (Hkv, R); q/k above are folded.
  std::vector<float> q_raw, k_raw, lane_a, lane_b;
};

uint64_t seed_of(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (char ch : s) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
  return h;
}

Inputs make_inputs(FlashCase& c) {
  RefDims& m = c.m;
  const uint64_t seed = seed_of(c.name);
  auto normals = [&](uint64_t stream, int64_t n) {
    const Rng rng(seed, RngPurpose::test, stream, 0);
    std::vector<float> x(static_cast<size_t>(n));
    for (size_t i = 0; i < x.size(); ++i) x[i] = rng.normal(i);
    return x;
  };
  Inputs in;
  in.q = normals(0, m.B * m.H * m.Tq * m.D);
  in.k = normals(1, m.B * m.Hkv * m.Tk * m.D);
  in.v = normals(2, m.B * m.Hkv * m.Tk * m.D);
  in.d_o = normals(3, m.B * m.H * m.Tq * m.D);
  if (c.slope) {
    in.slope = normals(4, m.Hkv);
    for (float& s : in.slope) s = c.slope_value > 0 ? c.slope_value : 0.1f + 0.2f * std::fabs(s);
  }
  if (c.key_bias) in.key_bias = normals(5, m.B * m.Hkv * m.Tk);
  const int64_t lanes = c.R > 0 || c.in_kernel ? 2 * c.R + 1 : 0, dc = m.D - lanes;
  m.scale = lanes ? 1.0 : 1.0 / std::sqrt(static_cast<double>(m.D));
  if (!lanes) return in;
  // goat.md §3: q~ = [q_c/sqrt(d_c), a∘cos(wt_i) + b∘sin(wt_i), a∘sin(wt_i) − b∘cos(wt_i), 1],
  //             k~ = [k_c, cos(wt_j), sin(wt_j), u(j)], per query head (a, b).
  const std::vector<float> ab = normals(6, m.H * 2 * c.R), u = normals(7, m.B * m.Hkv * m.Tk);
  const int64_t shift = m.Tk - m.Tq;
  // In-kernel lanes: goat.md's frequencies and (a, b) per kv head, as the model has them.
  auto freq = [&](int r) { return std::pow(10000.0, -static_cast<double>(r) / (c.in_kernel ? std::max(c.R - 1, 1) : c.R)); };
  auto ab_of = [&](int64_t h, int r, int which) {
    const int64_t row = c.in_kernel ? h / (m.H / m.Hkv) : h;
    return static_cast<double>(ab[static_cast<size_t>((row * c.R + r) * 2 + which)]);
  };
  if (c.in_kernel) {
    in.q_raw = in.q, in.k_raw = in.k;
    for (int64_t hk = 0; hk < m.Hkv; ++hk)
      for (int r = 0; r < c.R; ++r) {
        in.lane_a.push_back(static_cast<float>(ab_of(hk * (m.H / m.Hkv), r, 0)));
        in.lane_b.push_back(static_cast<float>(ab_of(hk * (m.H / m.Hkv), r, 1)));
      }
  }
  for (int64_t b = 0; b < m.B; ++b)
    for (int64_t h = 0; h < m.H; ++h)
      for (int64_t i = 0; i < m.Tq; ++i) {
        float* q = &in.q[static_cast<size_t>(((b * m.H + h) * m.Tq + i) * m.D)];
        for (int64_t d = 0; d < dc; ++d) q[d] /= std::sqrt(static_cast<float>(dc));
        const double t = static_cast<double>(c.pos0 + shift + i);
        for (int r = 0; r < c.R; ++r) {
          const double w = freq(r), a = ab_of(h, r, 0), bb = ab_of(h, r, 1);
          q[dc + r] = static_cast<float>(a * std::cos(w * t) + bb * std::sin(w * t));
          q[dc + c.R + r] = static_cast<float>(a * std::sin(w * t) - bb * std::cos(w * t));
        }
        q[m.D - 1] = c.in_kernel ? 0.f : 1.f;
      }
  for (int64_t b = 0; b < m.B; ++b)
    for (int64_t hk = 0; hk < m.Hkv; ++hk)
      for (int64_t j = 0; j < m.Tk; ++j) {
        float* k = &in.k[static_cast<size_t>(((b * m.Hkv + hk) * m.Tk + j) * m.D)];
        const double t = static_cast<double>(c.pos0 + j);
        for (int r = 0; r < c.R; ++r) {
          k[dc + r] = static_cast<float>(std::cos(freq(r) * t));
          k[dc + c.R + r] = static_cast<float>(std::sin(freq(r) * t));
        }
        k[m.D - 1] = c.in_kernel ? 0.f : u[static_cast<size_t>((b * m.Hkv + hk) * m.Tk + j)];
      }
  return in;
}

std::vector<double> widen(const std::vector<float>& x, bool round_bf16) {
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = round_bf16 ? bf16_round(x[i]) : x[i];
  return y;
}

RefOutputs reference(const FlashCase& c, const Inputs& in, bool plain_bf16) {
  RefInputs r{widen(in.q, plain_bf16), widen(in.k, plain_bf16), widen(in.v, plain_bf16),
              widen(in.d_o, plain_bf16), widen(in.slope, false), widen(in.key_bias, false), plain_bf16, plain_bf16};
  RefOutputs o = attention_reference(c.m, r);
  if (plain_bf16)
    for (auto* v : {&o.o, &o.dq, &o.dk, &o.dv})
      for (double& x : *v) x = bf16_round(static_cast<float>(x));
  return o;
}

// Outputs of one run of the op (CPU fp32 or CUDA bf16), widened to double.
struct OpRun {
  std::vector<double> o, lse, dq, dk, dv, d_key_bias, d_slope;
  std::vector<float> raw_grads;  // dq, dk, dv (as float), d_key_bias, d_slope: for bitwise checks
};

class Buffers {
 public:
  explicit Buffers(Device dev) : dev_(dev) {}
  ~Buffers() {
    for (void* p : dev_ptrs_) cuda::free(p);
  }
  Tensor make(const std::vector<float>& init, Shape shape, bool act) {
    const size_t n = static_cast<size_t>(shape.numel());
    if (dev_ == Device::cpu) {
      host_.push_back(init.empty() ? std::vector<float>(n, std::numeric_limits<float>::quiet_NaN()) : init);
      return Tensor(host_.back().data(), shape, DType::f32, Device::cpu);
    }
    const DType dt = act ? DType::bf16 : DType::f32;
    void* p = cuda::alloc(std::max<size_t>(n, 1) * dtype_size(dt));
    dev_ptrs_.push_back(p);
    if (!init.empty()) {
      if (act) {
        std::vector<bf16> b(n);
        for (size_t i = 0; i < n; ++i) b[i] = bf16::from_float(init[i]);
        cuda::copy_to_device(p, b.data(), n * 2);
      } else {
        cuda::copy_to_device(p, init.data(), n * 4);
      }
    }
    return Tensor(p, shape, dt, Device::cuda);
  }
  std::vector<float> read(const Tensor& t) const {
    const size_t n = static_cast<size_t>(t.shape.numel());
    std::vector<float> out(n);
    if (t.device == Device::cpu) {
      std::memcpy(out.data(), t.data, n * 4);
    } else if (t.dtype == DType::f32) {
      cuda::copy_to_host(out.data(), t.data, n * 4);
    } else {
      std::vector<bf16> b(n);
      cuda::copy_to_host(b.data(), t.data, n * 2);
      for (size_t i = 0; i < n; ++i) out[i] = b[i].to_float();
    }
    return out;
  }

 private:
  Device dev_;
  std::vector<std::vector<float>> host_;  // std::vector of vectors: data pointers survive growth
  std::vector<void*> dev_ptrs_;
};

// (B, H, T, D) view of columns [col0, col0 + H·D) of a contiguous (B, T, W) tensor.
Tensor head_view(const Tensor& base, int64_t H, int64_t D, int64_t col0) {
  const int64_t B = base.shape[0], T = base.shape[1], W = base.shape[2];
  Tensor t(static_cast<char*>(base.data) + col0 * static_cast<int64_t>(dtype_size(base.dtype)), Shape{B, H, T, D},
           base.dtype, base.device);
  t.strides = {T * W, D, W, 1, 0, 0};
  return t;
}

// Copies x (B, H, T, D) into those columns of f (B, T, W), or back when `to_heads`.
void fuse(std::vector<float>& x, std::vector<float>& f, Shape heads, int64_t W, int64_t col0, bool to_heads) {
  const int64_t B = heads[0], H = heads[1], T = heads[2], D = heads[3];
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t d = 0; d < D; ++d) {
          float& xe = x[static_cast<size_t>(((b * H + h) * T + t) * D + d)];
          float& fe = f[static_cast<size_t>((b * T + t) * W + col0 + h * D + d)];
          if (to_heads) xe = fe; else fe = xe;
        }
}

// The case's q/k/v/o/d_o/dq/dk/dv in its layout (contiguous or fused), on one device.
struct Operands {
  Tensor q, k, v, o, d_o, dq, dk, dv;
  Tensor qkv, out, d_out, dqkv;  // the fused buffers (unset when contiguous)
};

Operands make_operands(const FlashCase& c, const Inputs& in, Buffers& buf) {
  const RefDims& m = c.m;
  const Shape qs{m.B, m.H, m.Tq, m.D}, ks{m.B, m.Hkv, m.Tk, m.D};
  Operands x;
  if (!c.fused) {
    x.q = buf.make(in.q, qs, true), x.k = buf.make(in.k, ks, true), x.v = buf.make(in.v, ks, true);
    x.o = buf.make({}, qs, true), x.d_o = buf.make(in.d_o, qs, true);
    x.dq = buf.make({}, qs, true), x.dk = buf.make({}, ks, true), x.dv = buf.make({}, ks, true);
    return x;
  }
  const int64_t T = m.Tq, C = m.H * m.D, W = C + 2 * m.Hkv * m.D;
  std::vector<float> f(static_cast<size_t>(m.B * T * W)), g(static_cast<size_t>(m.B * T * C));
  Inputs copy = in;
  fuse(copy.q, f, qs, W, 0, false), fuse(copy.k, f, ks, W, C, false), fuse(copy.v, f, ks, W, C + m.Hkv * m.D, false);
  fuse(copy.d_o, g, qs, C, 0, false);
  x.qkv = buf.make(f, {m.B, T, W}, true), x.dqkv = buf.make({}, {m.B, T, W}, true);
  x.out = buf.make({}, {m.B, T, C}, true), x.d_out = buf.make(g, {m.B, T, C}, true);
  x.q = head_view(x.qkv, m.H, m.D, 0), x.k = head_view(x.qkv, m.Hkv, m.D, C);
  x.v = head_view(x.qkv, m.Hkv, m.D, C + m.Hkv * m.D);
  x.dq = head_view(x.dqkv, m.H, m.D, 0), x.dk = head_view(x.dqkv, m.Hkv, m.D, C);
  x.dv = head_view(x.dqkv, m.Hkv, m.D, C + m.Hkv * m.D);
  x.o = head_view(x.out, m.H, m.D, 0), x.d_o = head_view(x.d_out, m.H, m.D, 0);
  return x;
}

OpRun run_op(const FlashCase& c, const Inputs& in, Device dev) {
  const RefDims& m = c.m;
  Buffers buf(dev);
  Operands x = make_operands(c, in, buf);
  ops::AttentionArgs a;
  a.q = x.q, a.k = x.k, a.v = x.v, a.o = x.o;
  a.lse = buf.make({}, {m.B, m.H, m.Tq}, false);
  Tensor slope, kb, d_slope, d_kb;
  if (c.slope) slope = buf.make(in.slope, {m.Hkv}, false), d_slope = buf.make({}, {m.Hkv}, false);
  if (c.key_bias) kb = buf.make(in.key_bias, {m.B, m.Hkv, m.Tk}, false), d_kb = buf.make({}, {m.B, m.Hkv, m.Tk}, false);
  a.scale = static_cast<float>(m.scale);
  a.causal = m.causal;
  a.prior.slope = c.slope ? slope.f32() : nullptr;
  a.prior.key_bias = c.key_bias ? kb.f32() : nullptr;
  ops::attention_forward(a);
  ops::AttentionGrads g;
  g.dq = x.dq, g.dk = x.dk, g.dv = x.dv;
  g.d_slope = c.slope ? d_slope.f32() : nullptr;
  g.d_key_bias = c.key_bias ? d_kb.f32() : nullptr;
  ops::attention_backward(a, x.d_o, g);
  OpRun r;
  // A view's elements in (B, H, T, D) order: read back whole, then taken out of its fused buffer.
  auto elements = [&](const Tensor& view, const Tensor& fused) {
    if (!c.fused) return buf.read(view);
    std::vector<float> f = buf.read(fused), heads(static_cast<size_t>(view.numel()));
    const int64_t col = (static_cast<char*>(view.data) - static_cast<char*>(fused.data)) /
                        static_cast<int64_t>(dtype_size(view.dtype));
    fuse(heads, f, view.shape, fused.shape[2], col, true);
    return heads;
  };
  auto take = [&](const std::vector<float>& v, std::vector<double>& dst) {
    dst.assign(v.begin(), v.end());
    r.raw_grads.insert(r.raw_grads.end(), v.begin(), v.end());
  };
  take(elements(a.o, x.out), r.o), take(buf.read(a.lse), r.lse);
  r.raw_grads.clear();
  take(elements(g.dq, x.dqkv), r.dq), take(elements(g.dk, x.dqkv), r.dk), take(elements(g.dv, x.dqkv), r.dv);
  if (c.key_bias) take(buf.read(d_kb), r.d_key_bias);
  if (c.slope) take(buf.read(d_slope), r.d_slope);
  return r;
}

double fp32_floor(const RefDims& m) { return fp32_tol(std::max(m.Tk, m.D) * m.B * m.Tq * (m.H / m.Hkv)); }

bool have_device() { return cuda::built() && cuda::device_count() > 0; }

// d_slope[hk] = Σ dS_ij (t_j − t_i) is a handful of scalars, each a sum whose terms cancel
// (Σ_j dS_ij = 0 per row), so one draw of the plain reference's error is no stable yardstick.
// Its bf16 error is dominated by the per-row error of D_i = <do_i, o_i> (o stored in bf16, P
// rounded for P·V), which enters as −Σ_i w_i δD_i. The plain reference realises δD_i on every
// row; σ²_hk = Σ_i w_i² δD_i² is the variance any kernel with independent errors of that size
// has. Limit per element: |flash − fp64| ≤ 3·sqrt(σ²_hk + (plain − fp64)²) + sqrt(floor)·|fp64|.
void check_d_slope(const FlashCase& c, const RefOutputs& ref, const RefOutputs& plain, const std::vector<double>& dev,
                   double floor, bool verbose) {
  const RefDims& m = c.m;
  const int64_t group = m.H / m.Hkv;
  for (int64_t hk = 0; hk < m.Hkv; ++hk) {
    double var = 0;
    for (int64_t b = 0; b < m.B; ++b)
      for (int64_t h = hk * group; h < (hk + 1) * group; ++h)
        for (int64_t i = 0; i < m.Tq; ++i) {
          const size_t r = static_cast<size_t>((b * m.H + h) * m.Tq + i);
          const double dd = plain.delta[r] - ref.delta[r];
          var += ref.w[r] * ref.w[r] * dd * dd;
        }
    const size_t k = static_cast<size_t>(hk);
    const double plain_err = plain.d_slope[k] - ref.d_slope[k];
    const double limit = 3 * std::sqrt(var + plain_err * plain_err) + std::sqrt(floor) * std::fabs(ref.d_slope[k]);
    const double err = std::fabs(dev[k] - ref.d_slope[k]);
    if (verbose)
      std::printf("%s d_slope[%lld]: fp64 %.6g plain %.6g flash %.6g: error %.3g limit %.3g (sigma %.3g)\n",
                  c.name.c_str(), static_cast<long long>(hk), ref.d_slope[k], plain.d_slope[k], dev[k], err, limit,
                  std::sqrt(var));
    EXPECT_LE(err, limit) << c.name << " flash d_slope[" << hk << "]";
  }
}

// Checks the CPU kernel (fp32 rule) and the CUDA flash kernel (bf16 rule) against fp64.
void check_case(FlashCase c) {
  const Inputs in = make_inputs(c);
  ASSERT_TRUE(cuda::attention_fused(DType::bf16, c.m.D)) << "the flash kernel is not the bf16 default";
  const RefOutputs ref = reference(c, in, false), plain = reference(c, in, true);
  const OpRun cpu = run_op(c, in, Device::cpu), dev = run_op(c, in, Device::cuda);
  const double floor = fp32_floor(c.m);
  const bool verbose = std::getenv("GOATLM_OPS_VERBOSE") != nullptr;
  struct Out {
    const char* name;
    const std::vector<double>&ref, &plain, &cpu, &dev;
  };
  std::vector<Out> outs = {{"o", ref.o, plain.o, cpu.o, dev.o},      {"lse", ref.lse, plain.lse, cpu.lse, dev.lse},
                           {"dq", ref.dq, plain.dq, cpu.dq, dev.dq}, {"dk", ref.dk, plain.dk, cpu.dk, dev.dk},
                           {"dv", ref.dv, plain.dv, cpu.dv, dev.dv}};
  if (c.key_bias) outs.push_back({"d_key_bias", ref.d_key_bias, plain.d_key_bias, cpu.d_key_bias, dev.d_key_bias});
  for (const Out& o : outs) {
    const double e_cpu = nmse(o.cpu, o.ref), e_dev = nmse(o.dev, o.ref);
    const double limit = 9 * nmse(o.plain, o.ref) + floor;
    if (verbose)
      std::printf("%s %s: cpu %.3g (limit %.3g), flash %.3g (limit %.3g)\n", c.name.c_str(), o.name, e_cpu, floor,
                  e_dev, limit);
    EXPECT_LE(e_cpu, floor) << c.name << " cpu " << o.name;
    EXPECT_LE(e_dev, limit) << c.name << " flash " << o.name;
  }
  if (!c.slope) return;
  EXPECT_LE(nmse(cpu.d_slope, ref.d_slope), floor) << c.name << " cpu d_slope";
  check_d_slope(c, ref, plain, dev.d_slope, floor, verbose);
}

// ---- GOAT lanes built inside the kernels (cuda::AttentionDesc::lane_*, flash_lanes.cuh) ----

struct LaneRun {
  OpRun out;                         // o, lse, dq, dk, dv, d_key_bias, d_slope as the kernel wrote them
  std::vector<double> d_a, d_b;      // (Hkv, R)
  std::vector<float> raw;            // every output, for bitwise comparisons
};

// The raw q/k (content unscaled, junk in the lane columns) through cuda::attention_* with the
// lane parameters: the kernels build the lanes, scale = 1/sqrt(dc) applies to the content.
LaneRun run_lanes(const FlashCase& c, const Inputs& in) {
  const RefDims& m = c.m;
  const int64_t dc = m.D - (2 * c.R + 1);
  Buffers buf(Device::cuda);
  const Shape qs{m.B, m.H, m.Tq, m.D}, ks{m.B, m.Hkv, m.Tk, m.D}, ls{m.Hkv, c.R};
  Tensor q = buf.make(in.q_raw, qs, true), k = buf.make(in.k_raw, ks, true), v = buf.make(in.v, ks, true);
  Tensor o = buf.make({}, qs, true), d_o = buf.make(in.d_o, qs, true), lse = buf.make({}, {m.B, m.H, m.Tq}, false);
  Tensor dq = buf.make({}, qs, true), dk = buf.make({}, ks, true), dv = buf.make({}, ks, true);
  Tensor la = buf.make(in.lane_a, ls, false), lb = buf.make(in.lane_b, ls, false);
  Tensor dla = buf.make({}, ls, false), dlb = buf.make({}, ls, false);
  Tensor slope, kb, d_slope, d_kb;
  if (c.slope) slope = buf.make(in.slope, {m.Hkv}, false), d_slope = buf.make({}, {m.Hkv}, false);
  if (c.key_bias) kb = buf.make(in.key_bias, {m.B, m.Hkv, m.Tk}, false), d_kb = buf.make({}, {m.B, m.Hkv, m.Tk}, false);
  auto strides = [](const Shape& s, int64_t* out) { out[0] = s[1] * s[2] * s[3], out[1] = s[2] * s[3], out[2] = s[3]; };
  cuda::AttentionDesc d;
  d.q = q.data, d.k = k.data, d.v = v.data, d.o = o.data, d.lse = lse.f32();
  d.slope = c.slope ? slope.f32() : nullptr, d.key_bias = c.key_bias ? kb.f32() : nullptr;
  strides(qs, d.q_s), strides(ks, d.k_s), strides(ks, d.v_s), strides(qs, d.o_s);
  d.B = m.B, d.H = m.H, d.Hkv = m.Hkv, d.Tq = m.Tq, d.Tk = m.Tk, d.D = m.D;
  d.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dc))), d.causal = m.causal;
  d.lanes = true, d.lane_a = la.f32(), d.lane_b = lb.f32(), d.lane_R = c.R, d.lane_dc = dc;
  d.k_pos0 = c.pos0, d.q_pos0 = c.pos0 + m.Tk - m.Tq;
  cuda::attention_forward(d, DType::bf16);
  d.d_o = d_o.data, d.dq = dq.data, d.dk = dk.data, d.dv = dv.data;
  strides(qs, d.do_s), strides(qs, d.dq_s), strides(ks, d.dk_s), strides(ks, d.dv_s);
  d.d_key_bias = c.key_bias ? d_kb.f32() : nullptr, d.d_slope = c.slope ? d_slope.f32() : nullptr;
  d.d_lane_a = dla.f32(), d.d_lane_b = dlb.f32();
  cuda::attention_backward(d, DType::bf16);
  LaneRun r;
  auto take = [&](const Tensor& t, std::vector<double>& dst) {
    const std::vector<float> x = buf.read(t);
    dst.assign(x.begin(), x.end());
    r.raw.insert(r.raw.end(), x.begin(), x.end());
  };
  take(o, r.out.o), take(lse, r.out.lse), take(dq, r.out.dq), take(dk, r.out.dk), take(dv, r.out.dv);
  if (c.key_bias) take(d_kb, r.out.d_key_bias);
  if (c.slope) take(d_slope, r.out.d_slope);
  if (c.R > 0) take(dla, r.d_a), take(dlb, r.d_b);
  return r;
}

// What the in-kernel run must produce, from a reference run on the folded inputs: dq content is
// ∂L/∂q_c = ∂L/∂q~_c / sqrt(dc), the lane columns of dq and dk are 0, and
// ∂a_r = Σ dq~_cos,r cos(w_r t_i) + dq~_sin,r sin(w_r t_i), ∂b_r = Σ dq~_cos,r sin − dq~_sin,r cos
// (goat.md §4) over batch, the group's heads and rows, in fp64.
struct LaneExpect {
  RefOutputs o;
  std::vector<double> d_a, d_b;
};
LaneExpect lane_expect(const FlashCase& c, RefOutputs ref) {
  const RefDims& m = c.m;
  const int64_t R = c.R, dc = m.D - (2 * R + 1), group = m.H / m.Hkv;
  LaneExpect e;
  e.d_a.assign(static_cast<size_t>(m.Hkv * R), 0.0), e.d_b = e.d_a;
  for (int64_t b = 0; b < m.B; ++b)
    for (int64_t h = 0; h < m.H; ++h)
      for (int64_t i = 0; i < m.Tq; ++i) {
        double* g = &ref.dq[static_cast<size_t>(((b * m.H + h) * m.Tq + i) * m.D)];
        const double t = static_cast<double>(c.pos0 + m.Tk - m.Tq + i);
        for (int64_t r = 0; r < R; ++r) {
          const double w = std::pow(10000.0, -static_cast<double>(r) / static_cast<double>(std::max<int64_t>(R - 1, 1)));
          const size_t ar = static_cast<size_t>((h / group) * R + r);
          e.d_a[ar] += g[dc + r] * std::cos(w * t) + g[dc + R + r] * std::sin(w * t);
          e.d_b[ar] += g[dc + r] * std::sin(w * t) - g[dc + R + r] * std::cos(w * t);
        }
        for (int64_t d = 0; d < dc; ++d) g[d] /= std::sqrt(static_cast<double>(dc));
        for (int64_t d = dc; d < m.D; ++d) g[d] = 0;
      }
  for (size_t x = 0; x < ref.dk.size(); ++x)
    if (static_cast<int64_t>(x % static_cast<size_t>(m.D)) >= dc) ref.dk[x] = 0;
  e.o = std::move(ref);
  return e;
}

// The in-kernel lanes against fp64 (FlashAttention's rule, as check_case) and the CPU kernel on
// the folded inputs against the same fp64 reference; the lane columns of dq, dk exactly 0.
void check_lanes_case(FlashCase c) {
  c.in_kernel = true;
  const Inputs in = make_inputs(c);
  const RefOutputs ref_f = reference(c, in, false), plain_f = reference(c, in, true);
  const LaneExpect ref = lane_expect(c, ref_f), plain = lane_expect(c, plain_f);
  const OpRun cpu = run_op(c, in, Device::cpu);
  const LaneRun dev = run_lanes(c, in);
  const double floor = fp32_floor(c.m);
  const bool verbose = std::getenv("GOATLM_OPS_VERBOSE") != nullptr;
  struct Out {
    const char* name;
    const std::vector<double>&ref, &plain, &dev;
  };
  std::vector<Out> outs = {{"o", ref.o.o, plain.o.o, dev.out.o},     {"lse", ref.o.lse, plain.o.lse, dev.out.lse},
                           {"dq", ref.o.dq, plain.o.dq, dev.out.dq}, {"dk", ref.o.dk, plain.o.dk, dev.out.dk},
                           {"dv", ref.o.dv, plain.o.dv, dev.out.dv}};
  if (c.key_bias) outs.push_back({"d_key_bias", ref.o.d_key_bias, plain.o.d_key_bias, dev.out.d_key_bias});
  if (c.R > 0) outs.push_back({"d_a", ref.d_a, plain.d_a, dev.d_a}), outs.push_back({"d_b", ref.d_b, plain.d_b, dev.d_b});
  for (const Out& o : outs) {
    const double e_dev = nmse(o.dev, o.ref), limit = 9 * nmse(o.plain, o.ref) + floor;
    if (verbose) std::printf("%s %s: flash %.3g (limit %.3g)\n", c.name.c_str(), o.name, e_dev, limit);
    EXPECT_LE(e_dev, limit) << c.name << " flash " << o.name;
  }
  for (const auto& [name, cpu_v, ref_v] : {std::tuple{"o", &cpu.o, &ref_f.o}, std::tuple{"dq", &cpu.dq, &ref_f.dq},
                                           std::tuple{"dk", &cpu.dk, &ref_f.dk}})
    EXPECT_LE(nmse(*cpu_v, *ref_v), floor) << c.name << " cpu " << name;
  const int64_t dc = c.m.D - (2 * c.R + 1);
  for (const std::vector<double>* g : {&dev.out.dq, &dev.out.dk})
    for (size_t x = 0; x < g->size(); ++x)
      if (static_cast<int64_t>(x % static_cast<size_t>(c.m.D)) >= dc) {
        ASSERT_EQ((*g)[x], 0.0) << c.name << " lane gradient";
      }
  if (c.slope) check_d_slope(c, ref.o, plain.o, dev.out.d_slope, floor, verbose);
}

TEST(FlashAttentionLanes, InKernelLanesMatchFp64) {
  if (!have_device()) GTEST_SKIP() << "no CUDA device: " << cuda_status();
  // R = 0 / 4 / 8, GQA, decode at an offset, t ≈ 16k, D 16..128, T not a tile multiple.
  for (const FlashCase& c : {FlashCase{"lanes_d64_r4_gqa", {1, 4, 2, 77, 77, 64, true, 0}, true, true, 4},
                             FlashCase{"lanes_d64_r0", {1, 2, 1, 50, 50, 64, true, 0}, true, true, 0},
                             FlashCase{"lanes_d128_r8_decode", {1, 2, 2, 20, 90, 128, true, 0}, true, true, 8, 5000},
                             FlashCase{"lanes_d64_r8_t16k", {1, 2, 1, 16, 128, 64, true, 0}, true, true, 8, 16384 - 128, 0.7f},
                             FlashCase{"lanes_d16_r2_gqa", {2, 4, 2, 70, 70, 16, true, 0}, true, true, 2},
                             FlashCase{"lanes_d32_r4_noncausal", {1, 2, 2, 40, 70, 32, false, 0}, false, false, 4}})
    check_lanes_case(c);
}

// Two runs with in-kernel lanes give bitwise-identical outputs and (a, b) gradients.
TEST(FlashAttentionLanes, LaneGradientsAreDeterministic) {
  if (!have_device()) GTEST_SKIP() << "no CUDA device: " << cuda_status();
  FlashCase c{"lanes_determinism", {2, 4, 2, 100, 100, 64, true, 0}, true, true, 4, 0, 0.f, false, true};
  const Inputs in = make_inputs(c);
  const LaneRun a = run_lanes(c, in), b = run_lanes(c, in);
  ASSERT_EQ(a.raw.size(), b.raw.size());
  EXPECT_EQ(0, std::memcmp(a.raw.data(), b.raw.data(), a.raw.size() * sizeof(float)));
}

class FlashAttentionTest : public ::testing::TestWithParam<FlashCase> {};

TEST_P(FlashAttentionTest, MatchesFp64) {
  if (!have_device()) GTEST_SKIP() << "no CUDA device: " << cuda_status();
  check_case(GetParam());
}

// Training length 16 for the "16×" case: T = 256.
INSTANTIATE_TEST_SUITE_P(
    Flash, FlashAttentionTest,
    ::testing::Values(FlashCase{"d64_causal_t77_gqa", {1, 4, 2, 77, 77, 64, true, 0}},
                      FlashCase{"d128_causal_t1", {2, 2, 2, 1, 1, 128, true, 0}},
                      FlashCase{"d64_decode_tq5_tk133", {1, 2, 1, 5, 133, 64, true, 0}},
                      FlashCase{"d128_noncausal_noprior", {1, 2, 2, 40, 70, 128, false, 0}, false, false},
                      FlashCase{"d64_slope_only", {2, 2, 1, 33, 33, 64, true, 0}, true, false},
                      FlashCase{"d64_key_bias_only", {1, 2, 2, 50, 50, 64, true, 0}, false, true},
                      FlashCase{"d64_goat_r4", {1, 2, 1, 96, 96, 64, true, 0}, true, false, 4},
                      FlashCase{"d128_goat_r8_key_bias_gqa", {1, 4, 2, 65, 65, 128, true, 0}, true, true, 8},
                      FlashCase{"d64_goat_r8_offset_decode", {1, 2, 2, 20, 90, 64, true, 0}, true, false, 8, 5000},
                      FlashCase{"d64_goat_r4_t256_16x", {1, 2, 1, 256, 256, 64, true, 0}, true, false, 4},
                      FlashCase{"d64_fused_qkv_gqa_goat_r4", {2, 4, 2, 70, 70, 64, true, 0}, true, true, 4, 0, 0.f, true},
                      FlashCase{"d128_fused_qkv", {1, 2, 2, 33, 33, 128, true, 0}, true, false, 0, 0, 0.f, true},
                      // Small head dims (tiny.json has D = 16): one k-step of the m16n8k16 tiles.
                      FlashCase{"d16_causal_t77_gqa", {1, 4, 2, 77, 77, 16, true, 0}},
                      FlashCase{"d16_goat_r2_fused_qkv_gqa", {2, 4, 2, 70, 70, 16, true, 0}, true, true, 2, 0, 0.f, true},
                      FlashCase{"d32_goat_r4_offset_decode", {1, 2, 1, 20, 90, 32, true, 0}, true, false, 4, 5000},
                      FlashCase{"d32_noncausal_noprior", {2, 2, 2, 40, 70, 32, false, 0}, false, false}),
    [](const ::testing::TestParamInfo<FlashCase>& i) { return i.param.name; });

// goat.md §6 fact 11: at t ≈ 16k with slope 0.7 the error stays at the bf16-of-content level,
// because the recency is added per pair in fp32. The same model with the recency folded into a
// bf16 key lane (slope·t_j in bf16: spacing 64 at 11k) is shown to violate the same limit, so
// the check can fail.
TEST(FlashAttention, Fact11RecencyNotQuantisedAt16k) {
  if (!have_device()) GTEST_SKIP() << "no CUDA device: " << cuda_status();
  FlashCase c{"fact11_t16k_slope07", {1, 2, 1, 16, 128, 64, true, 0}, true, true, 4, 16384 - 128, 0.7f};
  check_case(c);
  const Inputs in = make_inputs(c);
  const RefOutputs ref = reference(c, in, false), plain = reference(c, in, true);
  // Folded: z_ij = content + lanes + u(j) + bf16(slope·t_j) − slope·t_i (the row constant drops out).
  FlashCase f = c;
  f.slope = false;
  Inputs fin = in;
  for (int64_t j = 0; j < c.m.Tk; ++j)
    fin.key_bias[static_cast<size_t>(j)] += bf16_round(c.slope_value * static_cast<float>(c.pos0 + j));
  fin.slope.clear();
  const RefOutputs folded = reference(f, fin, false);
  const double limit = 9 * nmse(plain.o, ref.o) + fp32_floor(c.m);
  EXPECT_GT(nmse(folded.o, ref.o), limit) << "a bf16-quantised recency should fail the limit";
}

// Two backward runs give bitwise-identical gradients (no atomics; fixed reduction order).
TEST(FlashAttention, BackwardIsDeterministic) {
  if (!have_device()) GTEST_SKIP() << "no CUDA device: " << cuda_status();
  FlashCase c{"determinism", {2, 4, 2, 100, 100, 64, true, 0}, true, true, 4};
  const Inputs in = make_inputs(c);
  const OpRun a = run_op(c, in, Device::cuda), b = run_op(c, in, Device::cuda);
  ASSERT_EQ(a.raw_grads.size(), b.raw_grads.size());
  EXPECT_EQ(0, std::memcmp(a.raw_grads.data(), b.raw_grads.data(), a.raw_grads.size() * sizeof(float)));
}

#if defined(GOATLM_CUDA_EMU)
// Under the emulation: o, lse and every gradient are bitwise the same when the fibers of each
// block run in random orders (seeds 1-4) as in thread order: no race on the shared tiles.
TEST(FlashAttention, ResultsDoNotDependOnTheSchedule) {
  FlashCase c{"schedules", {1, 2, 1, 200, 200, 64, true, 0}, true, true, 4};  // 4 key tiles: stages reused
  const Inputs in = make_inputs(c);
  const uint64_t seed = simt::first_schedule_dependence([&] {
    const OpRun r = run_op(c, in, Device::cuda);
    return std::make_pair(r.o, r.raw_grads);
  });
  EXPECT_EQ(seed, 0u) << "results differ under schedule seed " << seed;
}
#endif

}  // namespace
}  // namespace goat::cuda_test
