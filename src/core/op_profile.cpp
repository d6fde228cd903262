// The op profile: a short list of named accumulators (a training step touches ~20 op kinds, so
// a linear scan beats a map). Only the calling thread records (ops are called from one thread).
#include "core/op_profile.h"

#include <atomic>

namespace goat {

namespace {

std::atomic<bool> g_on{false};
std::vector<OpTime>& entries() {
  static std::vector<OpTime> e;
  return e;
}

}  // namespace

void set_profiling(bool on) { g_on.store(on, std::memory_order_relaxed); }
bool profiling() { return g_on.load(std::memory_order_relaxed); }
void reset_profile() { entries().clear(); }
std::vector<OpTime> profile_snapshot() { return entries(); }

void add_op_time(const char* name, double seconds) {
  for (OpTime& e : entries())
    if (e.name == name) {
      e.seconds += seconds;
      ++e.calls;
      return;
    }
  entries().push_back(OpTime{name, seconds, 1});
}

}  // namespace goat
