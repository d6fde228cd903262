// The op profile: a short list of named accumulators (a training step touches ~20 op kinds, so
// a linear scan beats a map). Only the calling thread records (ops are called from one thread).
#include "core/op_profile.h"

#include <time.h>

#include <atomic>
#include <chrono>

#include "core/cpu_info.h"

namespace goat {

namespace {

std::atomic<bool> g_on{false};
std::atomic<ProfileClock> g_clock{ProfileClock::wall};
std::vector<OpTime>& entries() {
  static std::vector<OpTime> e;
  return e;
}

}  // namespace

void set_profile_clock(ProfileClock c) { g_clock.store(c, std::memory_order_relaxed); }

double profile_seconds() {
  if (g_clock.load(std::memory_order_relaxed) == ProfileClock::wall)
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec)) / cpu_info().threads;
}

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
