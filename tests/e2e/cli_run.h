// Running the goatlm binary (and other programs) from end-to-end tests: a shell command's exit
// code and combined output, the binary's path, and the last output line (where goatlm commands
// print their JSON result).
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace goat::test {

struct Result {
  int code;
  std::string out;
};

// Runs a shell command, capturing stdout and stderr.
inline Result run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p) != nullptr) out += buf.data();
  const int status = ::pclose(p);
  return {WEXITSTATUS(status), out};
}

inline std::string env(const char* n) {
  const char* v = std::getenv(n);
  return v ? v : "";
}

// $GOATLM_BINARY if set; otherwise the binary one level above the test executable's directory.
inline std::string goatlm_binary() {
  const std::string b = env("GOATLM_BINARY");
  if (!b.empty()) return b;
  return (std::filesystem::canonical("/proc/self/exe").parent_path().parent_path() / "goatlm").string();
}

inline std::string last_line(const std::string& s) {
  std::string t = s;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  const auto nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

}  // namespace goat::test
