// Errors with context. Every failure in goatlm is a goat::Error whose message starts with the
// place it came from, e.g. "[layernorm] expected (B, T, C) = (4, 64, 256), got (4, 64, 128)".
// GOAT_CHECK is the one macro family: it formats only when the condition fails.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace goat {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Throws Error("[where] message").
template <typename... Args>
[[noreturn]] void fail(const char* where, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format("[{}] {}", where, fmt::format(f, std::forward<Args>(args)...)));
}

}  // namespace goat

// GOAT_CHECK(cond, "where", "fmt {}", args...) throws goat::Error when cond is false.
#define GOAT_CHECK(cond, where, ...)       \
  do {                                     \
    if (!(cond)) [[unlikely]] {            \
      ::goat::fail(where, __VA_ARGS__);    \
    }                                      \
  } while (0)
