// Per-op timers for `goatlm bench train --breakdown`: every op entry point in ops/ opens an
// OpTimer named "<op>.<phase>" (e.g. "linear.forward"); while profiling is off (the default) that
// costs one relaxed load. Timers read the profile clock around the whole call: wall clock, or the
// process CPU time divided by the thread count (`--clock cpu`, for a busy shared machine). Either
// is exact for the CPU backend (synchronous) and meaningless for CUDA (asynchronous launches).
// Nested timers are not subtracted: ops/ entry points, the trainer's phases (step.*) and the
// bf16 operand conversions inside linear (bf16.convert) time themselves.
//
// Each timer also reads both clocks (wall and process CPU time, all threads), so every entry has a
// parallel efficiency, CPU / (wall × threads): ≈ 1 when all threads work through the op, ≈ 1/threads
// for a serial op. It counts idle threads only when they sleep (OMP_WAIT_POLICY=passive); libgomp's
// default spins a waiting thread for a while first, and spinning reads as busy. The other threads'
// CPU time is accounted at scheduler ticks and switches: rows of a few ms per step are noisy.
// Outermost op timers (not step.*, not nested in another op) also add to a total, so "not in an
// op" time is exact.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace goat {

// Both clocks at one moment: steady wall seconds and process CPU seconds (all threads).
struct ClockSample {
  double wall = 0, cpu = 0;
};
ClockSample clock_sample();

struct OpTime {
  std::string name;  // "linear.forward"
  double seconds = 0;  // on the profile clock
  double wall = 0, cpu = 0;  // wall seconds and process CPU seconds (all threads)
  int64_t calls = 0;
  void add(const ClockSample& t0, const ClockSample& t1);  // one call from t0 to t1
};

// CPU / (wall × threads) of a span; 0 for an empty span.
double parallel_efficiency(double wall, double cpu, int threads);

enum class ProfileClock { wall, cpu };
void set_profile_clock(ProfileClock c);
// Seconds on the profile clock: steady wall clock, or process CPU time (all threads) / threads.
double profile_seconds();
// The profile clock's reading of a sample.
double profile_seconds(const ClockSample& s);

void set_profiling(bool on);
bool profiling();
void reset_profile();
std::vector<OpTime> profile_snapshot();  // in first-seen order
// The outermost op timers' sum (name "ops"): the time spent in some op.
OpTime profile_outer_ops();

// Scoped timer; `name` must be a string literal (entries are keyed by its text).
class OpTimer {
 public:
  explicit OpTimer(const char* name) : name_(profiling() ? name : nullptr) {
    if (name_) begin();
  }
  ~OpTimer() {
    if (name_) end();
  }
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  void begin();
  void end();
  const char* name_;
  ClockSample t0_;
  bool op_ = false, outer_ = false;  // an op (not step.*); the outermost open op
};

}  // namespace goat
