// AMX bf16 GEMM for the linear layers (see gemm_amx.h). The tile part compiles only where the
// compiler targets AMX (-march=native on an AMX machine); elsewhere amx_matmul_applies is false
// and matmul_bf16 stays on oneDNN.
#include "backend/cpu/gemm_amx.h"

#include <algorithm>
#include <vector>

#include "backend/cpu/aligned_scratch.h"
#include "backend/cpu/attention_amx.h"
#include "backend/cpu/attention_kernel.h"
#include "backend/cpu/gelu_backward_row.h"
#include "backend/cpu/gemm_amx_store.h"
#include "backend/cpu/vec_math.h"
#include "core/check.h"

#if GOATLM_AMX_BUILD
#include <immintrin.h>
#endif

namespace goat::cpu {

bool amx_matmul_applies(bool trans_a, int64_t m, int64_t n, int64_t k, float alpha, float beta, bool c_bf16) {
#if GOATLM_AMX_BUILD
  return !trans_a && m > 0 && n > 0 && k > 0 && m % 32 == 0 && n % 32 == 0 && k % 32 == 0 && alpha == 1.f &&
         (beta == 0.f || (beta == 1.f && !c_bf16)) && attn::amx_ready();
#else
  (void)trans_a, (void)m, (void)n, (void)k, (void)alpha, (void)beta, (void)c_bf16;
  return false;
#endif
}

bool amx_reads_a_in_place(const uint16_t* a, int64_t lda) {
  constexpr int64_t kInPlaceMaxLda = 1024;  // 2 KiB rows (K = 2048, 4 KiB: no faster in place)
  return lda <= kInPlaceMaxLda && lda % 32 == 0 && reinterpret_cast<uintptr_t>(a) % 64 == 0;
}

#if GOATLM_AMX_BUILD

namespace {

constexpr int64_t kBlock = 32;  // C block edge: 2 × 2 tiles of 16 × 16

// B (k, n) as VNNI words in blocks of 32 columns: packed[(nb·k/2 + kk)·32 + j] = (B[2kk][32nb + j],
// B[2kk + 1][32nb + j]) as (low, high) halves. B stored (n, k) when trans_b (a weight in the
// forward: the pair is one 32-bit word of row 32nb + j), else (k, n).
// Column block nb of the packing; called from a parallel loop over the blocks.
void pack_b(bool trans_b, int64_t nb, int64_t k, const uint16_t* b, int64_t ldb, uint32_t* packed) {
  const int64_t pairs = k / 2;
  uint32_t* dst = packed + nb * pairs * kBlock;
  if (trans_b && ldb % 2 == 0 && reinterpret_cast<uintptr_t>(b) % 4 == 0) {
    // the pairs are B's 32-bit words: a (32 × k/2) word transpose, 16 × 16 at a time (the scalar
    // loop below, storing one word per 128 bytes, took ≈ ¼ of amx_matmul's own time)
    attn::transpose_into(reinterpret_cast<const uint32_t*>(b + nb * kBlock * ldb), ldb / 2, kBlock, pairs, dst, kBlock);
    return;
  }
  if (trans_b) {
    for (int64_t j = 0; j < kBlock; ++j) {
      const uint16_t* row = b + (nb * kBlock + j) * ldb;
      for (int64_t kk = 0; kk < pairs; ++kk)
        dst[kk * kBlock + j] = static_cast<uint32_t>(row[2 * kk]) | static_cast<uint32_t>(row[2 * kk + 1]) << 16;
    }
    return;
  }
  for (int64_t kk = 0; kk < pairs; ++kk) {
    const uint16_t* lo = b + 2 * kk * ldb + nb * kBlock;
    const uint16_t* hi = lo + ldb;
#pragma omp simd
    for (int64_t j = 0; j < kBlock; ++j)
      dst[kk * kBlock + j] = static_cast<uint32_t>(lo[j]) | static_cast<uint32_t>(hi[j]) << 16;
  }
}

// A's rows [r0, r0 + 32) as tiles: packed[(s·32 + r)·32 + e] = A[r0 + r][32s + e], so every A tile
// load reads 1 KiB contiguous (row stride 64 bytes). Used where A cannot be read in place
// (amx_reads_a_in_place). (Tile loads with A's own 2 KiB row stride ran at half the speed when
// measured with A not 64-byte aligned, every tile row straddling two lines; aligned, they run
// 10–14% faster than this pack.)
void pack_a_rows(const uint16_t* a, int64_t lda, int64_t k, uint16_t* packed) {
  for (int64_t s = 0; s < k / 32; ++s)
    for (int64_t r = 0; r < kBlock; ++r) std::copy_n(a + r * lda + s * 32, 32, packed + (s * kBlock + r) * 32);
}

// Where the A tiles of one 32-row block come from: A itself (row stride lda) or its packed copy
// (pack_a_rows, row stride 32). Step s's two tiles start at base + s·step and base + s·step + half.
struct ATiles {
  const uint16_t* base;
  int64_t step, half, stride_bytes;
};

// One 32 × 32 block of C at (r0, n0): tiles 0–3 accumulate (2 A tiles 4, 5) × (2 B tiles 6, 7) over
// `steps` K steps of 32 from A's rows r0.. (ATiles: in place or packed) and packed B (pack_b) at
// the first step, starting from zero, or from C itself when accumulating (f32 C). The bias is added in the
// epilogue (amx_store_block, gemm_amx_store.h), not loaded into the C tiles: a tile load into a C
// tile waits for the previous block's store of that tile. Accumulated without a bias, the tiles go straight back to C
// (it was just read, it is in the cache). stream: non-temporal stores (amx_store_block).
void block_32x32(const ATiles& at, const uint32_t* bp, int64_t steps, bool accumulate, const float* bias, Bf16Out c,
                 const GeluEpilogue* gelu, int64_t r0, int64_t n0, bool stream) {
  const int64_t sa = at.stride_bytes, sb = kBlock * 4;
  float* const cf = static_cast<float*>(c.c) + r0 * c.ldc + n0;  // only used for an f32 C
  const int64_t sc = c.ldc * 4;
  if (accumulate) {
    _tile_loadd(0, cf, sc);
    _tile_loadd(1, cf + 16, sc);
    _tile_loadd(2, cf + 16 * c.ldc, sc);
    _tile_loadd(3, cf + 16 * c.ldc + 16, sc);
  } else {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  }
  for (int64_t s = 0; s < steps; ++s) {
    const uint32_t* b = bp + s * 16 * kBlock;
    const uint16_t* a = at.base + s * at.step;
    _tile_loadd(4, a, sa);
    _tile_loadd(6, b, sb);
    _tile_dpbf16ps(0, 4, 6);
    _tile_loadd(7, b + 16, sb);
    _tile_dpbf16ps(1, 4, 7);
    _tile_loadd(5, a + at.half, sa);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  if (accumulate && !bias) {
    _tile_stored(0, cf, sc);
    _tile_stored(1, cf + 16, sc);
    _tile_stored(2, cf + 16 * c.ldc, sc);
    _tile_stored(3, cf + 16 * c.ldc + 16, sc);
    return;
  }
  alignas(64) float block[kBlock * kBlock];
  _tile_stored(0, block, kBlock * 4);
  _tile_stored(1, block + 16, kBlock * 4);
  _tile_stored(2, block + 16 * kBlock, kBlock * 4);
  _tile_stored(3, block + 16 * kBlock + 16, kBlock * 4);
  amx_store_block(block, bias, c, gelu, r0, n0, stream);
}

// GeluBackwardEpilogue over one staged row block: stage (32 × n bf16, row stride n) holds C's rows
// [r0, r0 + 32); they go through GELU's backward into C's rows, summed into acc (n; zeroed first
// when the block starts its kColumnSumChunk-row chunk).
void gelu_backward_block(const GeluBackwardEpilogue& e, const uint16_t* stage, int64_t n, Bf16Out c, int64_t r0,
                         float* acc, bool chunk_start) {
  if (chunk_start) std::fill(acc, acc + n, 0.f);
  uint16_t* const out = static_cast<uint16_t*>(c.c);
  for (int64_t r = 0; r < kBlock; ++r)
    gelu_backward_row(stage + r * n, e.pre + (r0 + r) * c.ldc, n, out + (r0 + r) * c.ldc, acc);
}

}  // namespace

void amx_matmul(bool trans_b, int64_t m, int64_t n, int64_t k, const uint16_t* a, int64_t lda, const uint16_t* b,
                int64_t ldb, bool accumulate, Bf16Out c, const float* bias, const GeluEpilogue* gelu,
                const GeluBackwardEpilogue* gelu_back) {
  GOAT_CHECK(amx_matmul_applies(false, m, n, k, 1.f, accumulate ? 1.f : 0.f, c.bf16), "amx_matmul",
             "unsupported GEMM m={} n={} k={} (multiples of 32, AMX, f32 C to accumulate into)", m, n, k);
  GOAT_CHECK(!gelu || (c.bf16 && gelu->gelu_out), "amx_matmul",
             "a GELU epilogue needs a bf16 C and gelu_out (m={} n={})", m, n);
  GOAT_CHECK(!gelu_back || (c.bf16 && !gelu && gelu_back->pre && gelu_back->col_sum), "amx_matmul",
             "a GELU backward epilogue needs a bf16 C, pre and col_sum, and no GELU forward (m={} n={})", m, n);
  // Packed operands 64-byte aligned (aligned_scratch.h: from a std::vector, every tile row load
  // straddled two cache lines and the GEMM ran 13–38% slower).
  thread_local AlignedScratch packed_store;
  uint32_t* const packed = packed_store.get<uint32_t>(n * k / 2);  // the workers must not name the thread_local
  const int64_t row_blocks = m / kBlock, col_blocks = n / kBlock, steps = k / 32, pairs = k / 2;
  const bool direct = amx_reads_a_in_place(a, lda);
  // Row blocks go to the threads in groups: with gelu_back the blocks of one kColumnSumChunk-row
  // chunk (one column-sum partial per chunk, (groups, n)), else one by one.
  const int64_t group = gelu_back ? kColumnSumChunk / kBlock : 1, groups = (row_blocks + group - 1) / group;
  thread_local std::vector<float> partial_store;
  if (gelu_back) partial_store.resize(static_cast<size_t>(groups * n));
  float* const partials = partial_store.data();  // the workers must not name the thread_local
#pragma omp parallel if (m * n * k >= kParallelMin * 32)
  {
    const attn::AmxTiles tiles;
    thread_local AlignedScratch a_store, stage_store;  // each worker's own
    uint16_t* const a_packed = direct ? nullptr : a_store.get<uint16_t>(kBlock * k);
    uint16_t* const stage = gelu_back ? stage_store.get<uint16_t>(kBlock * n) : nullptr;
#pragma omp for schedule(static)
    for (int64_t nb = 0; nb < col_blocks; ++nb) pack_b(trans_b, nb, k, b, ldb, packed);
#pragma omp for schedule(static)
    for (int64_t g = 0; g < groups; ++g) {
      for (int64_t mb = g * group; mb < std::min(row_blocks, (g + 1) * group); ++mb) {
        const int64_t r0 = mb * kBlock;
        ATiles at{a + r0 * lda, 32, 16 * lda, lda * 2};
        if (!direct) {
          pack_a_rows(a + r0 * lda, lda, k, a_packed);
          at = ATiles{a_packed, kBlock * 32, 16 * 32, 64};
        }
        // A read in place: the next row block's lines prefetched into L2 across this block's column
        // blocks, where that is ≤ 32 lines per column block (K = 256 with n ≥ 256: 3–5% faster; at
        // K ≥ 768 with n = 256, 96–128 lines per block, it was 10% slower). The pack's copy loop
        // streamed them in itself; the tile loads of a cold A stall.
        const int64_t row_lines = k / 32;
        const int64_t next_lines =
            mb + 1 < row_blocks && direct && kBlock * row_lines <= 32 * col_blocks ? kBlock * row_lines : 0;
        const uint16_t* const next = next_lines ? a + (r0 + kBlock) * lda : a;
        for (int64_t nb = 0; nb < col_blocks; ++nb) {
          for (int64_t l = nb * next_lines / col_blocks; l < (nb + 1) * next_lines / col_blocks; ++l)
            _mm_prefetch(reinterpret_cast<const char*>(next + (l / row_lines) * lda + (l % row_lines) * 32),
                         _MM_HINT_T1);
          // with gelu_back C's block goes to the stage (ordinary stores: it stays in L2)
          block_32x32(at, packed + nb * pairs * kBlock, steps, accumulate, bias ? bias + nb * kBlock : nullptr,
                      stage ? Bf16Out{stage, n, true} : c, gelu, stage ? 0 : r0, nb * kBlock, !stage);
        }
        if (stage) gelu_backward_block(*gelu_back, stage, n, c, r0, partials + g * n, mb == g * group);
      }
    }
    _mm_sfence();  // the non-temporal stores are visible before the region ends
  }
  if (gelu_back) add_chunk_sums(partials, groups, n, gelu_back->col_sum);
}

#else  // no AMX in this build: never called (amx_matmul_applies is false)

void amx_matmul(bool, int64_t m, int64_t n, int64_t k, const uint16_t*, int64_t, const uint16_t*, int64_t, bool,
                Bf16Out, const float*, const GeluEpilogue*, const GeluBackwardEpilogue*) {
  fail("amx_matmul", "AMX is not compiled into this build (m={} n={} k={})", m, n, k);
}

#endif

}  // namespace goat::cpu
