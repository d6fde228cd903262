// The CUDA op-case table: each case runs one op on the CUDA backend (emulated in the EMU build, a
// GPU in the real one) and on the CPU backend over the same Philox inputs, in fp32 and bf16.
//
// Tolerance (design.md §4, FlashAttention's rule), per output, with NMSE = Σ(y − r)²/Σr²:
//   r   = the CPU op in fp32 on the fp32 inputs (the fp64 stand-in: its NMSE vs fp64 is below
//         (8u)²(K + 16) ≈ 1e-12 by the ops harness, tests/ops, far under any bf16 error);
//   b   = "plain bf16 reference": the CPU op in fp32 on the bf16-rounded inputs, its activation
//         outputs rounded to bf16 (what storing in bf16 costs and nothing else);
//   bf16: NMSE(cuda, r) ≤ k²·NMSE(b, r) + floor, k = 3 (RMS error at most 3× the plain bf16
//         reference's), floor = the fp32 allowance below (for outputs bf16 storage cannot touch);
//   fp32: NMSE(cuda, r) ≤ 4·(8u)²·(K + 16), u = 2⁻²⁴, K the op's longest reduction (the ops
//         harness rule, doubled in RMS since both sides carry fp32 rounding).
// Accumulated outputs start from the same random g0 on both sides and are compared as g − g0.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace goat::cuda_test {

enum class Kind { act, f32 };                // act: stored in the run's dtype; f32: always fp32
enum class Role { in, out, acc, inout };     // acc: += (compared as delta); inout: updated in place

struct ArgSpec {
  std::string name;
  Shape shape;
  Kind kind = Kind::act;
  Role role = Role::in;
  float scale = 1.f;     // normal(0, scale) values
  bool positive = false; // |normal| + 0.5 (rstd, second moments)
};

struct CaseEnv {
  std::vector<Tensor> t;      // one per ArgSpec, in order
  const int32_t* ids = nullptr;  // the case's integer ids (device memory on CUDA)
};

struct CudaCase {
  std::string name;
  std::vector<ArgSpec> args;
  std::vector<int32_t> ids;                         // tokens / targets
  std::function<double(const CaseEnv&)> run;        // calls the op; returns its scalar (or 0)
  bool scalar = false;                              // compare the returned value too
  int64_t reduction = 1;                            // K of the fp32 rule
};

std::vector<CudaCase> make_cuda_cases();
// The attention forward's arguments q, k, v, slope, key_bias (fp32), o, lse (fp32), in that order.
std::vector<ArgSpec> attention_forward_args(int64_t b, int64_t h, int64_t hkv, int64_t tq, int64_t tk, int64_t d);
std::vector<CudaCase> make_attention_cases();  // cuda_attention_cases.cpp
std::vector<CudaCase> make_position_cases();   // cuda_position_cases.cpp
std::vector<CudaCase> make_attention_diag_cases();  // cuda_attention_diag_cases.cpp

}  // namespace goat::cuda_test
