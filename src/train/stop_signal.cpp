// Signal handlers: a lock-free atomic flag, write(2) and _exit(2) only.
#include "train/stop_signal.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>

namespace goat {

namespace {

std::atomic<int> g_stop{0};
static_assert(std::atomic<int>::is_always_lock_free);

void on_signal(int sig) {
  int expected = 0;
  if (g_stop.compare_exchange_strong(expected, sig)) return;
  const char msg[] = "goatlm: second signal, exiting now without a checkpoint\n";
  [[maybe_unused]] const ssize_t n = ::write(2, msg, sizeof(msg) - 1);
  ::_exit(128 + sig);
}

}  // namespace

void install_stop_handlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int stop_requested() { return g_stop.load(std::memory_order_relaxed); }

void request_stop(int signal_number) { g_stop.store(signal_number, std::memory_order_relaxed); }

}  // namespace goat
