// bf16 GEMMs with fp32 accumulation (dtype "bf16" on the CPU), and the process-wide GEMM
// precision that the linear layers follow.
//
// Recipe (the CUDA bf16 path's): both operands bf16 (round-to-nearest-even), products accumulated
// in fp32, C fp32 (or, for an activation that only GEMMs and GELU consume, rounded to bf16 in the
// GEMM's store). Each shape gets one cached oneDNN matmul primitive. Operands come either already
// rounded (the CPU bf16 model keeps the GEMM-only activations in bf16, written by their producers,
// and a bf16 copy of the weights; ops/linear.h) or as f32, rounded by a cached f32→bf16 reorder
// into a dense per-thread scratch copy (a transposed operand is a strided view of its copy).
// Conversions are memory-bound and cost up to half of an AMX GEMM on this model's shapes, hence
// rounding once where a value is produced, and the split API below for the rest.
// Why explicit bf16 operands and not oneDNN's fpmath_mode=bf16 on f32 matmuls: oneDNN 2.6.3
// (Debian's) implements fpmath_mode=bf16 matmul with its avx512_core f32 kernel, not AMX, i.e.
// no speed-up; explicit bf16 operands dispatch to brg:avx512_core_amx_bf16 (docs/performance.md).
#pragma once

#include <cstdint>
#include <string>

namespace goat::cpu {

// C[M,N] = alpha · bf16(op(A)) · bf16(op(B)) + beta · C, row-major, fp32 accumulation; the
// same convention and arguments as sgemm (gemm.h).
void gemm_bf16(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
               int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// The two halves of gemm_bf16, for callers that reuse a rounded operand in two GEMMs (the
// linear backward rounds d_out once for d_in and d_w):
// to_bf16 rounds x (rows, cols; row stride ld) into a dense row-major bf16 copy held in scratch
// slot 0..kBf16Slots-1 of this thread; the copy stays valid until that slot is used again.
constexpr int kBf16Slots = 3;
const uint16_t* to_bf16(int slot, const float* x, int64_t rows, int64_t cols, int64_t ld);
// to_bf16 that also adds the column sums of x to col_sum (cols), in fp32: per column, rows summed
// in order within fixed 128-row chunks, then the chunks in order (independent of the thread
// count). One pass over x serves the bf16 operand and the bias gradient of a linear backward. With gelu_pre (same layout as x) the
// matrix rounded and summed is x ∘ gelu'(gelu_pre) (GELU's backward fused into the pass).
const uint16_t* to_bf16_column_sum(int slot, const float* x, int64_t rows, int64_t cols, int64_t ld, float* col_sum,
                                   const float* gelu_pre = nullptr);
// The same over bf16 inputs (x and gelu_pre bf16 bits, e.g. the bf16 activations of the CPU bf16
// model); the product and the sums are formed in fp32.
const uint16_t* to_bf16_column_sum(int slot, const uint16_t* x, int64_t rows, int64_t cols, int64_t ld,
                                   float* col_sum, const uint16_t* gelu_pre = nullptr);
// c_fc's GELU backward over bf16 bits into out instead of a scratch slot: out (rows, cols; row
// stride ld, the same as x's and pre's; out may be x itself) = bf16(x ∘ gelu'(pre)), col_sum +=
// its column sums, bitwise to_bf16_column_sum's values and order.
void gelu_backward_bf16_column_sum(const uint16_t* x, const uint16_t* pre, int64_t rows, int64_t cols, int64_t ld,
                                   uint16_t* out, float* col_sum);
// The column-sum order of to_bf16_column_sum: per column, rows summed in order from 0 within
// kColumnSumChunk-row chunks (partials (nchunks, cols)), then add_chunk_sums adds the chunks'
// partials in order (from 0) and the result to col_sum (cols).
constexpr int64_t kColumnSumChunk = 128;
void add_chunk_sums(const float* partials, int64_t nchunks, int64_t cols, float* col_sum);
// C = alpha · op(A) · op(B) (+ bias broadcast over rows) + beta · C over bf16 matrices: A stored
// (m, k), or (k, m) when trans_a, with row stride lda; B stored (k, n), or (n, k) when trans_b,
// with row stride ldb; C (m, n) with row stride ldc, f32 or, when c_bf16, bf16 bits (rounded to
// nearest even from the fp32 accumulator; then beta must be 0); bias (n) f32 or nullptr (then
// alpha must be 1). The bias is oneDNN's matmul bias argument, added in the GEMM's epilogue: C is
// written once instead of filled, read and rewritten.
// Runs on our AMX GEMM (gemm_amx.h) where that applies (A not transposed, m, n, k multiples of 32,
// alpha 1, beta 0 or 1: every forward and d_in GEMM of the model, as fast or faster there), unless
// the environment sets GOATLM_BF16_GEMM=onednn (read once per process); else on oneDNN's matmul.
struct Bf16Out {
  void* c;
  int64_t ldc;
  bool bf16 = false;  // C holds bf16 bits instead of f32
};
void matmul_bf16(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* a,
                 int64_t lda, const uint16_t* b, int64_t ldb, float beta, Bf16Out c, const float* bias = nullptr);
// matmul_bf16 always on oneDNN's matmul (one cached primitive per shape).
void matmul_bf16_onednn(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* a,
                        int64_t lda, const uint16_t* b, int64_t ldb, float beta, Bf16Out c,
                        const float* bias = nullptr);
// True when matmul_bf16 runs these arguments on the AMX GEMM (then amx_matmul applies to them).
bool matmul_bf16_on_amx(bool trans_a, int64_t m, int64_t n, int64_t k, float alpha, float beta, bool c_bf16);
// False when GOATLM_BF16_GEMM=onednn: matmul_bf16 never uses the AMX GEMM.
bool bf16_gemm_amx_enabled();

// The oneDNN implementation a bf16 GEMM dispatches to, e.g. "brg:avx512_core_amx_bf16".
std::string bf16_gemm_impl();

// Measures bf16 GFLOP/s (operand conversion included) of an n×n×n GEMM, median of reps.
double measure_bf16_gflops(int64_t n = 1024, int reps = 5);

enum class GemmPrecision { fp32, bf16 };
GemmPrecision gemm_precision();
// Sets the precision of the GEMMs the linear layers run on this thread until the scope ends.
class GemmPrecisionScope {
 public:
  explicit GemmPrecisionScope(GemmPrecision p);
  ~GemmPrecisionScope();
  GemmPrecisionScope(const GemmPrecisionScope&) = delete;
  GemmPrecisionScope& operator=(const GemmPrecisionScope&) = delete;

 private:
  GemmPrecision saved_;
};

// sgemm or gemm_bf16, by gemm_precision().
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace goat::cpu
