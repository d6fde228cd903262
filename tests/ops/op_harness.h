// The op-case harness (after ggml's test-backend-ops): one table of op cases, each run against
// an fp64 naive reference, gradient-checked by finite differences, with guard values around
// every buffer the op can write.
//
// An OpCase is data: named inputs (shape, Philox generator, gradient mode), named outputs, the
// op's forward and (optional) backward as lambdas over an OpBuffers, and an fp64 reference. For
// each case the runner (run_op_case):
//  1. generates fp32 inputs from Philox (seeded by the case name), fills outputs with NaN and
//     surrounds every buffer with NaN-pattern canaries (kGuard floats before and after);
//  2. runs forward; checks canaries, that inputs are unchanged, and each output against the
//     reference run in fp64 on the same inputs, by NMSE = Σ(y − r)² / Σ r² ≤ nmse_tolerance(K);
//  3. runs backward with random upstream gradients dL/d(out) on the outputs that seed gradients,
//     the gradient buffers pre-filled with NaN (Grad::overwrite: every element must be written)
//     or with random values g0 (Grad::accumulate: the op must add, so grad − g0 is compared);
//     compares against central finite differences of L = Σ dL/d(out) · reference(x) in fp64,
//     on all elements of small inputs and a Philox sample of large ones; checks canaries again.
//
// Tolerance rule (computed, never hand-set per case): an fp32 reduction of length K with
// rounding errors of relative size u = 2^-24 per step has an expected NMSE of about u²·K (random
// rounding walk); we allow nmse_tolerance(K) = (kRmsMargin·u)² · (K + kPointwiseOps), i.e. an
// RMS error kRmsMargin times the random-walk estimate, plus a few ulp for pointwise math (exp,
// sqrt). K is the longest fp32 reduction the op performs (OpCase::reduction for the forward,
// reduction_bwd for the backward, e.g. C for layernorm, Cin for linear, N rows for weight grads).
// An accumulated gradient is compared as (g − g0) against the finite difference, allowing in
// addition the one fp32 rounding of the stored sum: (kRmsMargin·u·|g|)² per element.
// Finite differences in fp64 with h = ∛ε₆₄·max(1, |x|) are accurate to ~1e-10, far below this.
//
// Adding cases: in your own file tests/ops/test_<area>_cases.cpp, write a function returning
// std::vector<OpCase> and register it at namespace scope:
//     static const bool registered = goat::test::register_op_cases("attention", &make_attention_cases);
// Every registered case becomes the GoogleTest `OpCases/OpCaseTest.Run/<case name>`. A case:
//     OpCase c;
//     c.name = "gelu/n17";
//     c.inputs = {{"in", {17}, gen_normal(2.f), Grad::overwrite}};
//     c.outputs = {{"out", {17}}};
//     c.forward = [](const OpBuffers& b) { ops::gelu_forward(b.out(0), b.in(0)); };
//     c.backward = [](const OpBuffers& b) { ops::gelu_backward(b.grad(0), b.d_out(0), b.in(0)); };
//     c.reference = [](const Vecs& x, Vecs& y) { for (...) y[0][i] = gelu_fp64(x[0][i]); };
//     c.reduction = 1;  // pointwise
// Ops taking raw pointers use b.in(i).f32() / b.grad(i).f32(); integer inputs (ids) are
// generated as exact floats (gen_ids) and read with b.ids(i). Strided views: build a Tensor over
// b.in(i).data with custom strides. Constants (scale, flags) are captured by the lambdas.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/philox.h"
#include "core/tensor.h"

namespace goat::test {

using Vecs = std::vector<std::vector<double>>;

// Value of element i of an input, from the case's Philox stream for that input.
using Gen = std::function<float(const Rng& rng, uint64_t i)>;
Gen gen_normal(float stdev = 1.f, float mean = 0.f);
Gen gen_uniform(float lo, float hi);
Gen gen_ids(int32_t lo, int32_t hi);                       // integer ids in [lo, hi), exact in fp32
Gen gen_targets(int32_t v, int32_t ignore_id, int every);  // ids in [0, v); each `every`-th row ignore_id

// How an op's backward treats the gradient buffer of an input.
enum class Grad { none, overwrite, accumulate };

struct InputSpec {
  std::string name;
  Shape shape;
  Gen gen;
  Grad grad = Grad::none;
};

struct OutputSpec {
  std::string name;
  Shape shape;
  bool seeds_grad = true;  // false: saved statistics (mean, rstd, lse) that carry no upstream gradient
};

class OpBuffers;

struct OpCase {
  std::string name;  // unique, e.g. "layernorm/N1_C3"
  std::vector<InputSpec> inputs;
  std::vector<OutputSpec> outputs;
  std::function<void(const OpBuffers&)> forward;
  std::function<void(const OpBuffers&)> backward;  // empty: forward-only case
  // fp64 naive reference: in[i] has inputs[i].shape.numel() values, out[j] is pre-sized.
  std::function<void(const Vecs& in, Vecs& out)> reference;
  int64_t reduction = 1;      // longest fp32 reduction in forward
  int64_t reduction_bwd = 1;  // longest fp32 reduction in backward
};

// The buffers an op case sees while it runs (all fp32, contiguous, guarded).
class OpBuffers {
 public:
  virtual ~OpBuffers() = default;
  virtual Tensor in(size_t i) const = 0;           // input i with its declared shape
  virtual const int32_t* ids(size_t i) const = 0;  // input i converted to int32 (token/target ids)
  virtual Tensor out(size_t i) const = 0;          // output i
  virtual Tensor d_out(size_t i) const = 0;        // dL/d(output i); zeros where !seeds_grad
  virtual Tensor grad(size_t i) const = 0;         // gradient buffer of input i; empty for Grad::none
};

constexpr double kRmsMargin = 8.0;
constexpr double kPointwiseOps = 16.0;
constexpr int kGuard = 16;           // canary floats on each side of every buffer
constexpr int kMaxGradSamples = 48;  // finite-difference samples per large input

double nmse_tolerance(int64_t reduction);

// Runs every check above, reporting failures through GoogleTest (EXPECT_*).
void run_op_case(const OpCase& c);

using CaseMaker = std::vector<OpCase> (*)();
bool register_op_cases(const char* group, CaseMaker make);
const std::vector<OpCase>& all_op_cases();  // built on first use from every registered maker

}  // namespace goat::test
