// Our own AMX bf16 GEMM for the linear layers' forward and d_in GEMMs (dtype "bf16" on the CPU),
// which matmul_bf16 (gemm_bf16.h) runs instead of oneDNN's matmul wherever it applies (A not
// transposed; the d_W GEMMs stay on oneDNN). With its packed operands 64-byte aligned
// (aligned_scratch.h) it runs at 0.6–0.95 TFLOP/s per core against oneDNN 2.6.3's 0.3–0.6 on the
// model's shapes; part of that is C written with non-temporal stores (one core: 22 GB/s against
// 9.7 with ordinary stores, which read each line first). Grouping 2–4 row blocks per B panel,
// prefetching the next panel or (A packed) the next A rows, a software-pipelined tile loop and K blocking
// measured no gain or a loss; the d_W shape (A transposed, K = tokens) ran at 0.6–0.9× oneDNN's
// when tried before the alignment fix (docs/performance.md, "bf16 GEMMs", with `goatlm bench
// gemm-bf16` printing both engines side by side).
// Recipe: the same as gemm_bf16's (bf16 operands, products accumulated in fp32 on the tile unit, C
// fp32 or rounded to bf16 to nearest even from the fp32 accumulator, the bias added to the fp32
// sum). Only the summation order of the fp32 accumulation differs from oneDNN's.
// Scheme: B is packed once per call into AMX's VNNI layout, blocks of 32 columns, (K/2 pair rows ×
// 32 columns) words each (≤ 1 MiB for the model's weights); each 32-row block of A is copied into
// tile order (1 KiB per tile) once and serves every column block, unless its rows are short
// and aligned enough to load the tiles from A itself (amx_reads_a_in_place; then the next
// block's rows are prefetched into L2 where K is short); C is produced in 32 × 32 blocks
// (tiles 0–3, from zero or, accumulating, from C), two A tiles and two B tiles per K step of 32; a
// finished block goes through the epilogue (gemm_amx_store.h: + bias, fp32 or bf16, non-temporal
// stores, optionally GELU: GeluEpilogue, c_fc's forward writes fch and GELU(fch), which saves a
// pass over the matrix). Threads split the 32-row blocks of M; one thread finishes a row block's
// column blocks in order, which GeluBackwardEpilogue relies on (it stages a row block in L2 and
// runs GELU's backward over it when the block's last column block is done).
#pragma once

#include <cstdint>

#include "backend/cpu/gemm_bf16.h"

namespace goat::cpu {

// True when amx_matmul can run this GEMM: AMX-BF16 usable in this process (attn::amx_ready), A not
// transposed, m, n, k multiples of 32, alpha 1, beta 0 or 1 (1 only with an f32 C).
bool amx_matmul_applies(bool trans_a, int64_t m, int64_t n, int64_t k, float alpha, float beta, bool c_bf16);

// True when amx_matmul reads A's tiles in place instead of packing each 32-row block first: every
// tile row starts on a cache line (A 64-byte aligned, lda a multiple of 32) and the rows are at
// most 2 KiB apart (lda ≤ 1024; at 4 KiB a tile's 16 rows share one L1 set). Saves the pack's copy:
// 4–14% on the model's forward and d_in GEMMs (docs/performance.md, "bf16 GEMMs").
bool amx_reads_a_in_place(const uint16_t* a, int64_t lda);

// GELU in the epilogue, over a bf16 C (C's values are rounded to bf16 first, as without it):
// gelu_out (m, n; row stride ldc) = bf16(GELU(C)) from the GELU table (gelu_table.h), bitwise
// what gelu_forward_bf16 gives for C.
struct GeluEpilogue {
  uint16_t* gelu_out = nullptr;
};

// GELU's backward after the GEMM, over a bf16 C that is the gradient at GELU's output (c_proj's
// d_in GEMM in the bf16 model; pre = c_fc's output fch): C (m, n) = bf16(bf16(A · op(B)) ∘
// gelu'(pre)), the gradient at GELU's input, and col_sum (n) += its column sums (c_fc's d_bias),
// bitwise what the GEMM followed by gelu_backward_bf16_column_sum (gemm_bf16.h) gives: each 32-row
// block's bf16 rows are staged in a per-thread buffer (32 × n bf16, 64 KiB at n = 1024: it stays in
// L2) instead of memory, and when the block's last column block is done gelu_backward_row
// (gelu_backward_row.h) turns them into C's rows, reading pre's; a thread takes the row blocks of a
// kColumnSumChunk-row chunk together, in order, summing them into the chunk's partial, so the sums
// keep to_bf16_column_sum's order. Saves writing the GEMM's C to memory and reading it back (8 + 8
// MiB per d256 layer). (GELU's backward inside the per-block epilogue, on 32 × 32 blocks, measured
// slower than the separate pass: its gathers compete with the tiles for L1; docs/performance.md.)
struct GeluBackwardEpilogue {
  const uint16_t* pre = nullptr;  // (m, n) bf16, C's row stride
  float* col_sum = nullptr;       // (n)
};

// C (m, n) = A · op(B) (+ bias broadcast over rows) (+ C when accumulate): A bf16 (m, k) with row
// stride lda; B bf16 stored (n, k) when trans_b, else (k, n), row stride ldb; C as in matmul_bf16.
// Requires amx_matmul_applies(false, m, n, k, 1, accumulate ? 1 : 0, c.bf16); gelu and gelu_back
// need a bf16 C (at most one of them).
void amx_matmul(bool trans_b, int64_t m, int64_t n, int64_t k, const uint16_t* a, int64_t lda, const uint16_t* b,
                int64_t ldb, bool accumulate, Bf16Out c, const float* bias, const GeluEpilogue* gelu = nullptr,
                const GeluBackwardEpilogue* gelu_back = nullptr);

}  // namespace goat::cpu
