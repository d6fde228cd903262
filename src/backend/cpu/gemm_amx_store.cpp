// The AMX GEMM's epilogue (gemm_amx_store.h). C (up to 16 MiB) goes through L1 to non-temporal
// stores, so it is written to memory without being read first (ordinary stores read each line
// before writing it: 9.7 against 22 GB/s on one core here). With GELU the block is rounded to bf16
// in registers and GELU's forward looked up there: c_fc's fch_gelu comes out of the GEMM that
// produces fch, instead of a pass that reads the whole matrix back.
#include "backend/cpu/gemm_amx_store.h"

#include <cstddef>

#include "backend/cpu/attention_amx.h"
#include "backend/cpu/gelu_table.h"
#include "core/check.h"
#include "core/dtype.h"

#if GOATLM_AMX_BUILD
#include <immintrin.h>
#endif

namespace goat::cpu {

#if GOATLM_AMX_BUILD

namespace {

constexpr int64_t kBlock = 32;

// 32 values of a block row plus the bias (b0, b1: its 32 values; −0 without one), as two halves.
struct RowSum {
  __m512 lo, hi;
};
inline RowSum row_sum(const float* src, __m512 b0, __m512 b1) {
  return {_mm512_add_ps(_mm512_load_ps(src), b0), _mm512_add_ps(_mm512_load_ps(src + 16), b1)};
}

// 32 fp32 values → 32 bf16 bits (one 64-byte line), rounded to nearest even. VCVTNE2PS2BF16 reads
// subnormal inputs as zero (bf16::from_float, the fallback below, does not): the two differ only
// for sums of magnitude below 2^-126.
inline __m512i round_row(RowSum v) {
#if defined(__AVX512BF16__)
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(v.hi, v.lo));
#else
  alignas(64) float f[kBlock];
  _mm512_store_ps(f, v.lo);
  _mm512_store_ps(f + 16, v.hi);
  alignas(64) uint16_t h[kBlock];
  for (int64_t j = 0; j < kBlock; ++j) h[j] = bf16::from_float(f[j]).bits;
  return _mm512_load_si512(h);
#endif
}

// One 64-byte line to dst, non-temporal where stream is set and dst is 64-byte aligned.
inline void store_line(void* dst, __m512i v, bool stream) {
  if (stream && reinterpret_cast<uintptr_t>(dst) % 64 == 0)
    _mm512_stream_si512(static_cast<__m512i*>(dst), v);
  else
    _mm512_storeu_si512(dst, v);
}

// Lane moves in their masked forms: the unmasked intrinsics start from _mm512_undefined_*, which
// GCC 12 reports as -Wmaybe-uninitialized once inlined here.
constexpr __mmask16 kAll16 = 0xffff;
inline __m256i half(__m512i v, int which) {
  return which ? _mm512_maskz_extracti64x4_epi64(0xf, v, 1) : _mm512_maskz_extracti64x4_epi64(0xf, v, 0);
}
inline __m512i widen(__m256i h) { return _mm512_maskz_cvtepu16_epi32(kAll16, h); }   // 16 × u16 → u32
inline __m256i narrow(__m512i v) { return _mm512_maskz_cvtepi32_epi16(kAll16, v); }  // 16 × u32 → low u16
inline __m512i join(__m256i lo, __m256i hi) {
  return _mm512_maskz_inserti64x4(0xff, _mm512_maskz_inserti64x4(0xff, _mm512_setzero_si512(), lo, 0), hi, 1);
}

// table[x] for the 32 bf16 values x in h: two 16-lane gathers of 32-bit words at table + 2x (the
// entry in the low half; the high half, at most 2 bytes past the last entry, stays inside
// GeluBf16Table), packed back to 16 bits.
static_assert(sizeof(GeluBf16Table) >= offsetof(GeluBf16Table, forward) + sizeof(GeluBf16Table::forward) + 2,
              "gelu_row reads 2 bytes past the forward table");
inline __m512i gelu_row(const uint16_t* table, __m512i h) {
  const __m512i glo = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), kAll16, widen(half(h, 0)), table, 2);
  const __m512i ghi = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), kAll16, widen(half(h, 1)), table, 2);
  return join(narrow(glo), narrow(ghi));
}

// 32 fp32 values to dst, non-temporal where stream is set and dst is 64-byte aligned.
inline void store_f32_row(RowSum v, float* dst, bool stream) {
  if (stream && reinterpret_cast<uintptr_t>(dst) % 64 == 0) {
    _mm512_stream_ps(dst, v.lo);
    _mm512_stream_ps(dst + 16, v.hi);
  } else {
    _mm512_storeu_ps(dst, v.lo);
    _mm512_storeu_ps(dst + 16, v.hi);
  }
}

}  // namespace

void amx_store_block(const float* block, const float* bias, Bf16Out c, const GeluEpilogue* gelu, int64_t r0, int64_t n0,
                     bool stream) {
  // The bias added as each row is stored (one pass over the block; before, a pass of its own).
  // Without a bias −0 is added, the identity for every value (+0 would turn a −0 sum into +0).
  const __m512 b0 = bias ? _mm512_loadu_ps(bias) : _mm512_set1_ps(-0.f);
  const __m512 b1 = bias ? _mm512_loadu_ps(bias + 16) : _mm512_set1_ps(-0.f);
  if (!c.bf16) {
    float* out = static_cast<float*>(c.c) + r0 * c.ldc + n0;
    for (int64_t r = 0; r < kBlock; ++r) store_f32_row(row_sum(block + r * kBlock, b0, b1), out + r * c.ldc, stream);
    return;
  }
  uint16_t* out = static_cast<uint16_t*>(c.c) + r0 * c.ldc + n0;
  if (!gelu) {
    for (int64_t r = 0; r < kBlock; ++r)
      store_line(out + r * c.ldc, round_row(row_sum(block + r * kBlock, b0, b1)), stream);
    return;
  }
  // C and GELU(C), GELU gathered from the table (the entries' hot part stays in L1; a scalar
  // lookup loop over the block took twice as long here as in a separate pass)
  const uint16_t* const table = gelu_bf16_table().forward;
  uint16_t* act = gelu->gelu_out + r0 * c.ldc + n0;
  for (int64_t r = 0; r < kBlock; ++r) {
    const __m512i h = round_row(row_sum(block + r * kBlock, b0, b1));
    store_line(out + r * c.ldc, h, stream);
    store_line(act + r * c.ldc, gelu_row(table, h), stream);
  }
}

#else  // no AMX in this build: amx_matmul never runs

void amx_store_block(const float*, const float*, Bf16Out, const GeluEpilogue*, int64_t r0, int64_t n0, bool) {
  fail("amx_store_block", "AMX is not compiled into this build (block at {}, {})", r0, n0);
}

#endif

}  // namespace goat::cpu
