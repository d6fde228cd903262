// Signal handlers (a lock-free atomic flag, write(2) and _exit(2) only) and the thread they run
// on: SIGINT/SIGTERM blocked everywhere else, accepted only by an idle thread (stop_signal.h).
#include "train/stop_signal.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <mutex>
#include <thread>

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

sigset_t stop_signals() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  return s;
}

// The only thread with SIGINT/SIGTERM unblocked: the kernel delivers a process-directed signal to
// a thread that does not block it, so every handler of these signals runs here, on this thread's
// own stack, whatever the other threads are executing.
void signal_thread() {
  pthread_setname_np(pthread_self(), "goatlm-signals");
  const sigset_t s = stop_signals();
  pthread_sigmask(SIG_UNBLOCK, &s, nullptr);
  for (;;) ::pause();
}

}  // namespace

void install_stop_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    const sigset_t s = stop_signals();
    pthread_sigmask(SIG_BLOCK, &s, nullptr);  // inherited by every thread created from here on
    std::thread(signal_thread).detach();
  });
}

int stop_requested() { return g_stop.load(std::memory_order_relaxed); }

void request_stop(int signal_number) { g_stop.store(signal_number, std::memory_order_relaxed); }

}  // namespace goat
