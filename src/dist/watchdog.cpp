// Collective watchdog and the SIGTERM reporter; see watchdog.h.
#include "dist/watchdog.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace goat {

namespace {
// What the SIGTERM handler reports: written before a collective starts, read in the handler.
std::atomic<const char*> g_current_op{nullptr};
char g_label[96] = "rank ?";
// The handler that was installed before ours (e.g. a trainer's checkpoint-on-SIGTERM), chained.
struct sigaction g_previous {};

void append(char* buf, size_t cap, size_t& len, const char* s) {
  while (*s != '\0' && len + 1 < cap) buf[len++] = *s++;
}

extern "C" void on_sigterm(int sig) {
  char buf[512];
  size_t len = 0;
  append(buf, sizeof buf, len, "[dist] ");
  append(buf, sizeof buf, len, g_label);
  append(buf, sizeof buf, len, ": stopped by the launcher (SIGTERM) ");
  const char* op = g_current_op.load();
  if (op != nullptr) {
    append(buf, sizeof buf, len, "while waiting in ");
    append(buf, sizeof buf, len, op);
  } else {
    append(buf, sizeof buf, len, "between collectives");
  }
  append(buf, sizeof buf, len,
         "; another rank has probably failed (see its message). Resume from the last checkpoint.\n");
  [[maybe_unused]] ssize_t w = ::write(STDERR_FILENO, buf, len);
  if ((g_previous.sa_flags & SA_SIGINFO) == 0 && g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);  // a handler installed earlier decides what happens next
    return;
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}
}  // namespace

Watchdog::Watchdog(std::string label, double timeout_s, OnTimeout on_timeout)
    : label_(std::move(label)), timeout_s_(timeout_s), on_timeout_(std::move(on_timeout)) {
  if (!on_timeout_) {
    on_timeout_ = [](const std::string& message) {
      std::fprintf(stderr, "%s\n", message.c_str());
      std::fflush(stderr);
      std::_Exit(kCollectiveTimeoutExit);
    };
  }
  if (timeout_s_ > 0) thread_ = std::thread([this] { run(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard lock(m_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Watchdog::Scope Watchdog::guard(const char* op, int64_t count) {
  begin(op, count);
  return Scope(this);
}

void Watchdog::begin(const char* op, int64_t count) {
  g_current_op.store(op);
  std::lock_guard lock(m_);
  op_ = op;
  count_ = count;
  started_ = std::chrono::steady_clock::now();
  fired_ = false;
}

void Watchdog::end() {
  g_current_op.store(nullptr);
  std::lock_guard lock(m_);
  op_ = nullptr;
}

std::string Watchdog::timeout_message(const char* op, int64_t count, double waited_s) const {
  return fmt::format(
      "[dist] {}: {}{} did not complete within {:g} s (dist.timeout_s); waited {:.1f} s. "
      "A peer rank has died, hung or left the job early. Aborting this rank; resume from the last checkpoint.",
      label_, op, count > 0 ? fmt::format(" of {} elements", count) : "", timeout_s_, waited_s);
}

void Watchdog::install_termination_handler() {
  std::snprintf(g_label, sizeof g_label, "%s", label_.c_str());
  struct sigaction current {};
  sigaction(SIGTERM, nullptr, &current);
  if (current.sa_handler == on_sigterm) return;  // already installed
  struct sigaction mine {};
  mine.sa_handler = on_sigterm;
  sigemptyset(&mine.sa_mask);
  sigaction(SIGTERM, &mine, &g_previous);
}

void Watchdog::run() {
  const auto period = std::chrono::duration<double>(std::clamp(timeout_s_ / 4, 0.01, 0.1));
  std::unique_lock lock(m_);
  while (!stop_) {
    cv_.wait_for(lock, period);
    if (stop_ || op_ == nullptr || fired_) continue;
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    if (waited < timeout_s_) continue;
    fired_ = true;
    const std::string message = timeout_message(op_, count_, waited);
    lock.unlock();
    on_timeout_(message);
    lock.lock();
  }
}

}  // namespace goat
