// Helpers for the emulation tests: a typed device buffer, a scoped emulation config, and a
// launch check that prints the emulator's fault message.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "simt/simt.cuh"

namespace goat::emu_test {

template <typename T>
class DevBuf {
 public:
  explicit DevBuf(size_t n) : n_(n) {
    EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&p_), n * sizeof(T)), cudaSuccess);
  }
  explicit DevBuf(const std::vector<T>& v) : DevBuf(v.size()) { upload(v); }
  ~DevBuf() { cudaFree(p_); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  void upload(const std::vector<T>& v) {
    EXPECT_EQ(cudaMemcpy(p_, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  std::vector<T> download() const {
    std::vector<T> v(n_);
    EXPECT_EQ(cudaMemcpy(v.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return v;
  }
  T* get() const { return p_; }

 private:
  T* p_ = nullptr;
  size_t n_;
};

// Restores the process-wide emulation settings on scope exit.
class ScopedConfig {
 public:
  ScopedConfig() : saved_(goat::simt::config()) {}
  ~ScopedConfig() { goat::simt::config() = saved_; }
  goat::simt::Config& operator*() { return goat::simt::config(); }
  goat::simt::Config* operator->() { return &goat::simt::config(); }

 private:
  goat::simt::Config saved_;
};

inline uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

}  // namespace goat::emu_test

// Expects a launch to succeed; on failure shows the emulator's fault message.
#define EXPECT_LAUNCH_OK(call) \
  EXPECT_EQ((call), cudaSuccess) << cudaGetErrorString(cudaGetLastError()) << ": " << goat::simt::last_fault_message()
