// The CPU GEMM engine: oneDNN's sgemm and f32 matmul primitive (matmul_f32, the fp32 linear layers;
// row-major). Chosen on measurements on a 2-core Xeon with AVX-512/AMX: oneDNN 300-350 GFLOP/s f32
// where Debian's OpenBLAS 0.3.21 misdetects the CPU and gives 65 (docs/performance.md). oneDNN
// detects the ISA itself, no environment variable needed. Every CPU matmul goes through here.
#pragma once

#include <cstdint>
#include <string>

namespace goat::cpu {

// C[M,N] = alpha * op(A) op(B) + beta * C, row-major; op(X) = X or Xᵀ.
// lda/ldb/ldc are row strides of the stored matrices.
void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// C[M,N] = op(A) op(B) (+ bias[N] broadcast over the rows) + beta * C through a oneDNN f32
// matmul primitive (its brgemm kernels), cached per shape and thread; same arguments as sgemm.
// The bias is added in the GEMM's epilogue (C written once) and beta ≠ 0 is a sum post-op.
// Per-shape measurements of sgemm vs this on the linear layers' GEMMs: docs/performance.md
// ("fp32 GEMMs per shape"); the linear layer picks per shape.
void matmul_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const float* bias = nullptr);

// Strided batched variant: batch independent GEMMs with element strides between operands.
void sgemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t m, int64_t n, int64_t k, float alpha,
                   const float* a, int64_t lda, int64_t stride_a, const float* b, int64_t ldb, int64_t stride_b,
                   float beta, float* c, int64_t ldc, int64_t stride_c);

std::string gemm_engine_name();  // "oneDNN 2.6.3"
std::string gemm_kernel_isa();   // the ISA oneDNN dispatches to, e.g. "avx512_core_amx"

// Measures f32 GFLOP/s of a square n×n×n sgemm (median of reps) with the current threads, on the
// profile clock (core/op_profile.h: wall, or process CPU time / threads under `--clock cpu`).
double measure_sgemm_gflops(int64_t n = 1024, int reps = 5);

}  // namespace goat::cpu
