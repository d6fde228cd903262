// Host entry point of row_sum.cu (a .cu source built both by nvcc and as emulated C++).
#pragma once

#include "simt/simt.cuh"

namespace goat::emu_test {

// y[r] = sum_c x[r][c].  x: (rows, cols) device, y: (rows) device
cudaError_t row_sum(const float* x, float* y, int rows, int cols, cudaStream_t stream);

}  // namespace goat::emu_test
