// The attention kernel's tile GEMM: C (+)= A·B on blocks of at most 64×64, dispatched to the
// register-blocked micro-kernel in attention_kernel.h (R rows × NV 16-lane vectors). Small
// oneDNN calls per tile cost more in call overhead than these tiles take to compute.
#include "backend/cpu/attention_kernel.h"

// See attention_kernel.h: 64-byte vectors in a non-AVX-512 build.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace goat::cpu::attn {

namespace {
constexpr int kRows = 6;

template <int R>
void row_block(int nv, int64_t k, const float* a, int64_t a_rs, int64_t a_cs, const float* b, int64_t ldb, float* c,
               int64_t ldc, bool acc) {
  switch (nv) {
    case 4:
      micro_kernel<R, 4>(k, a, a_rs, a_cs, b, ldb, c, ldc, acc);
      break;
    case 3:
      micro_kernel<R, 3>(k, a, a_rs, a_cs, b, ldb, c, ldc, acc);
      break;
    case 2:
      micro_kernel<R, 2>(k, a, a_rs, a_cs, b, ldb, c, ldc, acc);
      break;
    default:
      micro_kernel<R, 1>(k, a, a_rs, a_cs, b, ldb, c, ldc, acc);
      break;
  }
}
}  // namespace

void tile_gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t a_rs, int64_t a_cs, const float* b, int64_t ldb,
               float* c, int64_t ldc, bool accumulate) {
  for (int64_t n0 = 0; n0 < n; n0 += 64) {
    const int nv = static_cast<int>(n - n0 >= 64 ? 4 : (n - n0) / 16);
    const float* bb = b + n0;
    float* cc = c + n0;
    int64_t r0 = 0;
    for (; r0 + kRows <= m; r0 += kRows)
      row_block<kRows>(nv, k, a + r0 * a_rs, a_rs, a_cs, bb, ldb, cc + r0 * ldc, ldc, accumulate);
    switch (m - r0) {
      case 5:
        row_block<5>(nv, k, a + r0 * a_rs, a_rs, a_cs, bb, ldb, cc + r0 * ldc, ldc, accumulate);
        break;
      case 4:
        row_block<4>(nv, k, a + r0 * a_rs, a_rs, a_cs, bb, ldb, cc + r0 * ldc, ldc, accumulate);
        break;
      case 3:
        row_block<3>(nv, k, a + r0 * a_rs, a_rs, a_cs, bb, ldb, cc + r0 * ldc, ldc, accumulate);
        break;
      case 2:
        row_block<2>(nv, k, a + r0 * a_rs, a_rs, a_cs, bb, ldb, cc + r0 * ldc, ldc, accumulate);
        break;
      case 1:
        row_block<1>(nv, k, a + r0 * a_rs, a_rs, a_cs, bb, ldb, cc + r0 * ldc, ldc, accumulate);
        break;
      default:
        break;
    }
  }
}

}  // namespace goat::cpu::attn
