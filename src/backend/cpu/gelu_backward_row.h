// One row of c_fc's GELU backward in the bf16 model (to_bf16_column_sum with gelu_pre, gemm_bf16.h):
// out = bf16(x ∘ gelu'(pre)) and acc += x ∘ gelu'(pre) in fp32, gelu' read from the bf16 table
// (gelu_table.h). Two implementations of the same arithmetic, bitwise equal on every input:
//  - gelu_backward_row_scalar: the compiler-vectorised loop; GCC turns table[pre[c]] into 16 scalar
//    loads and lane inserts per vector (its cost model avoids vgatherdps),
//  - gelu_backward_row: 16-lane vgatherdps where AVX-512 is compiled in (≈ 1.75× faster per element,
//    0.57 → 0.33 ns on one core here, in cache or from memory; docs/performance.md), else the scalar one.
#pragma once

#include <cstdint>

namespace goat::cpu {

// x, pre, out: n bf16 bits; acc: n fp32 sums. The product is rounded to nearest even (bf16::from_float).
void gelu_backward_row_scalar(const uint16_t* x, const uint16_t* pre, int64_t n, uint16_t* out, float* acc);
void gelu_backward_row(const uint16_t* x, const uint16_t* pre, int64_t n, uint16_t* out, float* acc);

}  // namespace goat::cpu
