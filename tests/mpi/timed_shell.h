// Runs a shell command for the mpi tests (which launch mpirun themselves): its combined stdout +
// stderr, its exit status (128 + signal when a signal ended it) and the wall time it took.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <string>

namespace goat::test {

struct TimedRun {
  std::string output;
  int status = -1;  // exit status (124: killed by an outer `timeout`)
  double seconds = 0;
};

inline TimedRun timed_shell(const std::string& cmd) {
  TimedRun run;
  const auto t0 = std::chrono::steady_clock::now();
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
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

}  // namespace goat::test
