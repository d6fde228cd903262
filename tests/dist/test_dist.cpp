// MPI-free parts of dist/: the local communicator, the backend factory's errors, ZeRO-1 shard
// arithmetic, bucket planning and the collective watchdog. The MPI collectives themselves are
// tested with real mpirun processes in tests/mpi.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "dist/bucketed_allreduce.h"
#include "dist/communicator.h"
#include "dist/watchdog.h"
#include "dist/zero_shard.h"

namespace goat {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Communicator, ParseBackend) {
  EXPECT_EQ(parse_backend("auto"), Backend::automatic);
  EXPECT_EQ(parse_backend("nccl"), Backend::nccl);
  EXPECT_EQ(std::string(backend_name(parse_backend("mpi"))), "mpi");
  EXPECT_NE(error_of([] { parse_backend("gloo"); }).find("'gloo'"), std::string::npos);
}

TEST(Communicator, LocalIsIdentity) {
  auto comm = make_communicator({.backend = Backend::local});
  ASSERT_EQ(comm->size(), 1);
  ASSERT_EQ(comm->rank(), 0);
  std::vector<float> x = {1.5f, -2.f, 3.25f};
  const std::vector<float> x0 = x;
  comm->all_reduce(x);
  EXPECT_EQ(x, x0);
  comm->all_reduce_avg(x);
  EXPECT_EQ(x, x0);
  std::vector<float> y(3);
  comm->reduce_scatter(x, y);
  EXPECT_EQ(y, x0);
  std::fill(y.begin(), y.end(), 0.f);
  comm->all_gather(x, y);
  EXPECT_EQ(y, x0);
  comm->reduce_scatter(x, x);  // in place
  EXPECT_EQ(x, x0);
  std::vector<double> d = {0.5, 2.0};
  comm->all_reduce_host(d);
  EXPECT_EQ(d, (std::vector<double>{0.5, 2.0}));
  EXPECT_NE(error_of([&] { comm->broadcast(x, 1); }).find("root 1"), std::string::npos);
  std::vector<float> short_y(2);
  EXPECT_NE(error_of([&] { comm->all_gather(x, short_y); }).find("send has 3 elements, recv 2"), std::string::npos);
}

TEST(Communicator, AutoIsLocalForOneProcess) {
  ASSERT_EQ(launched_world_size(), 1) << "run tests/dist outside mpirun";
  EXPECT_EQ(make_communicator({})->backend(), Backend::local);
  EXPECT_EQ(make_communicator({}, Device::cuda)->backend(), Backend::local);
}

TEST(Communicator, LocalOnCudaAcceptsOnlyInPlace) {
  auto comm = make_communicator({.backend = Backend::local}, Device::cuda);
  std::vector<float> a(4), b(4);
  comm->all_gather(a, a);
  EXPECT_NE(error_of([&] { comm->all_gather(a, b); }).find("in-place"), std::string::npos);
}

TEST(Communicator, FactoryErrorsNameTheProblem) {
  EXPECT_NE(error_of([] { make_communicator({.backend = Backend::mpi}, Device::cuda); }).find("CPU tensors only"),
            std::string::npos);
  EXPECT_NE(error_of([] { make_communicator({.backend = Backend::nccl}, Device::cpu); }).find("GPU tensors only"),
            std::string::npos);
  if (!mpi_built()) {
    EXPECT_NE(error_of([] { make_communicator({.backend = Backend::mpi}); }).find("no MPI"), std::string::npos);
  }
  if (!nccl_built()) {
    EXPECT_NE(error_of([] { make_communicator({.backend = Backend::nccl}, Device::cuda); }).find("no NCCL"),
              std::string::npos);
  }
  // Under a launcher that started 4 ranks, backend=local is refused.
  ::setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
  EXPECT_EQ(launched_world_size(), 4);
  const std::string e = error_of([] { make_communicator({.backend = Backend::local}); });
  ::unsetenv("OMPI_COMM_WORLD_SIZE");
  EXPECT_NE(e.find("launcher started 4"), std::string::npos) << e;
}

TEST(ZeroShard, ShardsPartitionTheArenaWithEqualPaddedCounts) {
  for (int64_t numel : {0, 1, 15, 16, 17, 1000, 123457}) {
    for (int world = 1; world <= 8; ++world) {
      int64_t next = 0;
      for (int r = 0; r < world; ++r) {
        const ZeroShard s = zero_shard(numel, world, r);
        EXPECT_EQ(s.shard_numel % 16, 0);
        EXPECT_EQ(s.padded_numel, s.shard_numel * world);
        EXPECT_GE(s.padded_numel, numel);
        EXPECT_LT(s.padded_numel - numel, static_cast<int64_t>(world) * 16 + 1) << numel << " " << world;
        EXPECT_EQ(s.begin, next) << "shards must be contiguous, numel " << numel << " world " << world;
        EXPECT_LE(s.begin, s.end);
        EXPECT_EQ(s.begin, std::min(numel, s.padded_begin()));
        next = s.end;
      }
      EXPECT_EQ(next, numel);
    }
  }
  EXPECT_THROW(zero_shard(10, 2, 2), Error);
  EXPECT_THROW(zero_shard(10, 0, 0), Error);
}

TEST(ZeroShard, SplitIsBalanced) {
  for (int64_t n : {0, 1, 5, 1000003}) {
    for (int parts = 1; parts <= 7; ++parts) {
      int64_t lo = n, hi = 0;
      for (int i = 0; i < parts; ++i) {
        const int64_t len = split_begin(n, parts, i + 1) - split_begin(n, parts, i);
        lo = std::min(lo, len);
        hi = std::max(hi, len);
      }
      EXPECT_EQ(split_begin(n, parts, 0), 0);
      EXPECT_EQ(split_begin(n, parts, parts), n);
      EXPECT_LE(hi - lo, 1);
    }
  }
}

TEST(BucketPlan, BackwardOrderCoversTheArena) {
  const BucketPlan plan(10, 12, 4);  // 3 floats per bucket
  ASSERT_EQ(plan.count(), 4);
  const std::vector<std::pair<int64_t, int64_t>> want = {{7, 10}, {4, 7}, {1, 4}, {0, 1}};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(plan[i].begin, want[static_cast<size_t>(i)].first);
    EXPECT_EQ(plan[i].end, want[static_cast<size_t>(i)].second);
  }
  EXPECT_EQ(plan.ready_count(10), 0);
  EXPECT_EQ(plan.ready_count(5), 1);
  EXPECT_EQ(plan.ready_count(4), 2);
  EXPECT_EQ(plan.ready_count(0), 4);
  EXPECT_EQ(BucketPlan(0, 1024).count(), 0);
  EXPECT_THROW(BucketPlan(10, 2, 4), Error);
}

TEST(BucketPlan, RejectsAPlanForAnotherSize) {
  auto comm = make_communicator({.backend = Backend::local});
  std::vector<float> x(9);
  EXPECT_THROW(bucketed_all_reduce(*comm, x, BucketPlan(10, 12)), Error);
  bucketed_all_reduce(*comm, x, 0.001);
}

TEST(Watchdog, FiresOnceNamingTheCollectiveAndRank) {
  std::vector<std::string> fired;
  std::mutex m;
  {
    Watchdog w("rank 1/2", 0.2, [&](const std::string& msg) {
      std::lock_guard lock(m);
      fired.push_back(msg);
    });
    { auto fast = w.guard("barrier", 0); }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    {
      std::lock_guard lock(m);
      EXPECT_TRUE(fired.empty()) << "a completed collective must not fire";
    }
    auto slow = w.guard("all_reduce", 1234);
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
  }
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_NE(fired[0].find("[dist] rank 1/2: all_reduce of 1234 elements did not complete within 0.2 s"),
            std::string::npos)
      << fired[0];
}

TEST(Watchdog, DisabledWithNonPositiveTimeout) {
  bool fired = false;
  {
    Watchdog w("rank 0/1", 0, [&](const std::string&) { fired = true; });
    auto s = w.guard("all_reduce", 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_FALSE(fired);
}

volatile std::sig_atomic_t g_trainer_saw_sigterm = 0;
extern "C" void trainer_sigterm(int) { g_trainer_saw_sigterm = 1; }

TEST(Watchdog, SigtermReportsAndChainsToAnEarlierHandler) {
  // A trainer's own SIGTERM handler (checkpoint on preemption) installed first still runs.
  std::signal(SIGTERM, trainer_sigterm);
  Watchdog w("rank 0/2", 0);
  w.install_termination_handler();
  w.install_termination_handler();  // idempotent: must not chain to itself
  testing::internal::CaptureStderr();
  {
    auto s = w.guard("reduce_scatter", 8);
    std::raise(SIGTERM);
  }
  const std::string err = testing::internal::GetCapturedStderr();
  std::signal(SIGTERM, SIG_DFL);
  EXPECT_EQ(g_trainer_saw_sigterm, 1);
  EXPECT_NE(err.find("[dist] rank 0/2: stopped by the launcher (SIGTERM) while waiting in reduce_scatter"),
            std::string::npos)
      << err;
}

}  // namespace
}  // namespace goat
