// The op-case table for the CPU ops (everything but attention, which registers its own cases in
// test_attention_cases.cpp): linear, layernorm (plain and residual-fused), GELU, add, embedding
// and cross-entropy, each with an fp64 naive reference and, where the op has a backward, gradient
// checks by finite differences (op_harness.h). Shapes include T = 1, N = 1, C = 3 and sizes off
// every SIMD/tile multiple; some cases run through row views, aliasing and accumulation, and some
// exceed kParallelMin so the multi-threaded paths are compared with the reference as well.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "op_harness.h"
#include "ops/cross_entropy.h"
#include "ops/elementwise.h"
#include "ops/embedding.h"
#include "ops/layernorm.h"
#include "ops/linear.h"

namespace goat::test {
namespace {

std::string dims(std::initializer_list<std::pair<const char*, int64_t>> kv) {
  std::string s;
  for (const auto& [k, v] : kv) s += fmt::format("{}{}{}", s.empty() ? "" : "_", k, v);
  return s;
}

// ---- linear: out (N, Cout) = in (N, Cin) · wᵀ + b ----
// fp64 reference: x = {in (N, ld), weight (Cout, Cin), bias (Cout) when `bias`}.
void linear_ref(const Vecs& x, int64_t n, int64_t cin, int64_t cout, int64_t ld, bool bias, std::vector<double>& out) {
  for (int64_t r = 0; r < n; ++r)
    for (int64_t o = 0; o < cout; ++o) {
      double s = bias ? x[2][o] : 0.0;
      for (int64_t i = 0; i < cin; ++i) s += x[0][r * ld + i] * x[1][o * cin + i];
      out[r * cout + o] = s;
    }
}

// ld > cin runs the op on a row view of a wider (N, ld) buffer; its d_in then accumulates, so
// the columns outside the view must stay as they were.
OpCase linear_case(int64_t n, int64_t cin, int64_t cout, bool bias, bool acc_d_in, int64_t ld = 0) {
  ld = ld ? ld : cin;
  const bool view = ld != cin;
  OpCase c;
  c.name = "linear/" + dims({{"N", n}, {"Cin", cin}, {"Cout", cout}}) + (bias ? "" : "_nobias") +
           (acc_d_in ? "_acc" : "") + (view ? "_view" + std::to_string(ld) : "");
  c.inputs = {{"in", {n, ld}, gen_normal(), acc_d_in ? Grad::accumulate : Grad::overwrite},
              {"weight", {cout, cin}, gen_normal(0.5f), Grad::accumulate}};
  if (bias) c.inputs.push_back({"bias", {cout}, gen_normal(0.5f), Grad::accumulate});
  c.outputs = {{"out", {n, cout}}};
  auto in_view = [=](const Tensor& t) {
    Tensor v = t;
    v.shape = Shape{n, cin};
    v.strides = {ld, 1};
    return v;
  };
  c.forward = [=](const OpBuffers& b) {
    ops::linear_forward(b.out(0), in_view(b.in(0)), b.in(1), bias ? b.in(2) : Tensor());
  };
  c.backward = [=](const OpBuffers& b) {
    ops::linear_backward(in_view(b.grad(0)), b.grad(1), bias ? b.grad(2) : Tensor(), b.d_out(0), in_view(b.in(0)),
                         b.in(1), acc_d_in);
  };
  c.reference = [=](const Vecs& x, Vecs& y) { linear_ref(x, n, cin, cout, ld, bias, y[0]); };
  c.reduction = cin;
  c.reduction_bwd = std::max(cout, n);
  return c;
}

// ---- the MLP's c_fc with GELU: pre = in · wᵀ + b, act = gelu(pre) (the model's two forward ops),
// and the backward from act's gradient (linear_backward_gelu, d_bias summed in GELU's backward
// pass); pre is saved for the backward, so it carries no upstream gradient of its own.
double gelu_ref(double x);
OpCase linear_gelu_case(int64_t n, int64_t cin, int64_t cout, bool bias) {
  OpCase c;
  c.name = "linear_gelu/" + dims({{"N", n}, {"Cin", cin}, {"Cout", cout}}) + (bias ? "" : "_nobias");
  c.inputs = {{"in", {n, cin}, gen_normal(), Grad::overwrite}, {"weight", {cout, cin}, gen_normal(0.5f), Grad::accumulate}};
  if (bias) c.inputs.push_back({"bias", {cout}, gen_normal(0.5f), Grad::accumulate});
  c.outputs = {{"pre", {n, cout}, false}, {"act", {n, cout}}};
  c.forward = [=](const OpBuffers& b) {
    ops::linear_forward(b.out(0), b.in(0), b.in(1), bias ? b.in(2) : Tensor());
    ops::gelu_forward(b.out(1), b.out(0));
  };
  c.backward = [=](const OpBuffers& b) {
    std::vector<float> d_act(b.d_out(1).f32(), b.d_out(1).f32() + n * cout);  // overwritten by the op
    ops::linear_backward_gelu(b.grad(0), b.grad(1), bias ? b.grad(2) : Tensor(), Tensor(d_act.data(), {n, cout}),
                              b.out(0), b.in(0), b.in(1));
  };
  c.reference = [=](const Vecs& x, Vecs& y) {
    linear_ref(x, n, cin, cout, cin, bias, y[0]);
    for (size_t i = 0; i < y[0].size(); ++i) y[1][i] = gelu_ref(y[0][i]);
  };
  c.reduction = cin;
  c.reduction_bwd = std::max(cout, n);
  return c;
}

// ---- layernorm over the last dim, eps 1e-5; mean and rstd are saved outputs ----
void layernorm_ref(const std::vector<double>& x, const std::vector<double>& w, const std::vector<double>& bias,
                   int64_t n, int64_t c, std::vector<double>& out, std::vector<double>& mean,
                   std::vector<double>& rstd) {
  for (int64_t r = 0; r < n; ++r) {
    double m = 0, v = 0;
    for (int64_t j = 0; j < c; ++j) m += x[r * c + j];
    m /= static_cast<double>(c);
    for (int64_t j = 0; j < c; ++j) v += (x[r * c + j] - m) * (x[r * c + j] - m);
    const double rs = 1.0 / std::sqrt(v / static_cast<double>(c) + static_cast<double>(ops::kLayerNormEps));
    for (int64_t j = 0; j < c; ++j) out[r * c + j] = (x[r * c + j] - m) * rs * w[j] + bias[j];
    mean[r] = m;
    rstd[r] = rs;
  }
}

// C = 1 is forward-only: the true d_in is exactly 0 there, but fp32 leaves rounding residue
// amplified by rstd = 1/sqrt(eps), which no relative measure can judge.
OpCase layernorm_case(Shape shape) {
  const int64_t c = shape[-1], n = shape.numel() / c;
  OpCase k;
  k.name = "layernorm/" + dims({{"N", n}, {"C", c}}) + (shape.ndim == 3 ? "_3d" : "");
  Shape stats = shape;
  stats.ndim -= 1;
  k.inputs = {{"in", shape, gen_normal(1.5f, 0.5f), Grad::accumulate},
              {"weight", {c}, gen_uniform(0.5f, 1.5f), Grad::accumulate},
              {"bias", {c}, gen_normal(0.2f), Grad::accumulate}};
  k.outputs = {{"out", shape}, {"mean", stats, false}, {"rstd", stats, false}};
  k.forward = [](const OpBuffers& b) {
    ops::layernorm_forward(b.out(0), b.out(1), b.out(2), b.in(0), b.in(1), b.in(2));
  };
  k.backward = [](const OpBuffers& b) {
    ops::layernorm_backward(b.grad(0), b.grad(1), b.grad(2), b.d_out(0), b.in(0), b.in(1), b.out(1), b.out(2));
  };
  k.reference = [=](const Vecs& x, Vecs& y) { layernorm_ref(x[0], x[1], x[2], n, c, y[0], y[1], y[2]); };
  if (c == 1) k.backward = nullptr;
  k.reduction = c;
  k.reduction_bwd = std::max(c, n);
  return k;
}

// ---- residual = a + b; out = layernorm(residual). Backward composed as the trainer does:
// d_residual (upstream) += layernorm_backward(d_out), then it flows to both a and b. ----
// in_place writes the residual over a copy of a (residual aliasing a).
OpCase residual_layernorm_case(int64_t n, int64_t c, bool in_place = false) {
  OpCase k;
  k.name = "residual_layernorm/" + dims({{"N", n}, {"C", c}}) + (in_place ? "_inplace" : "");
  k.inputs = {{"a", {n, c}, gen_normal(), Grad::accumulate},
              {"b", {n, c}, gen_normal(0.5f, 0.3f), Grad::accumulate},
              {"weight", {c}, gen_uniform(0.5f, 1.5f), Grad::accumulate},
              {"bias", {c}, gen_normal(0.2f), Grad::accumulate}};
  k.outputs = {{"residual", {n, c}}, {"out", {n, c}}, {"mean", {n}, false}, {"rstd", {n}, false}};
  k.forward = [=](const OpBuffers& b) {
    if (in_place) std::copy_n(b.in(0).f32(), n * c, b.out(0).f32());
    ops::residual_layernorm_forward(b.out(0), b.out(1), b.out(2), b.out(3), in_place ? b.out(0) : b.in(0), b.in(1),
                                    b.in(2), b.in(3));
  };
  k.backward = [=](const OpBuffers& b) {
    std::vector<float> d_res(b.d_out(0).f32(), b.d_out(0).f32() + n * c);
    const Tensor dr(d_res.data(), {n, c});
    ops::layernorm_backward(dr, b.grad(2), b.grad(3), b.d_out(1), b.out(0), b.in(2), b.out(2), b.out(3));
    ops::add_forward(b.grad(0), b.grad(0), dr);
    ops::add_forward(b.grad(1), b.grad(1), dr);
  };
  k.reference = [=](const Vecs& x, Vecs& y) {
    for (int64_t i = 0; i < n * c; ++i) y[0][i] = x[0][i] + x[1][i];
    layernorm_ref(y[0], x[2], x[3], n, c, y[1], y[2], y[3]);
  };
  k.reduction = c;
  k.reduction_bwd = std::max(c, n);
  return k;
}

// ---- GELU (tanh form); in_place runs the backward with d_in aliasing d_out ----
double gelu_ref(double x) { return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x))); }

OpCase gelu_case(Shape shape, float spread, bool in_place) {
  OpCase k;
  k.name = "gelu/" + dims({{"n", shape.numel()}, {"s", static_cast<int64_t>(spread)}}) + (in_place ? "_inplace" : "");
  k.inputs = {{"in", shape, gen_normal(spread), Grad::overwrite}};
  k.outputs = {{"out", shape}};
  k.forward = [](const OpBuffers& b) { ops::gelu_forward(b.out(0), b.in(0)); };
  k.backward = [=](const OpBuffers& b) {
    if (!in_place) return ops::gelu_backward(b.grad(0), b.d_out(0), b.in(0));
    std::copy_n(b.d_out(0).f32(), shape.numel(), b.grad(0).f32());
    ops::gelu_backward(b.grad(0), b.grad(0), b.in(0));
  };
  k.reference = [](const Vecs& x, Vecs& y) {
    for (size_t i = 0; i < x[0].size(); ++i) y[0][i] = gelu_ref(x[0][i]);
  };
  return k;
}

// ---- residual add (forward only: its gradient is the identity) ----
OpCase add_case(Shape shape, bool in_place) {
  OpCase k;
  k.name = "add/" + dims({{"n", shape.numel()}}) + (in_place ? "_inplace" : "");
  k.inputs = {{"a", shape, gen_normal()}, {"b", shape, gen_normal()}};
  k.outputs = {{"out", shape}};
  k.forward = [=](const OpBuffers& b) {
    if (!in_place) return ops::add_forward(b.out(0), b.in(0), b.in(1));
    std::copy_n(b.in(0).f32(), shape.numel(), b.out(0).f32());
    ops::add_forward(b.out(0), b.out(0), b.in(1));
  };
  k.reference = [](const Vecs& x, Vecs& y) {
    for (size_t i = 0; i < x[0].size(); ++i) y[0][i] = x[0][i] + x[1][i];
  };
  return k;
}

// ---- embedding: out (B, T, C) = wte[tokens] + wpe[pos_offset + t] ----
OpCase embedding_case(int64_t bsz, int64_t t, int64_t c, int64_t v, int64_t tmax, int64_t pos_offset) {
  OpCase k;
  k.name = "embedding/" + dims({{"B", bsz}, {"T", t}, {"C", c}, {"V", v}}) +
           (tmax ? "_wpe" + std::to_string(tmax) + "_off" + std::to_string(pos_offset) : "");
  k.inputs = {{"tokens", {bsz, t}, gen_ids(0, static_cast<int32_t>(v))},
              {"wte", {v, c}, gen_normal(), Grad::accumulate}};
  if (tmax) k.inputs.push_back({"wpe", {tmax, c}, gen_normal(0.5f), Grad::accumulate});
  k.outputs = {{"out", {bsz, t, c}}};
  k.forward = [=](const OpBuffers& b) {
    ops::embedding_forward(b.out(0), b.ids(0), b.in(1), tmax ? b.in(2) : Tensor(), pos_offset);
  };
  k.backward = [=](const OpBuffers& b) {
    ops::embedding_backward(b.grad(1), tmax ? b.grad(2) : Tensor(), b.d_out(0), b.ids(0), pos_offset);
  };
  k.reference = [=](const Vecs& x, Vecs& y) {
    for (int64_t r = 0; r < bsz * t; ++r) {
      const auto tok = static_cast<int64_t>(x[0][r]);
      for (int64_t j = 0; j < c; ++j)
        y[0][r * c + j] = x[1][tok * c + j] + (tmax ? x[2][(pos_offset + r % t) * c + j] : 0.0);
    }
  };
  k.reduction_bwd = bsz * t;  // a token may repeat in every row
  return k;
}

// ---- cross-entropy: per-row losses (saved) and their mean over non-ignored rows. `fused` runs
// cross_entropy_forward_backward in both phases (its losses in forward, its d_logits in backward).
OpCase cross_entropy_case(int64_t n, int64_t v, int ignore_every, bool in_place, bool fused = false) {
  OpCase k;
  k.name = std::string(fused ? "cross_entropy_fused/" : "cross_entropy/") + dims({{"N", n}, {"V", v}}) +
           (ignore_every ? "_ign" + std::to_string(ignore_every) : "") + (in_place ? "_inplace" : "");
  k.inputs = {{"logits", {n, v}, gen_normal(3.f), Grad::overwrite},
              {"targets", {n}, gen_targets(static_cast<int32_t>(v), ops::kIgnoreIndex, ignore_every)}};
  k.outputs = {{"losses", {n}, false}, {"mean", {1}}};
  k.forward = [](const OpBuffers& b) {
    b.out(1).f32()[0] = static_cast<float>(ops::cross_entropy_forward(b.out(0), b.in(0), b.ids(1)));
  };
  if (fused) {
    k.forward = [=](const OpBuffers& b) {
      std::vector<float> scratch(static_cast<size_t>(n * v));
      const double mean =
          ops::cross_entropy_forward_backward(b.out(0), Tensor(scratch.data(), {n, v}), b.in(0), b.ids(1), 1.f);
      b.out(1).f32()[0] = static_cast<float>(mean);
    };
  }
  k.backward = [=](const OpBuffers& b) {
    if (fused) {
      std::vector<float> losses(static_cast<size_t>(n));
      const Tensor l(losses.data(), {n});
      if (in_place) std::copy_n(b.in(0).f32(), n * v, b.grad(0).f32());
      ops::cross_entropy_forward_backward(l, b.grad(0), in_place ? b.grad(0) : b.in(0), b.ids(1), b.d_out(1).f32()[0]);
      return;
    }
    int64_t count = 0;
    for (int64_t r = 0; r < n; ++r) count += b.ids(1)[r] != ops::kIgnoreIndex;
    const float scale = count ? b.d_out(1).f32()[0] / static_cast<float>(count) : 0.f;
    if (!in_place) return ops::cross_entropy_backward(b.grad(0), b.in(0), b.ids(1), scale);
    std::copy_n(b.in(0).f32(), n * v, b.grad(0).f32());
    ops::cross_entropy_backward(b.grad(0), b.grad(0), b.ids(1), scale);
  };
  k.reference = [=](const Vecs& x, Vecs& y) {
    double total = 0;
    int64_t count = 0;
    for (int64_t r = 0; r < n; ++r) {
      const auto t = static_cast<int64_t>(x[1][r]);
      if (t == ops::kIgnoreIndex) continue;
      const double* row = x[0].data() + r * v;
      const double m = *std::max_element(row, row + v);
      double s = 0;
      for (int64_t j = 0; j < v; ++j) s += std::exp(row[j] - m);
      y[0][r] = m + std::log(s) - row[t];
      total += y[0][r];
      ++count;
    }
    y[1][0] = count ? total / static_cast<double>(count) : 0.0;
  };
  k.reduction = v;
  k.reduction_bwd = v;
  return k;
}

std::vector<OpCase> make_cases() {
  std::vector<OpCase> cs;
  // linear: N = 1, single feature, odd sizes, no bias, accumulated d_in, row views.
  cs.push_back(linear_case(1, 1, 1, true, false));
  cs.push_back(linear_case(1, 3, 5, true, false));
  cs.push_back(linear_case(7, 17, 13, false, false));
  cs.push_back(linear_case(37, 67, 45, true, true));
  cs.push_back(linear_case(64, 96, 80, true, false));
  cs.push_back(linear_case(5, 19, 33, true, true, 24));
  // Cases above kParallelMin (32k elements) so the OpenMP paths are checked too.
  cs.push_back(linear_case(260, 24, 129, true, false));
  // Cout > Cin (d_w through its transpose) above kParallelMin: the tiled transposed add in parallel.
  cs.push_back(linear_case(70, 96, 384, true, false));
  // linear + GELU (fp32: GELU's backward fused with the bias column sum): one row, odd
  // sizes, no bias, and more than one 128-row chunk above kParallelMin.
  cs.push_back(linear_gelu_case(1, 3, 5, true));
  cs.push_back(linear_gelu_case(7, 17, 13, false));
  cs.push_back(linear_gelu_case(300, 40, 130, true));
  // layernorm: C = 1 (zero variance), C = 3, odd C, 3-d input, GPT-2-like width.
  cs.push_back(layernorm_case({4, 1}));
  cs.push_back(layernorm_case({1, 3}));
  cs.push_back(layernorm_case({7, 17}));
  cs.push_back(layernorm_case({2, 3, 65}));
  cs.push_back(layernorm_case({33, 768}));
  cs.push_back(residual_layernorm_case(1, 3));
  cs.push_back(residual_layernorm_case(9, 130));
  cs.push_back(residual_layernorm_case(4, 67, true));
  cs.push_back(layernorm_case({64, 771}));
  cs.push_back(residual_layernorm_case(50, 700));
  // more than one 128-row chunk of the backward's parameter-gradient sums, serial and parallel
  cs.push_back(layernorm_case({300, 40}));
  cs.push_back(layernorm_case({2, 130, 130}));
  // GELU: tails (spread 6 reaches saturation), tiny and odd sizes, in-place backward.
  cs.push_back(gelu_case({1}, 1.f, false));
  cs.push_back(gelu_case({3}, 2.f, true));
  cs.push_back(gelu_case({4, 33}, 2.f, false));
  cs.push_back(gelu_case({1001}, 6.f, true));
  cs.push_back(gelu_case({40001}, 3.f, false));
  // add
  cs.push_back(add_case({1}, false));
  cs.push_back(add_case({5, 3}, true));
  cs.push_back(add_case({40000}, false));
  // embedding: T = 1, C = 3, offsets into the position table, repeated tokens (small V).
  cs.push_back(embedding_case(1, 1, 3, 5, 0, 0));
  cs.push_back(embedding_case(2, 5, 7, 11, 9, 3));
  cs.push_back(embedding_case(3, 17, 65, 4, 17, 0));
  cs.push_back(embedding_case(4, 64, 96, 300, 80, 16));
  cs.push_back(embedding_case(2, 130, 200, 97, 140, 7));
  // cross-entropy: V = 1 (loss 0), tiny, ignore-index rows, in place, a GPT-2-sized vocabulary.
  cs.push_back(cross_entropy_case(2, 1, 0, false));
  cs.push_back(cross_entropy_case(1, 3, 0, false));
  cs.push_back(cross_entropy_case(5, 7, 2, true));
  cs.push_back(cross_entropy_case(17, 1000, 4, false));
  cs.push_back(cross_entropy_case(3, 50257, 3, true));
  cs.push_back(cross_entropy_case(1, 5, 0, false, true));
  cs.push_back(cross_entropy_case(9, 700, 3, true, true));
  cs.push_back(cross_entropy_case(4, 50257, 4, false, true));
  return cs;
}

const bool registered = register_op_cases("core", &make_cases);

}  // namespace
}  // namespace goat::test
