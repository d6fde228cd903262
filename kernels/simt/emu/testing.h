// Test support for emulated kernels: run the same computation under several fiber schedules and
// report whether the results differ. A kernel whose output depends on the schedule has a race
// (a missing __syncthreads/__syncwarp, or an unsynchronised shared-memory read), even when one
// particular order happens to give the right answer.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

#include "simt/emu/sched.h"

namespace goat::simt {

// Calls `run()` once per seed (0 = thread order, others random) and returns the seed whose result
// differs from seed 0's result, or 0 when all agree. `run` launches the kernel and returns its
// output (any type with operator==, e.g. std::vector<float> copied back to the host; compare bit
// patterns instead of floats if NaN outputs are possible). Restores the configured seed.
template <typename Run>
uint64_t first_schedule_dependence(Run&& run, std::initializer_list<uint64_t> seeds = {1, 2, 3, 4}) {
  const uint64_t saved = config().schedule_seed;
  config().schedule_seed = 0;
  const auto reference = run();
  uint64_t differs = 0;
  for (uint64_t seed : seeds) {
    config().schedule_seed = seed;
    if (!(run() == reference)) {
      differs = seed;
      break;
    }
  }
  config().schedule_seed = saved;
  return differs;
}

}  // namespace goat::simt
