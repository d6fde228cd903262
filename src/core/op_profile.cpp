// The op profile: a short list of named accumulators (a training step touches ~20 op kinds, so
// a linear scan beats a map). Only the calling thread records (ops are called from one thread),
// so the open-op depth is a plain counter.
#include "core/op_profile.h"

#include <time.h>

#include <atomic>
#include <chrono>
#include <cstring>

#include "core/cpu_info.h"

namespace goat {

namespace {

std::atomic<bool> g_on{false};
std::atomic<ProfileClock> g_clock{ProfileClock::wall};
int g_open_ops = 0;
OpTime g_outer{"ops"};
std::vector<OpTime>& entries() {
  static std::vector<OpTime> e;
  return e;
}

}  // namespace

void OpTime::add(const ClockSample& t0, const ClockSample& t1) {
  seconds += profile_seconds(t1) - profile_seconds(t0);
  wall += t1.wall - t0.wall;
  cpu += t1.cpu - t0.cpu;
  ++calls;
}

ClockSample clock_sample() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return {std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(),
          static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec)};
}

double parallel_efficiency(double wall, double cpu, int threads) {
  return wall > 0 && threads > 0 ? cpu / (wall * threads) : 0.0;
}

void set_profile_clock(ProfileClock c) { g_clock.store(c, std::memory_order_relaxed); }

double profile_seconds(const ClockSample& s) {
  return g_clock.load(std::memory_order_relaxed) == ProfileClock::wall ? s.wall : s.cpu / cpu_info().threads;
}

double profile_seconds() { return profile_seconds(clock_sample()); }

void set_profiling(bool on) { g_on.store(on, std::memory_order_relaxed); }
bool profiling() { return g_on.load(std::memory_order_relaxed); }
void reset_profile() {
  entries().clear();
  g_outer = OpTime{"ops"};
}
std::vector<OpTime> profile_snapshot() { return entries(); }
OpTime profile_outer_ops() { return g_outer; }

void OpTimer::begin() {
  op_ = std::strncmp(name_, "step.", 5) != 0;
  outer_ = op_ && g_open_ops == 0;
  g_open_ops += op_ ? 1 : 0;
  t0_ = clock_sample();
}

void OpTimer::end() {
  const ClockSample t1 = clock_sample();
  g_open_ops -= op_ ? 1 : 0;
  if (outer_) g_outer.add(t0_, t1);
  for (OpTime& e : entries())
    if (e.name == name_) return e.add(t0_, t1);
  entries().push_back(OpTime{name_});
  entries().back().add(t0_, t1);
}

}  // namespace goat
