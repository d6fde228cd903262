// A progress bar with ETA on stderr for long evaluations: work is counted in abstract units
// (tokens forwarded), redrawn at most every 0.5 s on one line ("\r"), silent when disabled.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace goat::eval {

class Progress {
 public:
  Progress(int64_t total, bool enabled) : total_(total > 0 ? total : 1), enabled_(enabled) {}
  void set_label(std::string label) { label_ = std::move(label); }
  void add(int64_t units);
  void finish();  // final redraw and newline
  double elapsed_s() const;

 private:
  void draw(bool force);
  int64_t total_, done_ = 0;
  bool enabled_;
  std::string label_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_draw_{};
};

}  // namespace goat::eval
