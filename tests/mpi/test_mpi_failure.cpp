// A rank that dies, stalls or leaves mid-step must make the job end with a clear message on the
// surviving ranks within a bounded time, never hang. Launches `mpirun -np 3 dist_failure_probe`
// (last rank misbehaves at step 2, watchdog timeout 2 s) and asserts on the survivors' output,
// the exit status and the elapsed time. Not itself run under mpirun. mpirun follows its SIGTERM
// to the survivors with SIGKILL after odls_base_sigkill_timeout (1 s by default); on a loaded
// machine a survivor may not be scheduled to print its message within 1 s, so the probe runs get 10 s.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <string>

namespace {

struct ProbeRun {
  std::string output;
  int status = -1;  // exit status of the launcher (124: killed by the outer timeout)
  double seconds = 0;
};

ProbeRun launch(const std::string& mode) {
  const std::string cmd = std::string("timeout -k 5 90 ") + GOATLM_MPIRUN +
                          " --allow-run-as-root --oversubscribe --mca odls_base_sigkill_timeout 10 -np 3 " +
                          GOATLM_FAILURE_PROBE + " " + mode + " 2 2>&1";
  ProbeRun run;
  const auto t0 = std::chrono::steady_clock::now();
  FILE* p = popen(cmd.c_str(), "r");
  EXPECT_NE(p, nullptr) << cmd;
  if (p == nullptr) return run;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) run.output.append(buf.data(), n);
  const int w = pclose(p);
  run.status = WIFEXITED(w) ? WEXITSTATUS(w) : 128 + WTERMSIG(w);
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return run;
}

bool has(const std::string& out, const std::string& s) { return out.find(s) != std::string::npos; }

// Each survivor reports either its own timeout or being stopped by the launcher mid-collective.
void expect_survivors_reported(const ProbeRun& r) {
  for (int rank : {0, 1}) {
    const std::string who = "[dist] rank " + std::to_string(rank) + "/3: ";
    EXPECT_TRUE(has(r.output, who + "all_reduce of 1000 elements did not complete within 2 s") ||
                has(r.output, who + "stopped by the launcher (SIGTERM)"))
        << "rank " << rank << " gave no clear message:\n"
        << r.output;
  }
  EXPECT_FALSE(has(r.output, "[probe] rank 0 finished")) << r.output;
}

TEST(MpiFailure, CrashedRankStopsTheOthers) {
  const ProbeRun r = launch("exit");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.status, 124) << "the job hung:\n" << r.output;
  EXPECT_LT(r.seconds, 30);
  expect_survivors_reported(r);
}

TEST(MpiFailure, StalledRankTimesOutWithAMessage) {
  const ProbeRun r = launch("stall");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.status, 124) << "the job hung:\n" << r.output;
  EXPECT_GE(r.seconds, 2.0) << "no rank may give up before dist.timeout_s";
  EXPECT_LT(r.seconds, 30);
  expect_survivors_reported(r);
  EXPECT_TRUE(has(r.output, "did not complete within 2 s (dist.timeout_s)")) << r.output;
}

TEST(MpiFailure, RankThatLeavesEarlyTimesOutWithAMessage) {
  const ProbeRun r = launch("finalize");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.status, 124) << "the job hung:\n" << r.output;
  EXPECT_LT(r.seconds, 30);
  expect_survivors_reported(r);
}

TEST(MpiFailure, ErrorOnOneRankAbortsTheJob) {
  const ProbeRun r = launch("throw");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.status, 124) << "the job hung:\n" << r.output;
  EXPECT_LT(r.seconds, 30);
  EXPECT_TRUE(has(r.output, "[dist] rank 2/3: aborting the job: [probe] a data error on this rank")) << r.output;
}

}  // namespace
