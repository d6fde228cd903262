// CUDA backend runtime: the stream, the caching device allocator, copies and cuda_status().
// Allocator: freed blocks go to a per-size free list (sizes rounded up to 512 bytes; large
// training buffers are allocated once and reused, so exact buckets suffice) and are handed out
// again before cudaMalloc is called; release_cached() returns them. Guarded by one mutex.
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_runtime_util.h"
#include "core/device_info.h"

namespace goat::cuda {

namespace {

struct Cache {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> free_blocks;  // bucket size -> blocks
  std::unordered_map<void*, size_t> live;            // pointer -> bucket size
  size_t cached = 0;
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: frees may run during static destruction
  return *c;
}

size_t bucket(size_t bytes) { return ((bytes ? bytes : 1) + 511) / 512 * 512; }

}  // namespace

cudaStream_t stream() {
  static cudaStream_t s = [] {
    cudaStream_t st = nullptr;
    check(cudaStreamCreate(&st), "runtime", "cudaStreamCreate");
    return st;
  }();
  return s;
}

bool built() { return true; }

bool emulated() {
#if defined(GOATLM_CUDA_EMU)
  return true;
#else
  return false;
#endif
}

int device_count() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

void* alloc(size_t bytes) {
  const size_t b = bucket(bytes);
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  auto it = c.free_blocks.find(b);
  if (it != c.free_blocks.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    c.cached -= b;
    c.live[p] = b;
    return p;
  }
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, b);
  if (e == cudaErrorMemoryAllocation && c.cached > 0) {  // retry once with the cache released
    (void)cudaGetLastError();
    for (auto& [size, blocks] : c.free_blocks)
      for (void* q : blocks) check(cudaFree(q), "alloc", "cudaFree (cache release)");
    c.free_blocks.clear();
    c.cached = 0;
    e = cudaMalloc(&p, b);
  }
  if (e != cudaSuccess) {
    const std::string what = "cudaMalloc of " + std::to_string(bytes) + " bytes";
    check(e, "alloc", what.c_str());
  }
  c.live[p] = b;
  return p;
}

void free(void* p) {
  if (!p) return;
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  auto it = c.live.find(p);
  require(it != c.live.end(), "cuda alloc", "free of a pointer the allocator does not own");
  c.free_blocks[it->second].push_back(p);
  c.cached += it->second;
  c.live.erase(it);
}

void release_cached() {
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  for (auto& [size, blocks] : c.free_blocks)
    for (void* q : blocks) check(cudaFree(q), "alloc", "cudaFree (cache release)");
  c.free_blocks.clear();
  c.cached = 0;
}

size_t cached_bytes() {
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  return c.cached;
}

void copy_to_device(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream()), "copy", "cudaMemcpyAsync H2D");
  check(cudaStreamSynchronize(stream()), "copy", "cudaStreamSynchronize");
}

void copy_to_host(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream()), "copy", "cudaMemcpyAsync D2H");
  check(cudaStreamSynchronize(stream()), "copy", "cudaStreamSynchronize");
}

void copy_device(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream()), "copy", "cudaMemcpyAsync D2D");
}

void memset_zero(void* p, size_t bytes) {
  if (bytes == 0) return;
  check(cudaMemsetAsync(p, 0, bytes, stream()), "copy", "cudaMemsetAsync");
}

void synchronize() { check(cudaStreamSynchronize(stream()), "runtime", "cudaStreamSynchronize"); }

void* compute_stream() { return stream(); }

void* stream_create() {
  cudaStream_t s = nullptr;
  check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "runtime", "cudaStreamCreateWithFlags");
  return s;
}

void stream_destroy(void* s) {
  if (s) check(cudaStreamDestroy(static_cast<cudaStream_t>(s)), "runtime", "cudaStreamDestroy");
}

void* event_create() {
  cudaEvent_t e = nullptr;
  check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "runtime", "cudaEventCreateWithFlags");
  return e;
}

void event_destroy(void* e) {
  if (e) check(cudaEventDestroy(static_cast<cudaEvent_t>(e)), "runtime", "cudaEventDestroy");
}

void event_record(void* e, void* s) {
  check(cudaEventRecord(static_cast<cudaEvent_t>(e), static_cast<cudaStream_t>(s)), "runtime", "cudaEventRecord");
}

void stream_wait_event(void* s, void* e) {
  check(cudaStreamWaitEvent(static_cast<cudaStream_t>(s), static_cast<cudaEvent_t>(e), 0), "runtime",
        "cudaStreamWaitEvent");
}

void stream_synchronize(void* s) {
  check(cudaStreamSynchronize(static_cast<cudaStream_t>(s)), "runtime", "cudaStreamSynchronize");
}

}  // namespace goat::cuda

namespace goat {

std::string cuda_status() {
#if defined(GOATLM_CUDA_EMU)
  int n = 0;
  (void)cudaGetDeviceCount(&n);
  return "CUDA emulated on the host (SIMT emulation, " + std::to_string(n) + " emulated device)";
#else
  int rt = 0, drv = 0, n = 0;
  (void)cudaRuntimeGetVersion(&rt);
  (void)cudaDriverGetVersion(&drv);
  std::string s = "built with CUDA " + std::to_string(CUDART_VERSION / 1000) + "." +
                  std::to_string(CUDART_VERSION % 1000 / 10);
  const cudaError_t e = cudaGetDeviceCount(&n);
  (void)cudaGetLastError();
  if (e == cudaErrorInsufficientDriver)
    return s + ", no device: driver insufficient" +
           (drv ? " (driver supports CUDA " + std::to_string(drv / 1000) + "." + std::to_string(drv % 1000 / 10) + ")"
                : std::string(" (no driver)"));
  if (e == cudaErrorNoDevice || (e == cudaSuccess && n == 0)) return s + ", no device: none found";
  if (e != cudaSuccess) return s + ", no device: " + cudaGetErrorName(e);
  cudaDeviceProp prop{};
  (void)cudaGetDeviceProperties(&prop, 0);
  return s + ", " + std::to_string(n) + " device(s), device 0: " + prop.name + " (sm_" + std::to_string(prop.major) +
         std::to_string(prop.minor) + ")";
#endif
}

}  // namespace goat
