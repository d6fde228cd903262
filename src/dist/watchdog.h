// Collective watchdog: a background thread that notices a collective (or MPI_Finalize) still
// in flight after timeout_s seconds and ends the process with a message naming the operation,
// its size and the rank, instead of letting it hang forever on a peer that died or stalled.
// Under Open MPI the process's exit then makes mpirun stop every other rank, so the whole job
// ends within about one timeout. MPI-free, so it is tested alone (tests/dist).
//
// Also installs a SIGTERM handler that prints which collective the rank was in when the launcher
// stopped it (mpirun sends SIGTERM to the survivors when one rank exits abnormally).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace goat {

// Process exit status after a watchdog timeout (sysexits' EX_PROTOCOL-like, distinct from 1).
constexpr int kCollectiveTimeoutExit = 76;

class Watchdog {
 public:
  using OnTimeout = std::function<void(const std::string& message)>;

  // label names the rank in messages, e.g. "rank 1/2". timeout_s <= 0 disables the thread.
  // on_timeout defaults to: message on stderr, then std::_Exit(kCollectiveTimeoutExit).
  Watchdog(std::string label, double timeout_s, OnTimeout on_timeout = {});
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Marks `op` (a string literal) over `count` elements as in flight until the Scope ends.
  class Scope {
   public:
    explicit Scope(Watchdog* w) : w_(w) {}
    Scope(Scope&& o) noexcept : w_(o.w_) { o.w_ = nullptr; }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
    Scope& operator=(Scope&&) = delete;
    ~Scope() {
      if (w_ != nullptr) w_->end();
    }

   private:
    Watchdog* w_;
  };
  [[nodiscard]] Scope guard(const char* op, int64_t count);

  double timeout_s() const { return timeout_s_; }
  const std::string& label() const { return label_; }

  // The message on_timeout receives (exposed for tests).
  std::string timeout_message(const char* op, int64_t count, double waited_s) const;

  // SIGTERM handler printing "[dist] <label>: stopped by the launcher (SIGTERM) while waiting in
  // <op>", then calling the handler installed before it (if any) or dying of SIGTERM; idempotent.
  void install_termination_handler();

 private:
  void begin(const char* op, int64_t count);
  void end();
  void run();

  std::string label_;
  double timeout_s_;
  OnTimeout on_timeout_;
  std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false;
  const char* op_ = nullptr;
  int64_t count_ = 0;
  std::chrono::steady_clock::time_point started_;
  bool fired_ = false;
  std::thread thread_;
};

}  // namespace goat
