// One oneDNN matmul primitive with its memory objects, built once per shape and run with the data
// handles set per call: the part matmul_f32 (gemm.cpp) and the bf16 matmul (gemm_bf16.cpp) share.
// C = alpha · A (m, k) · B (k, n) + bias (1, n) + beta · C, each operand described by its memory
// desc (dtype, strides; a transposed operand is a strided view). alpha = 1 and beta = 0 add no
// attribute (alpha is oneDNN's output scale, beta its sum post-op).
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <string>

namespace goat::cpu {

struct OnednnMatmul {
  dnnl::matmul mm;
  dnnl::memory a, b, c, bias;  // data handles set per call; bias empty without one
  std::string impl;            // oneDNN's implementation name, e.g. "brg:avx512_core_amx_bf16"
};

// bias: an empty desc for none.
OnednnMatmul make_onednn_matmul(const dnnl::engine& eng, const dnnl::memory::desc& a, const dnnl::memory::desc& b,
                                const dnnl::memory::desc& c, const dnnl::memory::desc& bias, float alpha, float beta);

// Runs p on stream with these operands and waits; bias must be null exactly when p has none.
// Throws dnnl::error (callers name the shape in their message).
void run_onednn_matmul(OnednnMatmul& p, dnnl::stream& stream, const void* a, const void* b, void* c,
                       const float* bias);

}  // namespace goat::cpu
