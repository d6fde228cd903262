// bf16 GEMMs with fp32 accumulation (dtype "bf16" on the CPU), and the process-wide GEMM
// precision that the linear layers follow.
//
// Recipe (the CUDA bf16 path's): the two operands are rounded to bf16 (round-to-nearest-even)
// right before the GEMM, products are accumulated in fp32 and C stays fp32; weights, gradients,
// optimizer state, activations, softmax statistics and layer norms stay fp32. Each shape gets one
// cached oneDNN matmul primitive plus two f32→bf16 reorders straight into the layout the matmul
// wants (on AMX a blocked weights layout), so a call is reorder A, reorder B, matmul.
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
