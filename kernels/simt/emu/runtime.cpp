// Host SIMT emulation: the CUDA runtime subset (see runtime.h). Device memory is host memory
// from posix_memalign at its exact size (so AddressSanitizer catches overruns), tracked in a map so
// that frees, copies and memsets of device ranges are validated as the real runtime would.
#include "simt/emu/runtime.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "core/check.h"
#include "simt/emu/sched.h"

struct CUstream_st {
  int id;
};
struct CUevent_st {
  std::chrono::steady_clock::time_point t;
  bool recorded = false;
};

namespace goat::simt {
namespace {

struct State {
  std::mutex m;
  std::map<uintptr_t, size_t> allocs;  // device allocations: start -> bytes
  std::set<void*> host_allocs;
  std::set<cudaStream_t> streams;
  std::set<cudaEvent_t> events;
  std::map<const void*, size_t> max_smem;
};
State& state() {
  static State s;
  return s;
}
thread_local cudaError_t t_last = cudaSuccess;

// Is [p, p + n) inside one device allocation?
bool device_range(const void* p, size_t n) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.m);
  const auto a = reinterpret_cast<uintptr_t>(p);
  auto it = s.allocs.upper_bound(a);
  if (it == s.allocs.begin()) return false;
  --it;
  return a >= it->first && a + n <= it->first + it->second;
}

}  // namespace

cudaError_t record_error(cudaError_t e) {
  if (e != cudaSuccess) t_last = e;
  return e;
}

bool valid_stream(cudaStream_t s) {
  if (!s) return true;
  State& st = state();
  std::lock_guard<std::mutex> lk(st.m);
  return st.streams.count(s) != 0;
}

cudaError_t set_func_attribute(const void* func, cudaFuncAttribute attr, int value) {
  if (!func) return record_error(cudaErrorInvalidDeviceFunction);
  if (attr == cudaFuncAttributePreferredSharedMemoryCarveout) return cudaSuccess;
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
      static_cast<size_t>(value) > kMaxDynamicSmemOptin)
    return record_error(cudaErrorInvalidValue);
  State& s = state();
  std::lock_guard<std::mutex> lk(s.m);
  s.max_smem[func] = static_cast<size_t>(value);
  return cudaSuccess;
}

size_t max_dynamic_smem(const void* func) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.m);
  auto it = s.max_smem.find(func);
  return it == s.max_smem.end() ? kDefaultDynamicSmem : std::max(it->second, kDefaultDynamicSmem);
}

cudaError_t launch_grid(const void* func, dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                        const std::function<void()>& body) {
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  if (!block.x || !block.y || !block.z || block.x > 1024 || block.y > 1024 || block.z > 64 || threads > 1024 ||
      !grid.x || !grid.y || !grid.z || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535)
    return record_error(cudaErrorInvalidConfiguration);
  if (smem > max_dynamic_smem(func)) return record_error(cudaErrorInvalidValue);
  if (!valid_stream(stream)) return record_error(cudaErrorInvalidResourceHandle);
  try {
    run_grid(grid, block, smem, body);
  } catch (const std::exception& e) {
    set_last_fault_message(e.what());
    std::fprintf(stderr, "goatlm simt: kernel fault: %s\n", e.what());
    return record_error(cudaErrorLaunchFailure);
  }
  return cudaSuccess;
}

}  // namespace goat::simt

using goat::simt::record_error;
using goat::simt::state;
using goat::simt::State;

const char* cudaGetErrorName(cudaError_t e) {
  static constexpr std::pair<cudaError_t, const char*> kNames[] = {
      {cudaSuccess, "cudaSuccess"},
      {cudaErrorInvalidValue, "cudaErrorInvalidValue"},
      {cudaErrorMemoryAllocation, "cudaErrorMemoryAllocation"},
      {cudaErrorInitializationError, "cudaErrorInitializationError"},
      {cudaErrorInvalidConfiguration, "cudaErrorInvalidConfiguration"},
      {cudaErrorInvalidSymbol, "cudaErrorInvalidSymbol"},
      {cudaErrorInvalidDevicePointer, "cudaErrorInvalidDevicePointer"},
      {cudaErrorInvalidMemcpyDirection, "cudaErrorInvalidMemcpyDirection"},
      {cudaErrorInvalidDeviceFunction, "cudaErrorInvalidDeviceFunction"},
      {cudaErrorNoDevice, "cudaErrorNoDevice"},
      {cudaErrorInvalidDevice, "cudaErrorInvalidDevice"},
      {cudaErrorInvalidResourceHandle, "cudaErrorInvalidResourceHandle"},
      {cudaErrorNotReady, "cudaErrorNotReady"},
      {cudaErrorIllegalAddress, "cudaErrorIllegalAddress"},
      {cudaErrorLaunchOutOfResources, "cudaErrorLaunchOutOfResources"},
      {cudaErrorAssert, "cudaErrorAssert"},
      {cudaErrorLaunchFailure, "cudaErrorLaunchFailure"},
      {cudaErrorNotSupported, "cudaErrorNotSupported"},
      {cudaErrorUnknown, "cudaErrorUnknown"},
  };
  for (const auto& [code, name] : kNames)
    if (code == e) return name;
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "no error";
    case cudaErrorInvalidValue:
      return "invalid argument";
    case cudaErrorMemoryAllocation:
      return "out of memory";
    case cudaErrorInvalidConfiguration:
      return "invalid configuration argument";
    case cudaErrorInvalidMemcpyDirection:
      return "invalid copy direction for memcpy";
    case cudaErrorInvalidDeviceFunction:
      return "invalid device function";
    case cudaErrorInvalidDevice:
      return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle:
      return "invalid resource handle";
    case cudaErrorNotReady:
      return "device not ready";
    case cudaErrorLaunchFailure:
      return "unspecified launch failure";
    default:
      return cudaGetErrorName(e);
  }
}

cudaError_t cudaGetLastError() {
  const cudaError_t e = goat::simt::t_last;
  goat::simt::t_last = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return goat::simt::t_last; }

cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return record_error(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : record_error(cudaErrorInvalidDevice); }
cudaError_t cudaGetDevice(int* device) {
  if (!device) return record_error(cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (!prop) return record_error(cudaErrorInvalidValue);
  if (device != 0) return record_error(cudaErrorInvalidDevice);
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "goatlm SIMT emulator (host)");
  prop->totalGlobalMem = size_t{16} << 30;
  prop->sharedMemPerBlock = goat::simt::kDefaultDynamicSmem;
  prop->sharedMemPerBlockOptin = goat::simt::kMaxDynamicSmemOptin;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 0x7fffffff;
  prop->maxGridSize[1] = prop->maxGridSize[2] = 65535;
  prop->multiProcessorCount = static_cast<int>(std::thread::hardware_concurrency());
  prop->major = 8;
  prop->minor = 0;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (!value) return record_error(cudaErrorInvalidValue);
  if (device != 0) return record_error(cudaErrorInvalidDevice);
  cudaDeviceProp p;
  cudaGetDeviceProperties(&p, 0);
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock:
      *value = p.maxThreadsPerBlock;
      break;
    case cudaDevAttrMaxSharedMemoryPerBlock:
      *value = static_cast<int>(p.sharedMemPerBlock);
      break;
    case cudaDevAttrWarpSize:
      *value = p.warpSize;
      break;
    case cudaDevAttrMultiProcessorCount:
      *value = p.multiProcessorCount;
      break;
    case cudaDevAttrComputeCapabilityMajor:
      *value = p.major;
      break;
    case cudaDevAttrComputeCapabilityMinor:
      *value = p.minor;
      break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin:
      *value = static_cast<int>(p.sharedMemPerBlockOptin);
      break;
    default:
      return record_error(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  if (!free_bytes || !total_bytes) return record_error(cudaErrorInvalidValue);
  cudaDeviceProp p;
  cudaGetDeviceProperties(&p, 0);
  size_t used = 0;
  {
    auto& s = state();
    std::lock_guard<std::mutex> lk(s.m);
    for (const auto& [ptr, bytes] : s.allocs) used += bytes;
  }
  *total_bytes = p.totalGlobalMem;
  *free_bytes = used < p.totalGlobalMem ? p.totalGlobalMem - used : 0;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  if (!ptr) return record_error(cudaErrorInvalidValue);
  *ptr = nullptr;
  if (bytes == 0) return cudaSuccess;
  void* p = nullptr;
  if (posix_memalign(&p, 256, bytes) != 0) return record_error(cudaErrorMemoryAllocation);
  std::memset(p, goat::simt::config().poison ? 0xff : 0x00, bytes);
  auto& s = state();
  std::lock_guard<std::mutex> lk(s.m);
  s.allocs[reinterpret_cast<uintptr_t>(p)] = bytes;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  auto& s = state();
  std::lock_guard<std::mutex> lk(s.m);
  auto it = s.allocs.find(reinterpret_cast<uintptr_t>(ptr));
  if (it == s.allocs.end()) return record_error(cudaErrorInvalidValue);
  s.allocs.erase(it);
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMallocAsync(void** ptr, size_t bytes, cudaStream_t stream) {
  if (!goat::simt::valid_stream(stream)) return record_error(cudaErrorInvalidResourceHandle);
  return cudaMalloc(ptr, bytes);
}

cudaError_t cudaFreeAsync(void* ptr, cudaStream_t stream) {
  if (!goat::simt::valid_stream(stream)) return record_error(cudaErrorInvalidResourceHandle);
  return cudaFree(ptr);
}

cudaError_t cudaMallocHost(void** ptr, size_t bytes) {
  if (!ptr) return record_error(cudaErrorInvalidValue);
  void* p = nullptr;
  if (posix_memalign(&p, 256, bytes ? bytes : 1) != 0) return record_error(cudaErrorMemoryAllocation);
  auto& s = state();
  std::lock_guard<std::mutex> lk(s.m);
  s.host_allocs.insert(p);
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFreeHost(void* ptr) {
  if (!ptr) return cudaSuccess;
  auto& s = state();
  std::lock_guard<std::mutex> lk(s.m);
  if (!s.host_allocs.erase(ptr)) return record_error(cudaErrorInvalidValue);
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault) return record_error(cudaErrorInvalidMemcpyDirection);
  if (bytes == 0) return cudaSuccess;
  if (!dst || !src) return record_error(cudaErrorInvalidValue);
  const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if ((dst_dev && !goat::simt::device_range(dst, bytes)) || (src_dev && !goat::simt::device_range(src, bytes)))
    return record_error(cudaErrorInvalidValue);
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  if (!goat::simt::valid_stream(stream)) return record_error(cudaErrorInvalidResourceHandle);
  return cudaMemcpy(dst, src, bytes, kind);
}

cudaError_t cudaMemset(void* ptr, int value, size_t bytes) {
  if (bytes == 0) return cudaSuccess;
  if (!goat::simt::device_range(ptr, bytes)) return record_error(cudaErrorInvalidValue);
  std::memset(ptr, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream) {
  if (!goat::simt::valid_stream(stream)) return record_error(cudaErrorInvalidResourceHandle);
  return cudaMemset(ptr, value, bytes);
}

namespace {
// Streams and events live in their set of State from create to destroy. make() (called under the
// lock) allocates the new handle; destroying a handle not in the set is an error.
template <typename H, typename Make>
cudaError_t create_handle(std::set<H> State::*live, H* out, Make make) {
  if (!out) return record_error(cudaErrorInvalidValue);
  auto& s = state();
  std::lock_guard<std::mutex> lk(s.m);
  *out = make();
  (s.*live).insert(*out);
  return cudaSuccess;
}
template <typename H>
cudaError_t destroy_handle(std::set<H> State::*live, H h) {
  auto& s = state();
  std::lock_guard<std::mutex> lk(s.m);
  if (!h || !(s.*live).erase(h)) return record_error(cudaErrorInvalidResourceHandle);
  delete h;
  return cudaSuccess;
}
}  // namespace

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  static int next_id = 1;
  return create_handle(&State::streams, stream, [] { return new CUstream_st{next_id++}; });
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  if (flags > cudaStreamNonBlocking) return record_error(cudaErrorInvalidValue);
  return cudaStreamCreate(stream);
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) { return destroy_handle(&State::streams, stream); }
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  return goat::simt::valid_stream(stream) ? cudaSuccess : record_error(cudaErrorInvalidResourceHandle);
}

namespace {
bool valid_event(cudaEvent_t e) {
  auto& s = state();
  std::lock_guard<std::mutex> lk(s.m);
  return e && s.events.count(e) != 0;
}
}  // namespace

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned) {
  if (!goat::simt::valid_stream(stream) || !valid_event(event)) return record_error(cudaErrorInvalidResourceHandle);
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* event) {
  return create_handle(&State::events, event, [] { return new CUevent_st{}; });
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags) {
  if (flags > (cudaEventBlockingSync | cudaEventDisableTiming | 0x04u)) return record_error(cudaErrorInvalidValue);
  return cudaEventCreate(event);
}
cudaError_t cudaEventDestroy(cudaEvent_t event) { return destroy_handle(&State::events, event); }
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!valid_event(event) || !goat::simt::valid_stream(stream)) return record_error(cudaErrorInvalidResourceHandle);
  event->t = std::chrono::steady_clock::now();
  event->recorded = true;
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  return valid_event(event) ? cudaSuccess : record_error(cudaErrorInvalidResourceHandle);
}
cudaError_t cudaEventQuery(cudaEvent_t event) {
  return valid_event(event) ? cudaSuccess : record_error(cudaErrorInvalidResourceHandle);
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms) return record_error(cudaErrorInvalidValue);
  if (!valid_event(start) || !valid_event(end)) return record_error(cudaErrorInvalidResourceHandle);
  if (!start->recorded || !end->recorded) return record_error(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(end->t - start->t).count();
  return cudaSuccess;
}
