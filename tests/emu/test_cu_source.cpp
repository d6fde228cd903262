// A .cu source (row_sum.cu) compiled by the host compiler through goatlm_simt_sources() and run
// under the emulation, against a host sum of exactly representable values.
#include <gtest/gtest.h>

#include <vector>

#include "emu_util.h"
#include "row_sum.h"

namespace goat::emu_test {
namespace {

TEST(EmuCuSource, RowSumFromCuFile) {
  const int rows = 5, cols = 1000;
  std::vector<float> x(rows * cols);
  for (int i = 0; i < rows * cols; ++i) x[i] = static_cast<float>(i % 17) - 8.0f;
  std::vector<float> ref(rows, 0.0f);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) ref[r] += x[r * cols + c];
  DevBuf<float> d_x(x), d_y(rows);
  EXPECT_LAUNCH_OK(row_sum(d_x.get(), d_y.get(), rows, cols, nullptr));
  EXPECT_EQ(d_y.download(), ref);
}

}  // namespace
}  // namespace goat::emu_test
