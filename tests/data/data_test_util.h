// Helpers shared by the data tests: a fresh temporary directory per test, the source tree
// location (GOATLM_SOURCE_DIR, set by ctest), and running a shell command for its output.
#pragma once

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace goat::test {

// Directories made by fresh_temp_dir, removed when the test process exits.
struct TempDirs {
  std::vector<std::filesystem::path> dirs;
  ~TempDirs() {
    std::error_code ec;
    for (const auto& d : dirs) std::filesystem::remove_all(d, ec);
  }
};

inline std::filesystem::path fresh_temp_dir(const std::string& name) {
  static TempDirs made;
  const auto dir = std::filesystem::temp_directory_path() /
                   ("goatlm_data_" + name + "_" + std::to_string(static_cast<long>(::getpid())));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  made.dirs.push_back(dir);
  return dir;
}

inline std::filesystem::path source_dir() {
  const char* s = std::getenv("GOATLM_SOURCE_DIR");
  return s != nullptr ? std::filesystem::path(s) : std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
}

// The goatlm binary: $GOATLM_BINARY, else <build>/goatlm next to <build>/tests/<this test>.
inline std::filesystem::path goatlm_binary() {
  if (const char* b = std::getenv("GOATLM_BINARY"); b != nullptr && std::filesystem::exists(b)) return b;
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  const auto guess = self.parent_path().parent_path() / "goatlm";
  return std::filesystem::exists(guess) ? guess : std::filesystem::path();
}

// Runs cmd with /bin/sh; returns its exit status and fills out with its stdout.
inline int run_command(const std::string& cmd, std::string* out = nullptr) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  std::array<char, 65536> buf{};
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) {
    if (out != nullptr) out->append(buf.data(), n);
  }
  const int st = ::pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace goat::test
