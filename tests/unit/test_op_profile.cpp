// The op profile's parallel efficiency (core/op_profile.h) against independent readings: each
// thread's own CPU clock (CLOCK_THREAD_CPUTIME_ID) around a busy loop of known CPU length, run by
// one thread (a serial op: efficiency ≈ 1/threads) or by every thread (a parallel op). The CPU
// amounts are exact whatever the load; wall time grows on a loaded machine, so only bounds that
// hold under load are checked. Also: nested and step.* timers stay out of the outer-op total.
#include <gtest/gtest.h>
#include <omp.h>
#include <time.h>

#include "core/cpu_info.h"
#include "core/op_profile.h"

using namespace goat;

namespace {

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Spins until this thread has used `seconds` of CPU time; returns the CPU time it used.
double burn(double seconds) {
  const double t0 = thread_cpu_seconds();
  volatile double x = 1;
  while (thread_cpu_seconds() - t0 < seconds) x = x * 1.0000001;
  return thread_cpu_seconds() - t0;
}

const OpTime& entry(const std::vector<OpTime>& v, const std::string& name) {
  for (const OpTime& t : v)
    if (t.name == name) return t;
  static const OpTime none;
  ADD_FAILURE() << "no entry " << name;
  return none;
}

struct Profiling {
  Profiling() {
    reset_profile();
    set_profiling(true);
  }
  ~Profiling() {
    set_profiling(false);
    reset_profile();
  }
};

constexpr double kBurn = 0.05;  // CPU seconds per thread
// Waiting workers may spin before they sleep (libgomp's default policy): CPU that is not the
// loop's. Bounded here generously; with OMP_WAIT_POLICY=passive (scripts/test.sh) it is ≈ 0.
constexpr double kSpinSlack = 0.03;

}  // namespace

TEST(OpProfile, EfficiencyFormula) {
  EXPECT_DOUBLE_EQ(parallel_efficiency(2.0, 2.0, 2), 0.5);
  EXPECT_DOUBLE_EQ(parallel_efficiency(1.0, 4.0, 4), 1.0);
  EXPECT_EQ(parallel_efficiency(0.0, 1.0, 2), 0.0);
}

TEST(OpProfile, SerialOpReadsOneOverThreads) {
  const int threads = cpu_info().threads;
  const Profiling on;
  double used = 0;
  {
    const OpTimer timer("test.serial");
    used = burn(kBurn);
  }
  const OpTime t = entry(profile_snapshot(), "test.serial");
  EXPECT_EQ(t.calls, 1);
  EXPECT_GE(t.cpu, used * 0.999);
  EXPECT_LE(t.cpu, used + kSpinSlack * (threads - 1) + 0.005);
  EXPECT_GE(t.wall, used * 0.999);  // a thread cannot use more CPU than wall time
  const double eff = parallel_efficiency(t.wall, t.cpu, threads);
  EXPECT_LE(eff, 1.0 / threads + kSpinSlack / kBurn * (threads - 1) / threads + 0.02) << threads << " threads";
  EXPECT_GT(eff, 0.0);
}

TEST(OpProfile, ParallelOpCountsEveryThread) {
  const int threads = cpu_info().threads;
  const Profiling on;
  double used = 0;
  int ran = 0;
  {
    const OpTimer timer("test.parallel");
#pragma omp parallel reduction(+ : used, ran)
    {
      used += burn(kBurn);
      ran += 1;
    }
  }
  EXPECT_EQ(ran, threads);
  const OpTime t = entry(profile_snapshot(), "test.parallel");
  // Process CPU covers every thread's: the sum of their own clocks, plus little (thread start, a
  // thread spinning at the closing barrier while another is preempted).
  EXPECT_GE(t.cpu, used * 0.999);
  EXPECT_LE(t.cpu, used + kSpinSlack * threads);
  EXPECT_GE(t.wall, kBurn * 0.999);
  // The loop's CPU (threads × kBurn) over wall × threads: ≤ 1; ≈ 1 on an idle machine.
  const double eff = parallel_efficiency(t.wall, t.cpu, threads);
  EXPECT_LE(eff, 1.0 + 1e-3);
  EXPECT_GE(eff, used / (t.wall * threads) * 0.999);
}

TEST(OpProfile, OuterOpTotalSkipsNestedAndPhaseTimers) {
  const Profiling on;
  {
    const OpTimer phase("step.test");
    {
      const OpTimer outer("test.outer");
      const OpTimer inner("test.inner");
      burn(0.002);
    }
    const OpTimer second("test.second");
    burn(0.002);
  }
  const std::vector<OpTime> v = profile_snapshot();
  const OpTime outer_ops = profile_outer_ops();
  EXPECT_EQ(outer_ops.calls, 2);  // test.outer and test.second
  EXPECT_DOUBLE_EQ(outer_ops.wall, entry(v, "test.outer").wall + entry(v, "test.second").wall);
  EXPECT_DOUBLE_EQ(outer_ops.cpu, entry(v, "test.outer").cpu + entry(v, "test.second").cpu);
  EXPECT_LE(entry(v, "test.inner").wall, entry(v, "test.outer").wall);
  EXPECT_GE(entry(v, "step.test").wall, outer_ops.wall);
  EXPECT_EQ(entry(v, "step.test").calls, 1);
}
