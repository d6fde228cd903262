// AMX tile GEMM and bf16 operand packing for the CPU attention kernel (see attention_amx.h).
// The AMX part compiles only where the compiler targets AMX (-march=native on an AMX machine);
// elsewhere amx_ready() is false and the kernel keeps fp32 products.
#include "backend/cpu/attention_amx.h"

#include <algorithm>
#include <cstring>

#include "backend/cpu/attention_bf16.h"
#include "backend/cpu/attention_kernel.h"
#include "core/cpu_info.h"

#if GOATLM_AMX_BUILD
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

// See attention_kernel.h: 64-byte vectors in a non-AVX-512 build.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace goat::cpu::attn {

template <class Src>
void to_bf16_rows(const Src* src, int64_t ld, int64_t rows, int64_t valid, int64_t cols, uint16_t* dst, int64_t ldd) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c0 = 0; c0 < cols; c0 += kLanes) {
      v16 x{};
      if (c0 < valid) {
        x = load_lanes(src + r * ld + c0);
        if (c0 + kLanes > valid) x = (iota() < static_cast<float>(valid - c0)) ? x : v16{};
      }
      store_bf16(dst + r * ldd + c0, x);
    }
}

template <class Src>
void to_bf16_pairs(const Src* src, int64_t ld, int64_t rows, int64_t cols, int64_t pair_rows, uint32_t* dst,
                   int64_t ldd) {
  for (int64_t kk = 0; kk < pair_rows; ++kk)
    for (int64_t c0 = 0; c0 < cols; c0 += kLanes) {
      const int64_t r = 2 * kk;
      if constexpr (sizeof(Src) == 2) {  // bf16 rows: interleave the bits
        vu16 lo{}, hi{};
        if (r < rows) std::memcpy(&lo, src + r * ld + c0, sizeof lo);
        if (r + 1 < rows) std::memcpy(&hi, src + (r + 1) * ld + c0, sizeof hi);
        const vu32 words = __builtin_convertvector(lo, vu32) | __builtin_convertvector(hi, vu32) << 16;
        std::memcpy(dst + kk * ldd + c0, &words, sizeof words);
      } else {
        const v16 lo = r < rows ? load(src + r * ld + c0) : v16{};
        const v16 hi = r + 1 < rows ? load(src + (r + 1) * ld + c0) : v16{};
        store_bf16_pairs(dst + kk * ldd + c0, lo, hi);
      }
    }
}

template <class Src>
void to_bf16_pairs_over_cols(const Src* src, int64_t ld, int64_t rows, int64_t dp, uint32_t* tmp, uint32_t* dst,
                             int64_t ldd) {
  const auto words = reinterpret_cast<uintptr_t>(src) % 4 == 0 && ld % 2 == 0;
  if constexpr (sizeof(Src) == 2) {
    if (words) {  // bf16 row j is (K[j][2kk], K[j][2kk+1]) for every kk: transpose its 32-bit words
      for (int64_t kk = 0; kk < dp / 2; ++kk) std::fill(dst + kk * ldd + rows, dst + (kk + 1) * ldd, 0u);
      transpose_into(reinterpret_cast<const uint32_t*>(src), ld / 2, rows, dp / 2, dst, ldd);
      return;
    }
  }
  // Row j of tmp (dp bf16 = dp/2 words, written bytewise) is (K[j][2kk], K[j][2kk+1]) for every kk;
  // the operand is its transpose.
  to_bf16_rows(src, ld, rows, dp, dp, reinterpret_cast<uint16_t*>(tmp), dp);
  std::memset(tmp + rows * dp / 2, 0, static_cast<size_t>((ldd - rows) * dp / 2) * sizeof(uint32_t));
  transpose_into(tmp, dp / 2, ldd, dp / 2, dst, ldd);
}

template <class Src>
void to_bf16_transposed(const Src* x, int64_t ld, int64_t T, int64_t dp, int64_t t32, uint16_t* dst) {
  // 16 × 16 blocks transposed in registers (rows past T zero).
  for (int64_t r0 = 0; r0 < t32; r0 += kLanes) {
    const int64_t rows = std::clamp<int64_t>(T - r0, 0, kLanes);
    for (int64_t c0 = 0; c0 < dp; c0 += kLanes) {
      v16 r[16];
      for (int64_t i = 0; i < kLanes; ++i) r[i] = i < rows ? load_lanes(x + (r0 + i) * ld + c0) : v16{};
      transpose16(r);
      for (int64_t c = 0; c < kLanes; ++c) store_bf16(dst + (c0 + c) * t32 + r0, r[c]);
    }
  }
}

#define GOAT_ATTN_BF16_OPERANDS(Src)                                                                           \
  template void to_bf16_rows(const Src*, int64_t, int64_t, int64_t, int64_t, uint16_t*, int64_t);              \
  template void to_bf16_pairs(const Src*, int64_t, int64_t, int64_t, int64_t, uint32_t*, int64_t);             \
  template void to_bf16_pairs_over_cols(const Src*, int64_t, int64_t, int64_t, uint32_t*, uint32_t*, int64_t); \
  template void to_bf16_transposed(const Src*, int64_t, int64_t, int64_t, int64_t, uint16_t*);
GOAT_ATTN_BF16_OPERANDS(float)
GOAT_ATTN_BF16_OPERANDS(uint16_t)
#undef GOAT_ATTN_BF16_OPERANDS

#if GOATLM_AMX_BUILD

namespace {

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14]{};
  uint16_t colsb[16]{};
  uint8_t rows[16]{};
};

// Tiles 0–3: C (16 × 16 fp32); 4: A (16 rows × 32 bf16); 5–7: B (16 pair rows × 16 columns).
TileConfig make_config() {
  TileConfig c;
  for (int t = 0; t < 8; ++t) c.colsb[t] = 64, c.rows[t] = 16;
  return c;
}

// One 16-row block of C, NC column tiles of 16 (NC ≤ 4), K in `steps` steps of 32.
template <int NC>
void row_block(const uint16_t* a, int64_t lda, const uint32_t* b, int64_t ldb, float* c, int64_t ldc, int64_t steps,
               bool accumulate) {
  const int64_t sa = lda * 2, sb = ldb * 4, sc = ldc * 4;  // strides in bytes
  if (accumulate) {
    _tile_loadd(0, c, sc);
    if constexpr (NC > 1) _tile_loadd(1, c + 16, sc);
    if constexpr (NC > 2) _tile_loadd(2, c + 32, sc);
    if constexpr (NC > 3) _tile_loadd(3, c + 48, sc);
  } else {
    _tile_zero(0);
    if constexpr (NC > 1) _tile_zero(1);
    if constexpr (NC > 2) _tile_zero(2);
    if constexpr (NC > 3) _tile_zero(3);
  }
  for (int64_t s = 0; s < steps; ++s) {
    const uint32_t* bs = b + s * 16 * ldb;
    _tile_loadd(4, a + s * 32, sa);
    _tile_loadd(5, bs, sb);
    _tile_dpbf16ps(0, 4, 5);
    if constexpr (NC > 1) {
      _tile_loadd(6, bs + 16, sb);
      _tile_dpbf16ps(1, 4, 6);
    }
    if constexpr (NC > 2) {
      _tile_loadd(7, bs + 32, sb);
      _tile_dpbf16ps(2, 4, 7);
    }
    if constexpr (NC > 3) {
      _tile_loadd(5, bs + 48, sb);
      _tile_dpbf16ps(3, 4, 5);
    }
  }
  _tile_stored(0, c, sc);
  if constexpr (NC > 1) _tile_stored(1, c + 16, sc);
  if constexpr (NC > 2) _tile_stored(2, c + 32, sc);
  if constexpr (NC > 3) _tile_stored(3, c + 48, sc);
}

}  // namespace

bool amx_ready() {
  static const bool ready = [] {
    const CpuInfo& ci = cpu_info();
    if (!ci.amx_bf16 || !ci.amx_tile) return false;
    constexpr long kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return ready;
}

AmxTiles::AmxTiles() {
  static const TileConfig config = make_config();
  _tile_loadconfig(&config);
}
AmxTiles::~AmxTiles() { _tile_release(); }

void amx_gemm(AmxPart part, int64_t diag, int64_t m, int64_t n, int64_t k, const uint16_t* a, int64_t lda,
              const uint32_t* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  for (int64_t r0 = 0; r0 < m; r0 += 16) {
    // As tile_gemm_causal: the block's last admitted key + 1, its first query seeing its first key.
    const int64_t key_end = r0 + 16 + diag;
    int64_t n_use = n, k0 = 0, k1 = k;
    if (part == AmxPart::cols) n_use = std::min(n, round_up(std::max<int64_t>(key_end, 0), 16));
    if (part == AmxPart::k_lower) k1 = std::clamp<int64_t>(round_up(std::max<int64_t>(key_end, 0), 32), 0, k);
    if (part == AmxPart::k_upper) k0 = std::clamp<int64_t>(std::max<int64_t>(r0 - diag, 0) / 32 * 32, 0, k);
    if (n_use == 0 || (k1 <= k0 && accumulate)) continue;
    const uint16_t* ar = a + r0 * lda + k0;
    const uint32_t* bk = b + k0 / 2 * ldb;
    float* cr = c + r0 * ldc;
    const int64_t steps = (k1 - k0) / 32;
    for (int64_t n0 = 0; n0 < n_use; n0 += 64) {
      switch (std::min<int64_t>(4, (n_use - n0) / 16)) {
        case 4:
          row_block<4>(ar, lda, bk + n0, ldb, cr + n0, ldc, steps, accumulate);
          break;
        case 3:
          row_block<3>(ar, lda, bk + n0, ldb, cr + n0, ldc, steps, accumulate);
          break;
        case 2:
          row_block<2>(ar, lda, bk + n0, ldb, cr + n0, ldc, steps, accumulate);
          break;
        default:
          row_block<1>(ar, lda, bk + n0, ldb, cr + n0, ldc, steps, accumulate);
          break;
      }
    }
  }
}

#else  // no AMX in this build

bool amx_ready() { return false; }
AmxTiles::AmxTiles() = default;
AmxTiles::~AmxTiles() = default;
void amx_gemm(AmxPart, int64_t, int64_t, int64_t, int64_t, const uint16_t*, int64_t, const uint32_t*, int64_t, float*,
              int64_t, bool) {}

#endif

}  // namespace goat::cpu::attn
