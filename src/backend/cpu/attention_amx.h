// bf16 products for the CPU attention kernel on AMX (dtype "bf16"): operand rounding and packing,
// and a tile GEMM C (+)= bf16(A)·bf16(B) with fp32 accumulation on the AMX tile units. The softmax
// statistics, the bias/prior, the mask and every accumulator between GEMMs stay fp32 (the CUDA bf16
// recipe). Why AMX and not AVX-512-BF16: on this machine VDPBF16PS retires one per two cycles
// (16 multiply-adds per cycle) against two fp32 FMAs per cycle (32), so a dpbf16 micro-kernel
// cannot beat the fp32 one; one TDPBF16PS does 16×16×32 multiply-adds (measured 1.1 TFLOP/s on a
// 64×64×32 tile with its stores, single thread, vs ≈ 130 GFLOP/s for the fp32 micro-kernel).
// Operand layouts (AMX's): A natural bf16 rows (K contiguous); B "VNNI" pairs — row kk holds
// (B[2kk][n], B[2kk+1][n]) for every column n as one 32-bit word. Shapes: M, N multiples of 16,
// K of 32 (callers pad with zeros).
#pragma once

#include <cstdint>

// GOATLM_AMX_BUILD: this translation unit is compiled for AMX-BF16 (-march=native on an AMX
// machine). GCC spells the target macros __AMX_TILE__/__AMX_BF16__, clang __AMXTILE__/__AMXBF16__.
#if (defined(__AMX_TILE__) || defined(__AMXTILE__)) && (defined(__AMX_BF16__) || defined(__AMXBF16__)) && defined(__linux__)
#define GOATLM_AMX_BUILD 1
#else
#define GOATLM_AMX_BUILD 0
#endif

namespace goat::cpu::attn {

// AMX-BF16 usable by this process: compiled in (an AMX build machine), present (CPUID) and the
// kernel granted the tile state (arch_prctl). Checked once.
bool amx_ready();

// Loads the tile configuration on this thread for the scope (oneDNN reconfigures the tiles for
// its own GEMMs, so every parallel region that uses amx_gemm holds one); releases them after.
class AmxTiles {
 public:
  AmxTiles();
  ~AmxTiles();
  AmxTiles(const AmxTiles&) = delete;
  AmxTiles& operator=(const AmxTiles&) = delete;
};

// fp32 → bf16, round to nearest even (NaN stays NaN), the rounding gemm_bf16 uses. Src: float, or
// uint16_t for bf16 inputs (AttentionParams::q16 …), which pass unchanged (the rounding of a bf16
// value is itself); instantiated for both.
// to_bf16_rows: dst[r·ldd + c] = bf16(src[r·ld + c]) for c < valid, 0 for valid ≤ c < cols
// (cols a multiple of 16; src is read up to round_up(valid, 16)).
template <class Src>
void to_bf16_rows(const Src* src, int64_t ld, int64_t rows, int64_t valid, int64_t cols, uint16_t* dst, int64_t ldd);
// VNNI pairs of rows: dst[kk·ldd + n] = (bf16(src[2kk][n]), bf16(src[2kk+1][n])) for n < cols (a
// multiple of 16), kk < pair_rows; source rows ≥ rows read as zero.
template <class Src>
void to_bf16_pairs(const Src* src, int64_t ld, int64_t rows, int64_t cols, int64_t pair_rows, uint32_t* dst,
                   int64_t ldd);

// The B operand of X·Kᵀ-type products from rows of K (rows < kBk, dp ≤ row stride, dp a multiple
// of 32): dst[kk·ldd + j] = (bf16(K[j][2kk]), bf16(K[j][2kk+1])) for j < ldd (rows ≥ `rows` zero),
// kk < dp/2. tmp: ldd × dp/2 words of scratch (fp32 K; bf16 K rows are those pairs already and
// are transposed as 32-bit words in place).
template <class Src>
void to_bf16_pairs_over_cols(const Src* src, int64_t ld, int64_t rows, int64_t dp, uint32_t* tmp, uint32_t* dst,
                             int64_t ldd);

// Rows (T × dp, row stride ld, dp a multiple of 16) → bf16 rows of the transpose (dp × t32, zero
// past T; t32 a multiple of 16): the A operand of products summed over time (dKᵀ += Qᵀ·dS,
// dVᵀ += dOᵀ·P).
template <class Src>
void to_bf16_transposed(const Src* x, int64_t ld, int64_t T, int64_t dp, int64_t t32, uint16_t* dst);

// An A operand of bf16 rows (row stride ld elements).
struct BfRows {
  const uint16_t* rows;
  int64_t ld;
};
// The A operand of products with the rows x (T × d, row stride ld, d a multiple of 32): bf16 inputs
// with T a multiple of 16 in place (every tile row is a real row), else rounded into buf (T × d;
// the AMX reads rows up to round_up(T, 16): pad rows are the caller's).
template <class Src>
inline BfRows bf16_rows_operand(const Src* x, int64_t ld, int64_t T, int64_t d, uint16_t* buf) {
  if constexpr (sizeof(Src) == 2)
    if (T % 16 == 0) return {x, ld};
  to_bf16_rows(x, ld, T, d, d, buf, d);
  return {buf, d};
}

// Which part of C a causal tile needs (attention_kernel.h's Tri, at AMX granularity: 16 rows,
// K steps of 32): full, cols, k_lower or k_upper with the tile's diag.
enum class AmxPart { full, cols, k_lower, k_upper };
// C[M × N] (+)= A[M × K] · B[K × N]: A bf16 rows (row stride lda elements), B VNNI pairs (ldb words
// per pair row), C fp32 (row stride ldc). M, N multiples of 16, K of 32.
void amx_gemm(AmxPart part, int64_t diag, int64_t m, int64_t n, int64_t k, const uint16_t* a, int64_t lda,
              const uint32_t* b, int64_t ldb, float* c, int64_t ldc, bool accumulate);

}  // namespace goat::cpu::attn
