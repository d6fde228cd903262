// c_fc's GELU backward row (gelu_backward_row.h): the scalar-lookup loop and the 16-lane gather.
#include "backend/cpu/gelu_backward_row.h"

#include "backend/cpu/gelu_table.h"
#include "core/dtype.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace goat::cpu {

void gelu_backward_row_scalar(const uint16_t* x, const uint16_t* pre, int64_t n, uint16_t* out, float* acc) {
  const float* const grad = gelu_bf16_table().grad;
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) {
    const float v = element_value(x[c]) * grad[pre[c]];
    acc[c] += v;
    out[c] = bf16::from_float(v).bits;
  }
}

#if defined(__AVX512F__)

namespace {

// Masked forms throughout: the unmasked intrinsics start from _mm512_undefined_*, which GCC 12
// reports as -Wmaybe-uninitialized once inlined (as in gemm_amx_store.cpp).
constexpr __mmask16 kAll = 0xffff;

inline __m512i widen(const uint16_t* p) {  // 16 × u16 → u32
  return _mm512_maskz_cvtepu16_epi32(kAll, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// bf16::from_float on 16 lanes: round to nearest even; NaN → its high half with the quiet bit set.
inline __m256i round_bf16(__m512 v) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i high = _mm512_maskz_srli_epi32(kAll, u, 16);
  const __m512i lsb = _mm512_maskz_and_epi32(kAll, high, _mm512_set1_epi32(1));
  const __m512i rounding = _mm512_maskz_add_epi32(kAll, lsb, _mm512_set1_epi32(0x7fff));
  const __m512i rounded = _mm512_maskz_srli_epi32(kAll, _mm512_maskz_add_epi32(kAll, u, rounding), 16);
  const __mmask16 nan = _mm512_cmp_epu32_mask(_mm512_maskz_and_epi32(kAll, u, _mm512_set1_epi32(0x7fffffff)),
                                              _mm512_set1_epi32(0x7f800000), _MM_CMPINT_NLE);
  const __m512i quiet = _mm512_maskz_or_epi32(kAll, high, _mm512_set1_epi32(0x40));
  return _mm512_maskz_cvtepi32_epi16(kAll, _mm512_mask_mov_epi32(rounded, nan, quiet));
}

}  // namespace

void gelu_backward_row(const uint16_t* x, const uint16_t* pre, int64_t n, uint16_t* out, float* acc) {
  const float* const grad = gelu_bf16_table().grad;
  int64_t c = 0;
  for (; c + 16 <= n; c += 16) {
    const __m512 g = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), kAll, widen(pre + c), grad, 4);
    const __m512 xv = _mm512_castsi512_ps(_mm512_maskz_slli_epi32(kAll, widen(x + c), 16));
    const __m512 v = _mm512_mul_ps(xv, g);
    _mm512_storeu_ps(acc + c, _mm512_add_ps(_mm512_loadu_ps(acc + c), v));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + c), round_bf16(v));
  }
  gelu_backward_row_scalar(x + c, pre + c, n - c, out + c, acc + c);
}

#else

void gelu_backward_row(const uint16_t* x, const uint16_t* pre, int64_t n, uint16_t* out, float* acc) {
  gelu_backward_row_scalar(x, pre, n, out, acc);
}

#endif

}  // namespace goat::cpu
