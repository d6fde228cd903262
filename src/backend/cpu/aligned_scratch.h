// A growing 64-byte-aligned scratch buffer for AMX tile operands. A tile row is loaded as one
// 64-byte line when its address is a multiple of 64; from a std::vector (16-byte aligned, page +
// 16 bytes when mmap'ed) every tile row load straddles two cache lines: the AMX GEMM (gemm_amx.cpp)
// ran 13–38% slower per shape that way, by chance, depending on where the allocator put its
// buffers (docs/performance.md, "bf16 GEMMs").
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "core/check.h"

namespace goat::cpu {

class AlignedScratch {
 public:
  // At least `count` elements of T, 64-byte aligned; contents undefined; valid until the next get.
  template <typename T>
  T* get(int64_t count) {
    const size_t bytes = (static_cast<size_t>(count) * sizeof(T) + 63) / 64 * 64;
    if (bytes > bytes_) {
      void* p = std::aligned_alloc(64, bytes);
      GOAT_CHECK(p != nullptr, "aligned scratch", "out of memory allocating {} bytes", bytes);
      data_.reset(p);
      bytes_ = bytes;
    }
    return static_cast<T*>(data_.get());
  }

 private:
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<void, Free> data_;
  size_t bytes_ = 0;
};

}  // namespace goat::cpu
