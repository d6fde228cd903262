// Progress bar drawing.
#include "eval/progress.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

namespace goat::eval {

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::add(int64_t units) {
  done_ = std::min(total_, done_ + units);
  draw(false);
}

void Progress::finish() {
  done_ = total_;
  draw(true);
  if (enabled_) std::fputc('\n', stderr);
}

void Progress::draw(bool force) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(500)) return;
  last_draw_ = now;
  const double frac = static_cast<double>(done_) / static_cast<double>(total_);
  const double el = elapsed_s();
  const double eta = frac > 0 ? el * (1 - frac) / frac : 0;
  constexpr int kWidth = 30;
  const int fill = static_cast<int>(frac * kWidth);
  fmt::print(stderr, "\r[{}{}] {:5.1f}% {:6.1f}s ETA {:6.1f}s  {:<32}", std::string(static_cast<size_t>(fill), '#'),
             std::string(static_cast<size_t>(kWidth - fill), '.'), 100 * frac, el, eta, label_);
  std::fflush(stderr);
}

}  // namespace goat::eval
