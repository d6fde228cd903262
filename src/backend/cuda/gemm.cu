// The backend's GEMM wrapper and the linear layer on top of it. gemm() has cpu::sgemm's exact
// row-major semantics. On a GPU it is one cuBLASLt matmul (fp32 compute, bf16 or fp32 A/B, C of
// dtype c): a row-major C = op(A)·op(B) is the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, so B goes first
// with the dims swapped. In emulation (GOATLM_CUDA_EMU, device memory is host memory) bf16
// operands are widened to fp32 temporaries, cpu::sgemm runs, and a bf16 C is rounded back (RNE).
#include <vector>

#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_runtime_util.h"
#include "linear.cuh"

#if defined(GOATLM_CUDA_EMU)
#include "backend/cpu/gemm.h"
#else
#include <cublasLt.h>
#endif

namespace goat::cuda {

namespace {

#if defined(GOATLM_CUDA_EMU)

// A (rows, cols) matrix with row stride ld as contiguous fp32 (rows, cols).
std::vector<float> widen(const void* p, DType dt, int64_t rows, int64_t cols, int64_t ld) {
  std::vector<float> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j)
      out[r * cols + j] = dt == DType::f32 ? static_cast<const float*>(p)[r * ld + j]
                                           : static_cast<const bf16*>(p)[r * ld + j].to_float();
  return out;
}

#else

void lt_check(cublasStatus_t st, const char* what) {
  require(st == CUBLAS_STATUS_SUCCESS, "cuda gemm",
          std::string(what) + ": " + cublasLtGetStatusName(st) + " (" + cublasLtGetStatusString(st) + ")");
}

cublasLtHandle_t lt_handle() {
  static cublasLtHandle_t h = [] {
    cublasLtHandle_t x = nullptr;
    lt_check(cublasLtCreate(&x), "cublasLtCreate");
    return x;
  }();
  return h;
}

constexpr size_t kWorkspaceBytes = 32u << 20;

void* workspace() {
  static void* w = alloc(kWorkspaceBytes);
  return w;
}

cudaDataType_t lt_type(DType d) { return d == DType::f32 ? CUDA_R_32F : CUDA_R_16BF; }

#endif

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const void* a, int64_t lda,
          const void* b, int64_t ldb, float beta, void* c, int64_t ldc, DType ab, DType c_type) {
  require(!(ab == DType::f32 && c_type == DType::bf16), "cuda gemm", "f32 inputs with a bf16 output are unsupported");
  if (m == 0 || n == 0) return;
#if defined(GOATLM_CUDA_EMU)
  const int64_t ar = trans_a ? k : m, ac = trans_a ? m : k, br = trans_b ? n : k, bc = trans_b ? k : n;
  std::vector<float> fa = widen(a, ab, ar, ac, lda), fb = widen(b, ab, br, bc, ldb);
  if (c_type == DType::f32) {
    cpu::sgemm(trans_a, trans_b, m, n, k, alpha, fa.data(), ac, fb.data(), bc, beta, static_cast<float*>(c), ldc);
    return;
  }
  std::vector<float> fc = widen(c, c_type, m, n, ldc);
  cpu::sgemm(trans_a, trans_b, m, n, k, alpha, fa.data(), ac, fb.data(), bc, beta, fc.data(), n);
  bf16* cb = static_cast<bf16*>(c);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t j = 0; j < n; ++j) cb[r * ldc + j] = bf16::from_float(fc[r * n + j]);
#else
  cublasLtMatmulDesc_t op = nullptr;
  lt_check(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
  const cublasOperation_t ta = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, tb = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  lt_check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)), "set TRANSA");
  lt_check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)), "set TRANSB");
  // Column-major views: first operand = our B, (n × k) after op; second = our A, (k × m) after op.
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
  lt_check(cublasLtMatrixLayoutCreate(&la, lt_type(ab), trans_b ? k : n, trans_b ? n : k, ldb), "layout B");
  lt_check(cublasLtMatrixLayoutCreate(&lb, lt_type(ab), trans_a ? m : k, trans_a ? k : m, lda), "layout A");
  lt_check(cublasLtMatrixLayoutCreate(&lc, lt_type(c_type), n, m, ldc), "layout C");
  const cublasStatus_t st = cublasLtMatmul(lt_handle(), op, &alpha, b, la, a, lb, &beta, c, lc, c, lc, nullptr,
                                           workspace(), kWorkspaceBytes, stream());
  cublasLtMatrixLayoutDestroy(lc);
  cublasLtMatrixLayoutDestroy(lb);
  cublasLtMatrixLayoutDestroy(la);
  cublasLtMatmulDescDestroy(op);
  lt_check(st, "cublasLtMatmul");
#endif
}

void linear_forward(void* out, int64_t ldo, const void* in, int64_t ldi, const void* w, const void* bias, int64_t rows,
                    int64_t cin, int64_t cout, DType dt) {
  gemm(false, true, rows, cout, cin, 1.f, in, ldi, w, cin, 0.f, out, ldo, dt, dt);
  if (!bias) return;
  dispatch_dtype(dt, [&]<typename T>() {
    const kernels::BiasArgs<T> p{static_cast<T*>(out), static_cast<const T*>(bias), nullptr, nullptr, rows, cout, ldo};
    check(kernels::launch_bias_add(p, stream()), "linear", "bias kernel");
  });
}

void linear_backward(void* d_in, int64_t ld_din, float* d_w, float* d_b, const void* d_out, int64_t ld_dout,
                     const void* in, int64_t ldi, const void* w, int64_t rows, int64_t cin, int64_t cout,
                     bool accumulate, DType dt) {
  if (d_in) gemm(false, false, rows, cin, cout, 1.f, d_out, ld_dout, w, cin, accumulate ? 1.f : 0.f, d_in, ld_din, dt, dt);
  if (d_w) gemm(true, false, cout, cin, rows, 1.f, d_out, ld_dout, in, ldi, 1.f, d_w, cin, dt, DType::f32);
  if (!d_b) return;
  dispatch_dtype(dt, [&]<typename T>() {
    const kernels::BiasArgs<T> p{nullptr, nullptr, d_b, static_cast<const T*>(d_out), rows, cout, ld_dout};
    check(kernels::launch_bias_grad(p, stream()), "linear", "bias gradient kernel");
  });
}

}  // namespace goat::cuda
