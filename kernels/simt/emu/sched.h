// Host SIMT emulation, part 2: the fiber scheduler's interface.
// A block runs as blockDim cooperative fibers on one OS thread (Boost.Context); blocks of a
// grid are spread over a small pool of OS threads. Everything a kernel can wait on goes through
// two primitives: the block barrier (__syncthreads) and the warp exchange (shuffles, votes,
// __syncwarp, ldmatrix, mma), in which every lane of a mask deposits a payload, the last lane to
// arrive runs one combine function over all payloads, and each lane then reads its result.
// Faults (deadlock, mismatched masks, bad addresses) throw goat::Error inside the fiber; the
// launch reports them as cudaErrorLaunchFailure with the message kept in last_fault_message().
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "simt/emu/defs.h"

namespace goat::simt {

// Process-wide emulation settings. Read at every launch; the environment sets the initial
// values: GOATLM_SIMT_SEED, GOATLM_SIMT_POISON (0/1), GOATLM_SIMT_THREADS, GOATLM_SIMT_STACK_KB.
struct Config {
  uint64_t schedule_seed = 0;  // 0: fibers run in thread order; else seeded random order
  bool poison = true;          // shared memory, fresh allocations and pending cp.async get 0xFF
  int threads = 0;             // OS threads running blocks (0: hardware concurrency)
  size_t stack_bytes = 0;      // per-fiber stack (0: 64 KiB, 512 KiB under AddressSanitizer)
};
Config& config();

// Upper bound of the per-lane payload of one warp exchange (mma passes 40 bytes).
inline constexpr size_t kExchangeBytes = 64;

// What a combine function sees: lane l's input at in + l * kExchangeBytes, its output at
// out + l * kExchangeBytes; `mask` is the set of lanes that took part.
struct ExchangeView {
  const unsigned char* in;
  unsigned char* out;
  uint32_t mask;
  int warp;  // warp index within the block (for messages)
};
using CombineFn = void (*)(const ExchangeView&);

// Runs one grid: `body` is called once per thread (fiber) with the built-ins set.
// Throws goat::Error when a block faults. Not reentrant from inside a kernel.
void run_grid(dim3 grid, dim3 block, size_t dynamic_smem_bytes, const std::function<void()>& body);

// Inside a kernel.
void block_barrier();                    // __syncthreads
int block_barrier_count(int predicate);  // __syncthreads_count
void warp_exchange(uint32_t mask, const char* op, CombineFn combine, const void* in, size_t in_bytes, void* out,
                   size_t out_bytes);
unsigned char* dynamic_smem_base();  // this block's dynamic shared memory
size_t dynamic_smem_size();
bool in_shared(const void* p, size_t bytes);       // inside this block's static or dynamic smem
uint32_t lane_id();                                // threadIdx linearised, mod 32
uint32_t exited_lanes_of_warp();                   // lanes of my warp that have returned
[[noreturn]] void fault(const std::string& what);  // abort this launch with a message

// cp.async emulation (per thread, FIFO commit groups). Strict mode (config().poison) poisons dst
// at issue and copies when a wait retires the group; otherwise copies at issue.
void emu_cp_async_issue(void* dst, const void* src, int cp_size, int src_size);
void emu_cp_async_commit();
void emu_cp_async_wait(int pending_groups_allowed);

// The detailed message of the most recent kernel fault on this host thread ("" if none).
const std::string& last_fault_message();
void set_last_fault_message(std::string msg);

}  // namespace goat::simt
