// Per-op timers for `goatlm bench train --breakdown`: every op entry point in ops/ opens an
// OpTimer named "<op>.<phase>" (e.g. "linear.forward"); while profiling is off (the default) that
// costs one relaxed load. Timers read the profile clock around the whole call: wall clock, or the
// process CPU time divided by the thread count (`--clock cpu`, for a busy shared machine). Either
// is exact for the CPU backend (synchronous) and meaningless for CUDA (asynchronous launches).
// Nested timers are not subtracted: ops/ entry points, the trainer's phases (step.*) and the
// bf16 operand conversions inside linear (bf16.convert) time themselves.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace goat {

struct OpTime {
  std::string name;  // "linear.forward"
  double seconds = 0;
  int64_t calls = 0;
};

enum class ProfileClock { wall, cpu };
void set_profile_clock(ProfileClock c);
// Seconds on the profile clock: steady wall clock, or process CPU time (all threads) / threads.
double profile_seconds();

void set_profiling(bool on);
bool profiling();
void reset_profile();
std::vector<OpTime> profile_snapshot();  // in first-seen order
void add_op_time(const char* name, double seconds);

// Scoped timer; `name` must be a string literal (entries are keyed by its text).
class OpTimer {
 public:
  explicit OpTimer(const char* name) : name_(profiling() ? name : nullptr) {
    if (name_) t0_ = profile_seconds();
  }
  ~OpTimer() {
    if (name_) add_op_time(name_, profile_seconds() - t0_);
  }
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  const char* name_;
  double t0_ = 0;
};

}  // namespace goat
