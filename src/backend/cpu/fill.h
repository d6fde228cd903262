// Zeroing large CPU buffers (gradient arenas, the backward's residual gradient) with every thread:
// one thread's memset reaches only part of the memory bandwidth, and the others would wait.
#pragma once

#include <cstddef>

namespace goat::cpu {

// memset(p, 0, bytes), split into fixed chunks across the OpenMP threads above a size threshold.
void fill_zero(void* p, size_t bytes);

}  // namespace goat::cpu
