// Linear layer as GEMM calls (oneDNN; fp32, or bf16 operands by the thread's GEMM precision or
// because an operand is already bf16, see gemm_bf16.h): forward is one GEMM with the bias as the
// matmul's bias argument; backward two GEMMs plus a column sum. All FLOPs go through the GEMM
// engine. fp32 runs all three GEMMs on oneDNN's f32 matmul primitive (matmul_f32), not its
// sgemm: per-shape measurements in docs/performance.md ("fp32 GEMMs: sgemm vs the matmul
// primitive"); with 2 threads the matmul is as fast or faster on every shape of the model, and
// the forward's bias fill pass is gone. With GELU after the layer (c_fc, bf16 only) the forward
// writes fch and GELU(fch), in the AMX GEMM's epilogue where it runs (gemm_amx.h), else in a
// second pass with the same results.
#include "backend/cpu/linear.h"

#include <vector>

#include "backend/cpu/elementwise.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/gemm_amx.h"
#include "backend/cpu/gemm_bf16.h"
#include "backend/cpu/reduce.h"
#include "backend/cpu/vec_math.h"
#include "core/check.h"
#include "core/op_profile.h"

namespace goat::cpu {

namespace {

// x (rows, cols; row stride ld) as bf16: as is, or rounded into scratch slot `slot` (then ld = cols).
const uint16_t* as_bf16(int slot, Operand x, int64_t rows, int64_t cols, int64_t& ld) {
  if (x.bf16) return static_cast<const uint16_t*>(x.p);
  const uint16_t* r = to_bf16(slot, static_cast<const float*>(x.p), rows, cols, ld);
  ld = cols;
  return r;
}

// c = in · wᵀ + bias on bf16 operands (the bias in the GEMM's epilogue: c is written once); with
// `gelu`, also GELU(c) in the AMX GEMM's epilogue where the AMX GEMM runs. Returns whether it did.
bool forward_gemm(const LinearDims& d, Bf16Out c, Operand in, Operand w, const float* bias, const GeluEpilogue* gelu) {
  GOAT_CHECK(d.cin > 0, "linear", "bf16 linear forward with Cin = 0");
  int64_t ld_in = d.ld_in, ld_w = d.cin;
  const uint16_t* x = as_bf16(0, in, d.n, d.cin, ld_in);
  const uint16_t* w16 = as_bf16(1, w, d.cout, d.cin, ld_w);
  if (gelu && matmul_bf16_on_amx(false, d.n, d.cout, d.cin, 1.f, 0.f, c.bf16)) {
    const OpTimer timer("gemm.amx_gelu");
    amx_matmul(true, d.n, d.cout, d.cin, x, ld_in, w16, ld_w, false, c, bias, gelu);
    return true;
  }
  matmul_bf16(false, true, d.n, d.cout, d.cin, 1.f, x, ld_in, w16, ld_w, 0.f, c, bias);
  return false;
}

}  // namespace

void linear_forward_bf16(const LinearDims& d, Output out, Operand in, Operand w, const float* bias) {
  if (d.n == 0 || d.cout == 0) return;
  forward_gemm(d, Bf16Out{out.p, d.ld_out, out.bf16}, in, w, bias, nullptr);
}

void linear_forward_gelu_bf16(const LinearDims& d, uint16_t* out, uint16_t* gelu_out, Operand in, Operand w,
                              const float* bias) {
  if (d.n == 0 || d.cout == 0) return;
  const GeluEpilogue epilogue{gelu_out};
  if (forward_gemm(d, Bf16Out{out, d.ld_out, true}, in, w, bias, &epilogue)) return;
  if (d.ld_out == d.cout) return gelu_forward_bf16(gelu_out, out, d.n * d.cout);
  for (int64_t r = 0; r < d.n; ++r) gelu_forward_bf16(gelu_out + r * d.ld_out, out + r * d.ld_out, d.cout);
}

void linear_forward(const LinearDims& d, float* out, const float* in, const float* w, const float* bias) {
  if (gemm_precision() == GemmPrecision::bf16 && d.n > 0 && d.cin > 0 && d.cout > 0)
    return linear_forward_bf16(d, Output{out}, Operand{in}, Operand{w}, bias);
  // out = in · wᵀ + bias, the bias in the matmul's epilogue
  matmul_f32(false, true, d.n, d.cout, d.cin, in, d.ld_in, w, d.cin, 0.f, out, d.ld_out, bias);
}

namespace {

// d_in (n, cin; bf16) = d_out · w (bf16 dy, w16 with row stride ld_w) through GELU's backward (into_gelu): in the AMX
// GEMM's epilogue where it runs (gemm_amx.h GeluBackwardEpilogue), else the GEMM and then GELU's
// backward in place over d_in: the same values and sums either way.
void d_in_into_gelu(const LinearDims& d, uint16_t* d_in, const uint16_t* dy, int64_t ld_dy, const uint16_t* w16,
                    int64_t ld_w, const GeluBackwardEpilogue& into_gelu) {
  if (matmul_bf16_on_amx(false, d.n, d.cin, d.cout, 1.f, 0.f, true)) {
    const OpTimer timer("gemm.amx_gelu_backward");
    return amx_matmul(false, d.n, d.cin, d.cout, dy, ld_dy, w16, ld_w, false, Bf16Out{d_in, d.ld_in, true}, nullptr,
                      nullptr, &into_gelu);
  }
  matmul_bf16(false, false, d.n, d.cin, d.cout, 1.f, dy, ld_dy, w16, ld_w, 0.f, Bf16Out{d_in, d.ld_in, true});
  gelu_backward_bf16_column_sum(d_in, into_gelu.pre, d.n, d.cin, d.ld_in, d_in, into_gelu.col_sum);
}

// linear_backward_bf16, and with into_gelu linear_backward_into_gelu_bf16 (d_in bf16).
void backward_bf16(const LinearDims& d, Output d_in, float* d_w, float* d_bias, Operand d_out, Operand in, Operand w,
                   bool accumulate_d_in, Operand gelu_pre, const GeluBackwardEpilogue* into_gelu) {
  GOAT_CHECK(!gelu_pre.p || gelu_pre.bf16 == d_out.bf16, "linear", "gelu_pre and d_out must have the same dtype");
  GOAT_CHECK(!into_gelu || (d_in.bf16 && !gelu_pre.p), "linear", "the backward into GELU needs a bf16 d_in");
  GOAT_CHECK(!d_in.bf16 || !accumulate_d_in, "linear", "a bf16 d_in cannot be accumulated into");
  if (d.n == 0 || d.cin == 0 || d.cout == 0 || (!d_in.p && !d_w)) return;
  thread_local std::vector<float> no_bias;  // column sums nobody reads, when a GELU needs the fused pass
  if (!d_bias && gelu_pre.p) {
    no_bias.assign(static_cast<size_t>(d.cout), 0.f);
    d_bias = no_bias.data();
  }
  const uint16_t* dy = nullptr;
  if (d_bias && d_out.bf16)
    dy = to_bf16_column_sum(0, static_cast<const uint16_t*>(d_out.p), d.n, d.cout, d.ld_out, d_bias,
                            static_cast<const uint16_t*>(gelu_pre.p));
  else if (d_bias)
    dy = to_bf16_column_sum(0, static_cast<const float*>(d_out.p), d.n, d.cout, d.ld_out, d_bias,
                            static_cast<const float*>(gelu_pre.p));
  int64_t ld_dy = d_bias ? d.cout : d.ld_out;
  if (!dy) dy = as_bf16(0, d_out, d.n, d.cout, ld_dy);
  if (d_in.p) {  // d_in (n, cin) = d_out (n, cout) · w (cout, cin)
    int64_t ld_w = d.cin;
    const uint16_t* w16 = as_bf16(1, w, d.cout, d.cin, ld_w);
    if (into_gelu)
      d_in_into_gelu(d, static_cast<uint16_t*>(d_in.p), dy, ld_dy, w16, ld_w, *into_gelu);
    else
      matmul_bf16(false, false, d.n, d.cin, d.cout, 1.f, dy, ld_dy, w16, ld_w, accumulate_d_in ? 1.f : 0.f,
                  Bf16Out{d_in.p, d.ld_in, d_in.bf16});
  }
  if (d_w) {  // d_w (cout, cin) += d_outᵀ (cout, n) · in (n, cin)
    int64_t ld_in = d.ld_in;
    const uint16_t* x = as_bf16(1, in, d.n, d.cin, ld_in);
    matmul_bf16(true, false, d.cout, d.cin, d.n, 1.f, dy, ld_dy, x, ld_in, 1.f, Bf16Out{d_w, d.cin});
  }
}

}  // namespace

// bf16 backward: d_out is rounded once and serves both GEMMs (dW reads it transposed); the same
// pass over d_out sums its columns into d_bias (and applies GELU's backward with gelu_pre).
void linear_backward_bf16(const LinearDims& d, Output d_in, float* d_w, float* d_bias, Operand d_out, Operand in,
                          Operand w, bool accumulate_d_in, Operand gelu_pre) {
  backward_bf16(d, d_in, d_w, d_bias, d_out, in, w, accumulate_d_in, gelu_pre, nullptr);
}

void linear_backward_into_gelu_bf16(const LinearDims& d, uint16_t* d_pre, float* d_w, float* d_bias, Operand d_out,
                                    Operand in, Operand w, const uint16_t* pre, float* pre_bias) {
  GOAT_CHECK(d_pre && pre && pre_bias, "linear", "the backward into GELU needs d_pre, pre and pre's d_bias");
  const GeluBackwardEpilogue into_gelu{pre, pre_bias};
  backward_bf16(d, Output{d_pre, true}, d_w, d_bias, d_out, in, w, false, {}, &into_gelu);
}

void linear_backward(const LinearDims& d, float* d_in, float* d_w, float* d_bias, const float* d_out, const float* in,
                     const float* w, bool accumulate_d_in, const float* gelu_pre) {
  if (gemm_precision() == GemmPrecision::bf16 && d.n > 0 && d.cin > 0 && d.cout > 0 && (d_in || d_w))
    return linear_backward_bf16(d, Output{d_in}, d_w, d_bias, Operand{d_out}, Operand{in}, Operand{w}, accumulate_d_in,
                                Operand{gelu_pre});
  if (gelu_pre) {  // fp32: d_out ∘ gelu'(pre) into a dense scratch matrix, then the plain backward
    thread_local std::vector<float> scratch;
    scratch.resize(static_cast<size_t>(d.n * d.cout));
    float* const g = scratch.data();  // the workers must not name the thread_local
#pragma omp parallel for schedule(static) if (d.n * d.cout >= kParallelMin)
    for (int64_t r = 0; r < d.n; ++r) {
      const float *dy = d_out + r * d.ld_out, *pre = gelu_pre + r * d.ld_out;
#pragma omp simd
      for (int64_t c = 0; c < d.cout; ++c) g[r * d.cout + c] = dy[c] * gelu_grad_f32(pre[c]);
    }
    LinearDims dense = d;
    dense.ld_out = d.cout;
    return linear_backward(dense, d_in, d_w, d_bias, scratch.data(), in, w, accumulate_d_in);
  }
  if (d_in)  // d_in (n, cin) = d_out (n, cout) · w (cout, cin)
    matmul_f32(false, false, d.n, d.cin, d.cout, d_out, d.ld_out, w, d.cin, accumulate_d_in ? 1.f : 0.f, d_in, d.ld_in);
  if (d_w)  // d_w (cout, cin) += d_outᵀ (cout, n) · in (n, cin)
    matmul_f32(true, false, d.cout, d.cin, d.n, d_out, d.ld_out, in, d.ld_in, 1.f, d_w, d.cin);
  if (d_bias) column_sum_add(d_bias, d_out, d.n, d.cout, d.ld_out);
}

}  // namespace goat::cpu
