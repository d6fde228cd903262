// Host SIMT emulation: the small pool of OS threads that runs the blocks of one grid in parallel.
// run(n, job) calls job on the caller and on n - 1 workers (created on first need, kept for the
// process) and returns when every call has returned; job itself pulls block indices.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace goat::simt::detail {

class Pool {
 public:
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
  }
  // Runs job on the caller and on nthreads - 1 workers; returns when all have returned.
  void run(int nthreads, const std::function<void()>& job) {
    while (static_cast<int>(workers_.size()) < nthreads - 1) {
      const int id = static_cast<int>(workers_.size());
      workers_.emplace_back([this, id] { loop(id); });
    }
    {
      std::lock_guard<std::mutex> lk(m_);
      job_ = &job;
      wanted_ = nthreads - 1;
      busy_ = wanted_;
      ++generation_;
    }
    cv_.notify_all();
    job();
    std::unique_lock<std::mutex> lk(m_);
    done_cv_.wait(lk, [&] { return busy_ == 0; });
    job_ = nullptr;
  }

 private:
  void loop(int id) {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void()>* job;
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return stop_ || (generation_ != seen && id < wanted_); });
        if (stop_) return;
        seen = generation_;
        job = job_;
      }
      (*job)();
      std::lock_guard<std::mutex> lk(m_);
      if (--busy_ == 0) done_cv_.notify_all();
    }
  }
  std::vector<std::thread> workers_;
  std::mutex m_;
  std::condition_variable cv_, done_cv_;
  const std::function<void()>* job_ = nullptr;
  uint64_t generation_ = 0;
  int wanted_ = 0, busy_ = 0;
  bool stop_ = false;
};

}  // namespace goat::simt::detail
