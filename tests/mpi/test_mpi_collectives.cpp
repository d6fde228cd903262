// Collectives on real MPI ranks (run under `mpirun -np 2` and `-np 3`). Every rank recomputes
// what every other rank contributed from the Philox stream keyed by that rank, so each check is
// against an independent local computation: bitwise for the rank-ordered (deterministic) mode,
// which sums contributions in rank order 0..n-1, and within the recursive-summation error bound
// (n-1)·eps·Σ|x| of an fp64 sum for MPI's native order and for NCCL.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/philox.h"
#include "dist/bucketed_allreduce.h"
#include "dist/comm_buffer.h"
#include "dist/communicator.h"
#include "dist/zero_shard.h"

namespace goat {
namespace {

Communicator* g_det = nullptr;     // rank-ordered sums
Communicator* g_native = nullptr;  // MPI_Allreduce's own order

float contrib(int rank, int64_t i, uint64_t step) {
  return Rng(1234, RngPurpose::test, step, static_cast<uint32_t>(rank)).normal(static_cast<uint64_t>(i));
}
// Rank-ordered float sum, the deterministic mode's contract.
float ordered_sum(int world, int64_t i, uint64_t step) {
  float s = contrib(0, i, step);
  for (int r = 1; r < world; ++r) s += contrib(r, i, step);
  return s;
}
// |got - fp64 sum| within the recursive summation bound (world-1)·eps·Σ|x| (+ rounding of got).
void expect_within_bound(float got, int world, int64_t i, uint64_t step, float scale = 1.f) {
  double exact = 0, abs_sum = 0;
  for (int r = 0; r < world; ++r) {
    exact += contrib(r, i, step);
    abs_sum += std::fabs(contrib(r, i, step));
  }
  const double eps = std::numeric_limits<float>::epsilon() / 2;
  const double bound = (world + 1) * eps * abs_sum * scale + 1e-30;
  EXPECT_LE(std::fabs(got - exact * scale), bound) << "element " << i;
}
std::vector<float> fill(int rank, int64_t n, uint64_t step) {
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = contrib(rank, i, step);
  return x;
}

TEST(Mpi, WorldMatchesTheLauncher) {
  EXPECT_EQ(g_det->backend(), Backend::mpi);
  EXPECT_EQ(g_det->size(), launched_world_size());
  const char* r = std::getenv("OMPI_COMM_WORLD_RANK");
  if (r != nullptr) {
    EXPECT_EQ(g_det->rank(), std::atoi(r));
  }
  EXPECT_GE(g_det->size(), 2) << "run under mpirun -np 2 or more";
}

TEST(Mpi, AllReduceIsRankOrderedBitwise) {
  const int world = g_det->size(), rank = g_det->rank();
  uint64_t step = 0;
  for (int64_t n : {1, 2, 7, 1000, 100003}) {
    ++step;
    auto x = fill(rank, n, step);
    g_det->all_reduce(x);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(x[static_cast<size_t>(i)], ordered_sum(world, i, step)) << "n " << n << " element " << i;
      expect_within_bound(x[static_cast<size_t>(i)], world, i, step);
    }
    auto y = fill(rank, n, step);
    g_det->all_reduce_avg(y);
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(y[static_cast<size_t>(i)], ordered_sum(world, i, step) / static_cast<float>(world));
  }
}

TEST(Mpi, NativeAllReduceIsWithinBoundAndIdenticalOnEveryRank) {
  const int world = g_native->size(), rank = g_native->rank();
  for (int64_t n : {3, 5000, 200001}) {
    auto x = fill(rank, n, 50);
    g_native->all_reduce(x);
    for (int64_t i = 0; i < n; ++i) expect_within_bound(x[static_cast<size_t>(i)], world, i, 50);
    auto from_root = x;
    g_native->broadcast(from_root, 0);
    EXPECT_EQ(std::memcmp(from_root.data(), x.data(), x.size() * 4), 0) << "ranks disagree, n " << n;
  }
}

TEST(Mpi, WindowedAllReduceBeyondOneWindow) {
  // 2^24 + 4099 elements: crosses the 2^24-element window; cheap integer-valued data.
  const int world = g_det->size(), rank = g_det->rank();
  const int64_t n = (int64_t{1} << 24) + 4099;
  auto val = [](int r, int64_t i) { return static_cast<float>((i * 7 + r * 13) % 1000) - 500.f; };
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = val(rank, i);
  g_det->all_reduce(x);
  int64_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    float s = val(0, i);
    for (int r = 1; r < world; ++r) s += val(r, i);
    bad += x[static_cast<size_t>(i)] != s;
  }
  EXPECT_EQ(bad, 0);
}

TEST(Mpi, ReduceScatterOutOfPlaceAndInPlace) {
  const int world = g_det->size(), rank = g_det->rank();
  for (Communicator* comm : {g_det, g_native}) {
    for (int64_t c : {0, 1, 1001}) {
      const auto send = fill(rank, c * world, 60);
      std::vector<float> recv(static_cast<size_t>(c), -1.f);
      comm->reduce_scatter(send, recv);
      auto in_place = send;
      comm->reduce_scatter(in_place, std::span(in_place).subspan(static_cast<size_t>(c * rank), static_cast<size_t>(c)),
                           ReduceOp::avg);
      for (int64_t k = 0; k < c; ++k) {
        const int64_t i = rank * c + k;
        expect_within_bound(recv[static_cast<size_t>(k)], world, i, 60);
        expect_within_bound(in_place[static_cast<size_t>(i)], world, i, 60, 1.f / static_cast<float>(world));
        if (comm == g_det) {
          ASSERT_EQ(recv[static_cast<size_t>(k)], ordered_sum(world, i, 60));
          ASSERT_EQ(in_place[static_cast<size_t>(i)], ordered_sum(world, i, 60) / static_cast<float>(world));
        }
      }
    }
  }
}

TEST(Mpi, AllGatherOutOfPlaceAndInPlace) {
  const int world = g_det->size(), rank = g_det->rank();
  for (int64_t c : {1, 333}) {
    const auto send = fill(rank, c, 70);
    std::vector<float> recv(static_cast<size_t>(c * world), -1.f);
    g_det->all_gather(send, recv);
    std::vector<float> in_place(static_cast<size_t>(c * world), -1.f);
    std::copy(send.begin(), send.end(), in_place.begin() + c * rank);
    g_det->all_gather(std::span(in_place).subspan(static_cast<size_t>(c * rank), static_cast<size_t>(c)), in_place);
    for (int r = 0; r < world; ++r)
      for (int64_t k = 0; k < c; ++k) {
        ASSERT_EQ(recv[static_cast<size_t>(r * c + k)], contrib(r, k, 70));
        ASSERT_EQ(in_place[static_cast<size_t>(r * c + k)], contrib(r, k, 70));
      }
  }
}

TEST(Mpi, BroadcastFloatsAndBytesFromTheLastRank) {
  const int world = g_det->size(), rank = g_det->rank(), root = world - 1;
  auto x = rank == root ? fill(root, 4097, 80) : std::vector<float>(4097, -7.f);
  g_det->broadcast(x, root);
  EXPECT_EQ(x, fill(root, 4097, 80));
  std::string s = rank == root ? "config from the root rank" : std::string(25, '?');
  g_det->broadcast_bytes(std::as_writable_bytes(std::span(s.data(), s.size())), root);
  EXPECT_EQ(s, "config from the root rank");
  EXPECT_THROW(g_det->broadcast(x, world), Error);
}

TEST(Mpi, HostSumIsRankOrdered) {
  const int world = g_det->size(), rank = g_det->rank();
  std::vector<double> d = {rank + 0.25, 1e16 * (rank % 2 ? -1 : 1), 1.0 / (rank + 3)};
  g_det->all_reduce_host(d);
  std::vector<double> want = {0.25, 1e16, 1.0 / 3};
  for (int r = 1; r < world; ++r) {
    want[0] += r + 0.25;
    want[1] += 1e16 * (r % 2 ? -1 : 1);
    want[2] += 1.0 / (r + 3);
  }
  EXPECT_EQ(d, want);
}

TEST(Mpi, BucketedAllReduceEqualsOneAllReduceBitwise) {
  const int rank = g_det->rank();
  const int64_t n = 300007;
  std::vector<Communicator*> comms = {g_det};
  if (g_det->size() == 2) comms.push_back(g_native);  // two-operand sums are order-free
  for (Communicator* comm : comms) {
    auto whole = fill(rank, n, 90);
    comm->all_reduce(whole);
    for (double mb : {0.01, 0.1, 1.0, 64.0}) {
      auto bucketed = fill(rank, n, 90);
      bucketed_all_reduce(*comm, bucketed, mb);
      EXPECT_EQ(std::memcmp(bucketed.data(), whole.data(), whole.size() * 4), 0) << mb << " MB buckets";
    }
  }
}

TEST(Mpi, ZeroOneStepEqualsTheFullUpdate) {
  // Params identical on all ranks, per-rank grads; reduce-scatter (avg) into the own shard, SGD on
  // the shard, all-gather params: must equal the full update computed locally, bit for bit.
  const int world = g_det->size(), rank = g_det->rank();
  const int64_t numel = 1001;
  const ZeroShard s = zero_shard(numel, world, rank);
  std::vector<float> params(static_cast<size_t>(s.padded_numel), 0.f), grads(params.size(), 0.f);
  for (int64_t i = 0; i < numel; ++i) {
    params[static_cast<size_t>(i)] = contrib(99, i, 0);
    grads[static_cast<size_t>(i)] = contrib(rank, i, 100);
  }
  auto shard = [&](std::vector<float>& v) {
    return std::span(v).subspan(static_cast<size_t>(s.padded_begin()), static_cast<size_t>(s.shard_numel));
  };
  g_det->reduce_scatter(grads, shard(grads), ReduceOp::avg);
  for (int64_t i = s.begin; i < s.end; ++i) params[static_cast<size_t>(i)] -= 0.1f * grads[static_cast<size_t>(i)];
  g_det->all_gather(shard(params), params);
  for (int64_t i = 0; i < s.padded_numel; ++i) {
    const float want =
        i < numel ? contrib(99, i, 0) - 0.1f * (ordered_sum(world, i, 100) / static_cast<float>(world)) : 0.f;
    ASSERT_EQ(params[static_cast<size_t>(i)], want) << "element " << i;
  }
}

// NCCL on device buffers against the MPI communicator on the same host data (ctest label `gpu`,
// `mpi_nccl_np2`; docs/distributed.md "Tests"). Skipped, never passed, without an NCCL build or
// with fewer GPUs than ranks (NCCL needs one GPU per rank). The MPI side is the rank-ordered
// reduction; NCCL's order is its own, so reductions are compared within the summation bound
// (and to the MPI result within twice that), copies bit for bit.
// Elements where two results (got, want: elements first, first + 1, ... of the reduction) differ
// by more than twice the summation bound: each is within the bound of the exact sum.
int64_t beyond_twice_the_bound(const std::vector<float>& got, const std::vector<float>& want, int64_t first,
                               int world, uint64_t step, float scale) {
  const double eps = std::numeric_limits<float>::epsilon() / 2;
  int64_t k = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double abs_sum = 0;
    for (int r = 0; r < world; ++r) abs_sum += std::fabs(contrib(r, first + static_cast<int64_t>(i), step));
    k += std::fabs(got[i] - want[i]) > 2 * (world + 1) * eps * abs_sum * scale + 1e-30;
  }
  return k;
}

class Nccl : public testing::Test {
 protected:
  void SetUp() override {
    if (!nccl_built() || dist_cuda_device_count() < g_det->size())
      GTEST_SKIP() << "needs an NCCL build and one GPU per rank (" << dist_cuda_device_count() << " visible)";
  }
  static Communicator& nccl() {
    static std::unique_ptr<Communicator> c = make_communicator({.backend = Backend::nccl, .timeout_s = 60}, Device::cuda);
    return *c;
  }
  static std::vector<float> download(const CommBuffer& b) {
    std::vector<float> h(static_cast<size_t>(b.size()));
    b.download(h);
    return h;
  }
};

TEST_F(Nccl, AllReduceMatchesMpi) {
  const int world = g_det->size(), rank = g_det->rank();
  const int64_t n = (1 << 20) + 3;
  for (const ReduceOp op : {ReduceOp::sum, ReduceOp::avg}) {
    const float scale = op == ReduceOp::avg ? 1.f / static_cast<float>(world) : 1.f;
    auto host = fill(rank, n, 110);
    CommBuffer buf(Device::cuda, n);
    buf.upload(host);
    nccl().all_reduce(buf.span(), op);
    nccl().synchronize();
    const std::vector<float> got = download(buf);
    g_det->all_reduce(host, op);
    for (int64_t i = 0; i < n; ++i) expect_within_bound(got[static_cast<size_t>(i)], world, i, 110, scale);
    const int64_t bad = beyond_twice_the_bound(got, host, 0, world, 110, scale);
    EXPECT_EQ(bad, 0) << "elements where NCCL and MPI differ beyond the summation bound";
  }
}

TEST_F(Nccl, ReduceScatterMatchesMpi) {
  const int world = g_det->size(), rank = g_det->rank();
  const int64_t c = 100003, n = c * world;
  for (const ReduceOp op : {ReduceOp::sum, ReduceOp::avg}) {
    const float scale = op == ReduceOp::avg ? 1.f / static_cast<float>(world) : 1.f;
    const auto host = fill(rank, n, 111);
    CommBuffer send(Device::cuda, n), recv(Device::cuda, c);
    send.upload(host);
    nccl().reduce_scatter(send.span(), recv.span(), op);
    nccl().synchronize();
    const std::vector<float> got = download(recv);
    std::vector<float> want(static_cast<size_t>(c));
    g_det->reduce_scatter(host, want, op);
    for (int64_t k = 0; k < c; ++k) expect_within_bound(got[static_cast<size_t>(k)], world, rank * c + k, 111, scale);
    const int64_t far = beyond_twice_the_bound(got, want, rank * c, world, 111, scale);
    EXPECT_EQ(far, 0) << "reduce_scatter: NCCL vs MPI beyond twice the summation bound";
  }
}

TEST_F(Nccl, AllGatherAndBroadcastMatchMpiBitwise) {
  const int world = g_det->size(), rank = g_det->rank();
  const int64_t c = 65537;
  const auto mine = fill(rank, c, 112);
  CommBuffer send(Device::cuda, c), recv(Device::cuda, c * world);
  send.upload(mine);
  nccl().all_gather(send.span(), recv.span());
  nccl().synchronize();
  std::vector<float> want(static_cast<size_t>(c * world));
  g_det->all_gather(mine, want);
  EXPECT_EQ(download(recv), want) << "all_gather";

  auto host = fill(rank, c, 113);
  CommBuffer b(Device::cuda, c);
  b.upload(host);
  nccl().broadcast(b.span(), world - 1);
  nccl().synchronize();
  g_det->broadcast(host, world - 1);
  EXPECT_EQ(download(b), host) << "broadcast from the last rank";
}

// Rank 0 prints GoogleTest's usual report; other ranks print only their failures, prefixed.
class RankFailurePrinter : public testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const testing::TestPartResult& r) override {
    if (r.failed()) std::fprintf(stderr, "[rank %d] %s:%d: %s\n", rank_, r.file_name(), r.line_number(), r.summary());
  }

 private:
  int rank_;
};

}  // namespace
}  // namespace goat

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  auto det = goat::make_communicator({.backend = goat::Backend::mpi, .timeout_s = 30, .deterministic = true});
  auto native = goat::make_communicator({.backend = goat::Backend::mpi, .timeout_s = 30, .deterministic = false});
  goat::g_det = det.get();
  goat::g_native = native.get();
  if (det->rank() != 0) {
    auto& listeners = testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new goat::RankFailurePrinter(det->rank()));
  }
  return RUN_ALL_TESTS();
}
