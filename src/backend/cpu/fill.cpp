// Parallel zero fill: fixed 256 KiB chunks (each thread's share stays contiguous under a static
// schedule); below 1 MiB one memset, where waking the other threads costs more than it saves.
#include "backend/cpu/fill.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace goat::cpu {

void fill_zero(void* p, size_t bytes) {
  constexpr auto kChunk = static_cast<int64_t>(256) << 10;
  constexpr auto kParallelBytes = static_cast<int64_t>(1) << 20;
  const auto n = static_cast<int64_t>(bytes);
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
  char* const base = static_cast<char*>(p);
#pragma omp parallel for schedule(static) if (n >= kParallelBytes)
  for (int64_t ch = 0; ch < nchunks; ++ch) {
    const int64_t b0 = ch * kChunk;
    std::memset(base + b0, 0, static_cast<size_t>(std::min(n, b0 + kChunk) - b0));
  }
}

}  // namespace goat::cpu
