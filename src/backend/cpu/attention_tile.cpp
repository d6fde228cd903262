// The attention kernel's tile GEMM: C (+)= A·B on blocks of at most 64×64, dispatched to the
// register-blocked micro-kernel in attention_kernel.h (R rows × NV 16-lane vectors). Small
// oneDNN calls per tile cost more in call overhead than these tiles take to compute.
// tile_gemm_causal cuts every row block to the part of a diagonal tile the causal mask lets
// through (about half of the tile's work at the diagonal).
#include "backend/cpu/attention_kernel.h"

// See attention_kernel.h: 64-byte vectors in a non-AVX-512 build.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace goat::cpu::attn {

namespace {
constexpr int kRows = static_cast<int>(kMaxRows);

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

// rows × n (n a multiple of 16) of C, rows ≤ kRows, in chunks of 64 columns.
void rows_block(int rows, int64_t n, int64_t k, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
                int64_t ldb, float* c, int64_t ldc, bool acc) {
  for (int64_t n0 = 0; n0 < n; n0 += 64) {
    const int nv = static_cast<int>(n - n0 >= 64 ? 4 : (n - n0) / 16);
    switch (rows) {
      case 6:
        row_block<6>(nv, k, a, a_rs, a_cs, b + n0, ldb, c + n0, ldc, acc);
        break;
      case 5:
        row_block<5>(nv, k, a, a_rs, a_cs, b + n0, ldb, c + n0, ldc, acc);
        break;
      case 4:
        row_block<4>(nv, k, a, a_rs, a_cs, b + n0, ldb, c + n0, ldc, acc);
        break;
      case 3:
        row_block<3>(nv, k, a, a_rs, a_cs, b + n0, ldb, c + n0, ldc, acc);
        break;
      case 2:
        row_block<2>(nv, k, a, a_rs, a_cs, b + n0, ldb, c + n0, ldc, acc);
        break;
      case 1:
        row_block<1>(nv, k, a, a_rs, a_cs, b + n0, ldb, c + n0, ldc, acc);
        break;
      default:
        break;
    }
  }
}
static_assert(kRows == 6, "rows_block dispatches up to 6 rows");
}  // namespace

void tile_gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t a_rs, int64_t a_cs, const float* b, int64_t ldb,
               float* c, int64_t ldc, bool accumulate) {
  for (int64_t r0 = 0; r0 < m; r0 += kRows) {
    const int rows = static_cast<int>(std::min<int64_t>(kRows, m - r0));
    rows_block(rows, n, k, a + r0 * a_rs, a_rs, a_cs, b, ldb, c + r0 * ldc, ldc, accumulate);
  }
}

void tile_gemm_causal(Tri mode, int64_t diag, int64_t m, int64_t n, int64_t k, const float* a, int64_t a_rs,
                      int64_t a_cs, const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  for (int64_t r0 = 0; r0 < m; r0 += kRows) {
    const int rows = static_cast<int>(std::min<int64_t>(kRows, m - r0));
    // Last admitted key + 1 of the block's last row (cols, k_lower); first query that sees the
    // block's first key (k_upper).
    const int64_t key_end = r0 + rows + diag;
    int64_t n_use = n, k0 = 0, k1 = k;
    if (mode == Tri::cols) n_use = std::min(n, round_up(std::max<int64_t>(key_end, 0), kLanes));
    if (mode == Tri::k_lower) k1 = std::clamp<int64_t>(key_end, 0, k);
    if (mode == Tri::k_upper) k0 = std::clamp<int64_t>(r0 - diag, 0, k);
    if (n_use == 0 || (k1 <= k0 && accumulate)) continue;
    rows_block(rows, n_use, k1 - k0, a + r0 * a_rs + k0 * a_cs, a_rs, a_cs, b + k0 * ldb, ldb, c + r0 * ldc, ldc,
               accumulate);
  }
}

namespace {
template <class T>
void transpose_words(const T* src, int64_t src_rs, int64_t rows, int64_t cols, T* dst, int64_t ldd) {
  static_assert(sizeof(T) == 4, "32-bit words; the vector path moves bits, it does no arithmetic");
  const int64_t rows16 = rows / 16 * 16, cols16 = cols / 16 * 16;
  for (int64_t r0 = 0; r0 < rows16; r0 += 16)
    for (int64_t c0 = 0; c0 < cols16; c0 += 16) {
      v16 t[16];
      for (int i = 0; i < 16; ++i) std::memcpy(&t[i], src + (r0 + i) * src_rs + c0, sizeof t[i]);
      transpose16(t);
      for (int i = 0; i < 16; ++i) std::memcpy(dst + (c0 + i) * ldd + r0, &t[i], sizeof t[i]);
    }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = (r < rows16 ? cols16 : 0); c < cols; ++c) dst[c * ldd + r] = src[r * src_rs + c];
}
}  // namespace

void transpose_into(const float* src, int64_t src_rs, int64_t rows, int64_t cols, float* dst, int64_t ldd) {
  transpose_words(src, src_rs, rows, cols, dst, ldd);
}
void transpose_into(const uint32_t* src, int64_t src_rs, int64_t rows, int64_t cols, uint32_t* dst, int64_t ldd) {
  transpose_words(src, src_rs, rows, cols, dst, ldd);
}

}  // namespace goat::cpu::attn
