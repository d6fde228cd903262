// The AMX GEMM's epilogue (gemm_amx.h): what becomes of one finished 32 × 32 fp32 block of C.
// Kept apart from the tile loop (gemm_amx.cpp) so that the blocking and the store side change
// independently: the loop hands over each block with its origin, in any order and on any thread.
#pragma once

#include <cstdint>

#include "backend/cpu/gemm_amx.h"

namespace goat::cpu {

// block: fp32 sums (32 × 32, row stride 32, 64-byte aligned; only read) of C's rows [r0, r0 + 32)
// and columns [n0, n0 + 32); bias: its 32 values for these columns, or nullptr. Writes block + bias
// to C (f32, or bf16 rounded to nearest even) with non-temporal stores where C's rows are 64-byte
// aligned and `stream` is set (else ordinary stores: C is a buffer to stay in the cache), applying
// gelu when given (GeluEpilogue in gemm_amx.h; C bf16). Only in AMX builds (GOATLM_AMX_BUILD).
void amx_store_block(const float* block, const float* bias, Bf16Out c, const GeluEpilogue* gelu, int64_t r0,
                     int64_t n0, bool stream = true);

}  // namespace goat::cpu
