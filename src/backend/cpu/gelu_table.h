// GELU at every bf16 value, tabulated once per process. The bf16 paths' GELU inputs (c_fc's bf16
// output fch) take at most 2^16 values, so GELU's forward (rounded to bf16) and its derivative are
// one load per element instead of an exp and a division (≈ 2× faster per element, see
// docs/performance.md). Each entry is what gelu_f32 / gelu_grad_f32 (vec_math.h, the one
// definition) give for that input, bitwise: the table changes speed, not results. The AVX-512
// readers gather 16 entries per instruction (gemm_amx_store.cpp's epilogue, gelu_backward_row.cpp);
// the entries they touch (|x| ≲ 5, a few thousand) stay in L1, so a smaller table would not help.
#pragma once

#include <cstdint>

namespace goat::cpu {

struct GeluBf16Table {
  uint16_t forward[1 << 16];  // [bits of x] → bits of bf16(gelu_f32(x)), rounded to nearest even
  float grad[1 << 16];        // [bits of x] → gelu_grad_f32(x)
};

// The process's table, built on first use (thread-safe static initialisation, ≈ 1 ms).
const GeluBf16Table& gelu_bf16_table();

}  // namespace goat::cpu
