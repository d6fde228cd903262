// Host SIMT emulation: the fiber scheduler (see sched.h for the model).
// One BlockRunner per OS thread owns the fibers of the block it runs, their stacks (mmap'd with
// a guard page, reused across blocks) and the warp exchange buffers. Scheduling is cooperative:
// a fiber runs until it waits (barrier, warp exchange) or returns; the runner then picks the next
// ready fiber, in thread order or, with a seed, at random. Nothing preempts between waits, so
// code that relies on implicit warp synchrony must use __syncwarp (as CUDA requires since Volta).
// Under AddressSanitizer the fibers use Boost's ucontext implementation with its ASan
// annotations (BOOST_USE_UCONTEXT + BOOST_USE_ASAN, set by CMake), so stack switches are known.
#include "simt/emu/sched.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/context/fiber.hpp>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/check.h"
#include "simt/emu/pool.h"
#include "simt/emu/smem.h"

// Built-in variables (declared in defs.h).
thread_local uint3 threadIdx{0, 0, 0};
thread_local uint3 blockIdx{0, 0, 0};
thread_local dim3 blockDim{1, 1, 1};
thread_local dim3 gridDim{1, 1, 1};

namespace goat::simt {
namespace {

namespace ctx = boost::context;

uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? std::strtoull(v, nullptr, 10) : fallback;
}

#if defined(__SANITIZE_ADDRESS__)
constexpr size_t kDefaultStack = 512 * 1024;
#else
constexpr size_t kDefaultStack = 64 * 1024;
#endif

// ---- fiber stacks: mmap'd with a PROT_NONE guard page below, pooled per OS thread ----
class StackPool {
 public:
  ~StackPool() { release(); }
  void* get(size_t size) {
    if (size != size_) {
      release();
      size_ = size;
    }
    if (!free_.empty()) {
      void* s = free_.back();
      free_.pop_back();
      return s;
    }
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void* base = mmap(nullptr, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    GOAT_CHECK(base != MAP_FAILED, "simt", "cannot map a {} byte fiber stack", size);
    mprotect(base, page, PROT_NONE);
    return static_cast<unsigned char*>(base) + page;
  }
  void put(void* s, size_t size) {
    if (size == size_) {
      free_.push_back(s);
    } else {  // a stack of an earlier size setting
      const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
      munmap(static_cast<unsigned char*>(s) - page, size + page);
    }
  }

 private:
  void release() {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    for (void* s : free_) munmap(static_cast<unsigned char*>(s) - page, size_ + page);
    free_.clear();
  }
  std::vector<void*> free_;
  size_t size_ = 0;
};

// Stack tops are staggered by a per-slot "colour" (a multiple of 64 bytes, up to 8 KiB): stacks
// are mapped at a fixed stride, and without it every fiber's hot top-of-stack lines would fall
// into the same cache sets.
struct PooledStack {
  StackPool* pool;
  size_t size;
  size_t colour;
  ctx::stack_context allocate() {
    ctx::stack_context sc;
    sc.size = size - colour;
    sc.sp = static_cast<unsigned char*>(pool->get(size)) + size - colour;
    return sc;
  }
  void deallocate(ctx::stack_context& sc) noexcept { pool->put(static_cast<unsigned char*>(sc.sp) - sc.size, size); }
};

uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

enum class State : uint8_t { ready, barrier, warp, done };

struct Copy {
  unsigned char* dst;
  const unsigned char* src;
  int cp_size, src_size;
};

struct ThreadState {
  ctx::fiber fiber;  // the suspended fiber, held by the scheduler
  ctx::fiber sink;   // the scheduler, held by the running fiber
  uint3 idx{};
  int linear = 0;
  State state = State::ready;
  int barrier_result = 0;
  size_t stack_bytes = 0;
  std::vector<Copy> open_copies;              // cp.async issued, not yet committed
  std::deque<std::vector<Copy>> copy_groups;  // committed, not yet retired
};

struct WarpGroup {
  uint32_t mask, arrived;
  CombineFn fn;
  const char* op;
};

struct Warp {
  alignas(16) unsigned char in[32 * kExchangeBytes];
  alignas(16) unsigned char out[32 * kExchangeBytes];
  std::vector<WarpGroup> pending;
  uint32_t present = 0, exited = 0;
};

std::string fmt_mask(uint32_t m) { return fmt::format("0x{:08x}", m); }

class BlockRunner;
thread_local BlockRunner* t_runner = nullptr;
thread_local ThreadState* t_current = nullptr;

class BlockRunner {
 public:
  void run(uint64_t block_linear, dim3 grid, dim3 block, size_t dyn_bytes, const std::function<void()>& body) {
    const Config& cfg = config();
    blockIdx =
        uint3{static_cast<unsigned>(block_linear % grid.x), static_cast<unsigned>((block_linear / grid.x) % grid.y),
              static_cast<unsigned>(block_linear / (uint64_t{grid.x} * grid.y))};
    blockDim = block;
    gridDim = grid;
    n_ = static_cast<int>(block.x * block.y * block.z);
    body_ = &body;
    error_ = nullptr;
    done_ = at_barrier_ = barrier_count_ = 0;
    rng_ = cfg.schedule_seed ^ (block_linear * 0xd1b54a32d192ed03ull);
    random_ = cfg.schedule_seed != 0;

    // Shared memory: dynamic part allocated at its exact size (so ASan sees overruns), both poisoned.
    if (dyn_bytes != dyn_size_ || !dyn_) {
      std::free(dyn_);
      dyn_ = nullptr;
      dyn_size_ = dyn_bytes;
      if (dyn_bytes) {
        void* p = nullptr;
        GOAT_CHECK(posix_memalign(&p, 128, dyn_bytes) == 0, "simt", "cannot allocate {} bytes of shared memory",
                   dyn_bytes);
        dyn_ = static_cast<unsigned char*>(p);
      }
    }
    const unsigned char fill = cfg.poison ? 0xff : 0x00;
    if (dyn_) std::memset(dyn_, fill, dyn_size_);
    if (cfg.poison)
      for (const detail::Region& r : detail::static_shared_regions()) std::memset(r.p, 0xff, r.n);

    while (threads_.size() < static_cast<size_t>(n_)) threads_.push_back(std::make_unique<ThreadState>());
    warps_.resize(static_cast<size_t>((n_ + 31) / 32));
    for (size_t w = 0; w < warps_.size(); ++w) {
      const int lanes = std::min(32, n_ - static_cast<int>(w) * 32);
      warps_[w].present = lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1u);
      warps_[w].exited = 0;
      warps_[w].pending.clear();
    }
    const size_t stack = cfg.stack_bytes ? cfg.stack_bytes : kDefaultStack;
    ready_.clear();
    for (int i = 0; i < n_; ++i) {
      ThreadState& t = *threads_[static_cast<size_t>(i)];
      t.idx = uint3{static_cast<unsigned>(i % block.x), static_cast<unsigned>((i / block.x) % block.y),
                    static_cast<unsigned>(i / (block.x * block.y))};
      t.linear = i;
      t.state = State::ready;
      t.open_copies.clear();
      t.copy_groups.clear();
      if (!t.fiber || t.stack_bytes != stack) {  // fibers are reused by the blocks of a launch
        t.fiber = ctx::fiber();
        t.stack_bytes = stack;
        const size_t colour = static_cast<size_t>(i % 128) * 64;
        t.fiber = ctx::fiber(std::allocator_arg, PooledStack{&stacks_, stack + 8192, colour},
                             [this, i](ctx::fiber&& sink) { return entry(i, std::move(sink)); });
      }
      ready_.push_back(i);
    }

    t_runner = this;
    while (!ready_.empty() && !error_) {
      int i;
      if (random_) {
        const size_t k = splitmix64(rng_) % ready_.size();
        std::swap(ready_[k], ready_.back());
        i = ready_.back();
        ready_.pop_back();
      } else {
        i = ready_.front();
        ready_.pop_front();
      }
      ThreadState& t = *threads_[static_cast<size_t>(i)];
      threadIdx = t.idx;
      t_current = &t;
      t.fiber = std::move(t.fiber).resume();
    }
    t_current = nullptr;
    if (!error_ && done_ != n_) error_ = std::make_exception_ptr(Error(deadlock_message()));
    t_runner = nullptr;
    if (error_) {
      release_fibers();
      std::rethrow_exception(error_);
    }
  }

  // Destroys every fiber; a suspended one is unwound first (Boost forced_unwind). Called at the
  // end of each launch, so no fiber outlives it.
  void release_fibers() {
    tearing_down_ = true;
    for (auto& t : threads_) t->fiber = ctx::fiber();
    tearing_down_ = false;
  }

  ~BlockRunner() {
    release_fibers();
    std::free(dyn_);
  }

  // ---- called from fibers ----
  ThreadState& current() {
    GOAT_CHECK(t_current, "simt", "CUDA device function called outside a kernel launch");
    return *t_current;
  }

  int barrier() {
    ThreadState& t = current();
    t.state = State::barrier;
    ++at_barrier_;
    maybe_release_barrier();
    suspend(t);
    return t.barrier_result;
  }
  int barrier_count(int pred) {
    barrier_count_ += pred != 0;
    return barrier();
  }

  void exchange(uint32_t mask, const char* op, CombineFn fn, const void* in, size_t in_bytes, void* out,
                size_t out_bytes) {
    ThreadState& t = current();
    const uint32_t lane = static_cast<uint32_t>(t.linear) & 31u;
    const int wi = t.linear / 32;
    Warp& w = warps_[static_cast<size_t>(wi)];
    const uint32_t bit = 1u << lane;
    if (!(mask & bit)) fault(fmt::format("{}: mask {} does not include the calling lane {}", op, fmt_mask(mask), lane));
    if (mask & ~w.present)
      fault(fmt::format("{}: mask {} names lanes that do not exist in warp {} (block of {} threads)", op,
                        fmt_mask(mask), wi, n_));
    if (mask & w.exited)
      fault(fmt::format("{}: mask {} names lanes {} that have already exited", op, fmt_mask(mask),
                        fmt_mask(mask & w.exited)));
    if (in_bytes) std::memcpy(w.in + lane * kExchangeBytes, in, in_bytes);
    // Join the pending group with this mask and op. Lanes may sit in different groups at once
    // (independent thread scheduling), but if a group that needs this lane already holds a lane
    // that this call needs, neither can complete: a guaranteed deadlock, reported as divergence.
    WarpGroup* g = nullptr;
    for (auto& p : w.pending) {
      if (p.mask == mask && p.fn == fn) {
        g = &p;
      } else if ((p.mask & bit) && (mask & p.arrived)) {
        fault(fmt::format("warp {} diverged: lane {} reached {} with mask {} while lanes {} wait in {} with mask {}",
                          wi, lane, op, fmt_mask(mask), fmt_mask(p.arrived), p.op, fmt_mask(p.mask)));
      }
    }
    if (!g) {
      w.pending.push_back(WarpGroup{mask, 0, fn, op});
      g = &w.pending.back();
    }
    g->arrived |= bit;
    t.state = State::warp;
    if (g->arrived == mask) {
      w.pending.erase(w.pending.begin() + (g - w.pending.data()));
      fn(ExchangeView{w.in, w.out, mask, wi});
      for (uint32_t l = 0; l < 32; ++l) {
        if (!(mask >> l & 1u)) continue;
        ThreadState& o = *threads_[static_cast<size_t>(wi * 32 + static_cast<int>(l))];
        o.state = State::ready;
        ready_.push_back(o.linear);
      }
    }
    suspend(t);
    if (out_bytes) std::memcpy(out, w.out + lane * kExchangeBytes, out_bytes);
  }

  unsigned char* dyn() const { return dyn_; }
  size_t dyn_size() const { return dyn_size_; }
  uint32_t exited_lanes() { return warps_[static_cast<size_t>(current().linear / 32)].exited; }

  [[noreturn]] void fault(const std::string& what) {
    const ThreadState& t = current();
    throw Error(fmt::format("[simt] block ({},{},{}) thread ({},{},{}): {}", blockIdx.x, blockIdx.y, blockIdx.z,
                            t.idx.x, t.idx.y, t.idx.z, what));
  }

 private:
  // A fiber runs the kernel body for its thread slot in every block of a launch: after each body
  // it parks until the next block (or until it is destroyed).
  ctx::fiber entry(int i, ctx::fiber&& sink) {
    ThreadState& t = *threads_[static_cast<size_t>(i)];
    t.sink = std::move(sink);
    // Boost's ucontext fibers (ASan builds) enter the function of a never-resumed fiber when it is
    // destroyed; it must then end at once instead of running the kernel body.
    if (tearing_down_) return std::move(t.sink);
    for (;;) {
      try {
        (*body_)();
        size_t left = 0;
        for (const auto& g : t.copy_groups) left += g.size();
        left += t.open_copies.size();
        if (left && config().poison)
          fault(fmt::format("exited with {} cp.async copies never retired by cp.async.wait_group/wait_all", left));
      } catch (const ctx::detail::forced_unwind&) {
        throw;
      } catch (...) {
        if (!error_) error_ = std::current_exception();
      }
      on_exit(t);
      suspend(t);
    }
  }

  void on_exit(ThreadState& t) {
    t.state = State::done;
    ++done_;
    Warp& w = warps_[static_cast<size_t>(t.linear / 32)];
    const uint32_t bit = 1u << (static_cast<uint32_t>(t.linear) & 31u);
    w.exited |= bit;
    for (const auto& g : w.pending) {
      if ((g.mask & bit) && !error_) {
        error_ = std::make_exception_ptr(Error(fmt::format(
            "[simt] block ({},{},{}) thread ({},{},{}) exited while lanes {} of warp {} wait for it in {} (mask {})",
            blockIdx.x, blockIdx.y, blockIdx.z, t.idx.x, t.idx.y, t.idx.z, fmt_mask(g.arrived), t.linear / 32, g.op,
            fmt_mask(g.mask))));
      }
    }
    maybe_release_barrier();
  }

  // A barrier completes when every thread that has not exited has arrived (exited threads do not
  // hold a barrier up, as on the hardware).
  void maybe_release_barrier() {
    if (at_barrier_ == 0 || at_barrier_ + done_ != n_) return;
    const int count = barrier_count_;
    for (int i = 0; i < n_; ++i) {
      ThreadState& o = *threads_[static_cast<size_t>(i)];
      if (o.state != State::barrier) continue;
      o.state = State::ready;
      o.barrier_result = count;
      ready_.push_back(o.linear);
    }
    at_barrier_ = barrier_count_ = 0;
  }

  void suspend(ThreadState& t) { t.sink = std::move(t.sink).resume(); }

  std::string deadlock_message() const {
    std::string waits;
    for (size_t w = 0; w < warps_.size(); ++w)
      for (const auto& g : warps_[w].pending)
        waits +=
            fmt::format("; warp {} lanes {} wait in {} for mask {}", w, fmt_mask(g.arrived), g.op, fmt_mask(g.mask));
    return fmt::format("[simt] deadlock in block ({},{},{}): {} of {} threads at __syncthreads, {} exited{}",
                       blockIdx.x, blockIdx.y, blockIdx.z, at_barrier_, n_, done_, waits);
  }

  std::vector<std::unique_ptr<ThreadState>> threads_;  // stable addresses: fibers hold references
  std::vector<Warp> warps_;
  std::deque<int> ready_;
  StackPool stacks_;
  const std::function<void()>* body_ = nullptr;
  std::exception_ptr error_;
  int n_ = 0, done_ = 0, at_barrier_ = 0, barrier_count_ = 0;
  uint64_t rng_ = 0;
  bool random_ = false;
  bool tearing_down_ = false;
  unsigned char* dyn_ = nullptr;
  size_t dyn_size_ = 0;
};

BlockRunner& runner_here() {
  thread_local BlockRunner r;
  return r;
}

BlockRunner& active() {
  GOAT_CHECK(t_runner && t_current, "simt", "CUDA device function called outside a kernel launch");
  return *t_runner;
}

thread_local std::string t_last_fault;

}  // namespace

Config& config() {
  static Config c = [] {
    Config v;
    v.schedule_seed = env_u64("GOATLM_SIMT_SEED", 0);
    v.poison = env_u64("GOATLM_SIMT_POISON", 1) != 0;
    v.threads = static_cast<int>(env_u64("GOATLM_SIMT_THREADS", 0));
    v.stack_bytes = env_u64("GOATLM_SIMT_STACK_KB", 0) * 1024;
    return v;
  }();
  return c;
}

void run_grid(dim3 grid, dim3 block, size_t dyn_bytes, const std::function<void()>& body) {
  static std::mutex launch_mutex;  // one grid at a time: the pool and its runners are shared
  GOAT_CHECK(!t_runner, "simt", "kernel launch from inside a kernel is not supported");
  std::lock_guard<std::mutex> lk(launch_mutex);
  const uint64_t total = uint64_t{grid.x} * grid.y * grid.z;
  int nthreads = config().threads > 0 ? config().threads : static_cast<int>(std::thread::hardware_concurrency());
  nthreads = static_cast<int>(std::min<uint64_t>(total, static_cast<uint64_t>(std::max(nthreads, 1))));
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr err;
  std::mutex err_m;
  const std::function<void()> job = [&] {
    BlockRunner& r = runner_here();
    for (;;) {
      const uint64_t b = next.fetch_add(1);
      if (b >= total || failed.load()) break;
      try {
        r.run(b, grid, block, dyn_bytes, body);
      } catch (...) {
        std::lock_guard<std::mutex> g(err_m);
        if (!err) err = std::current_exception();
        failed = true;
      }
    }
    r.release_fibers();
  };
  if (nthreads <= 1) {
    job();
  } else {
    static detail::Pool pool;
    pool.run(nthreads, job);
  }
  if (err) std::rethrow_exception(err);
}

void block_barrier() { active().barrier(); }
int block_barrier_count(int predicate) { return active().barrier_count(predicate); }
void warp_exchange(uint32_t mask, const char* op, CombineFn combine, const void* in, size_t in_bytes, void* out,
                   size_t out_bytes) {
  active().exchange(mask, op, combine, in, in_bytes, out, out_bytes);
}
unsigned char* dynamic_smem_base() { return active().dyn(); }
size_t dynamic_smem_size() { return active().dyn_size(); }
bool in_shared(const void* p, size_t bytes) {
  const auto* c = static_cast<const unsigned char*>(p);
  BlockRunner& r = active();
  if (detail::Region{r.dyn(), r.dyn_size()}.contains(c, bytes)) return true;
  for (const detail::Region& t : detail::tls_blocks())
    if (t.contains(c, bytes)) return true;
  return false;
}
uint32_t lane_id() { return static_cast<uint32_t>(active().current().linear) & 31u; }
uint32_t exited_lanes_of_warp() { return active().exited_lanes(); }
void fault(const std::string& what) { active().fault(what); }

void emu_cp_async_issue(void* dst, const void* src, int cp_size, int src_size) {
  BlockRunner& r = active();
  ThreadState& t = r.current();
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  if (cp_size != 4 && cp_size != 8 && cp_size != 16)
    r.fault(fmt::format("cp.async cp-size {} (must be 4, 8 or 16)", cp_size));
  if (src_size < 0 || src_size > cp_size) r.fault(fmt::format("cp.async src-size {} > cp-size {}", src_size, cp_size));
  if (reinterpret_cast<uintptr_t>(d) % static_cast<uintptr_t>(cp_size) ||
      reinterpret_cast<uintptr_t>(s) % static_cast<uintptr_t>(cp_size))
    r.fault(fmt::format("cp.async {} bytes: dst {} / src {} not aligned to cp-size", cp_size, dst, src));
  if (!in_shared(d, static_cast<size_t>(cp_size))) r.fault(fmt::format("cp.async dst {} is not in shared memory", dst));
  const Copy c{d, s, cp_size, src_size};
  if (config().poison) {
    std::memset(d, 0xff, static_cast<size_t>(cp_size));
    t.open_copies.push_back(c);
  } else {
    if (src_size) std::memcpy(d, s, static_cast<size_t>(src_size));
    std::memset(d + src_size, 0, static_cast<size_t>(cp_size - src_size));
  }
}

void emu_cp_async_commit() {
  ThreadState& t = active().current();
  t.copy_groups.push_back(std::move(t.open_copies));
  t.open_copies.clear();
}

void emu_cp_async_wait(int allowed) {
  ThreadState& t = active().current();
  while (static_cast<int>(t.copy_groups.size()) > allowed) {
    for (const Copy& c : t.copy_groups.front()) {
      if (c.src_size) std::memcpy(c.dst, c.src, static_cast<size_t>(c.src_size));
      std::memset(c.dst + c.src_size, 0, static_cast<size_t>(c.cp_size - c.src_size));
    }
    t.copy_groups.pop_front();
  }
}

const std::string& last_fault_message() { return t_last_fault; }
void set_last_fault_message(std::string msg) { t_last_fault = std::move(msg); }

}  // namespace goat::simt
