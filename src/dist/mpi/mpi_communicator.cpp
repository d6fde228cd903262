// MPI collectives over CPU memory. The default (deterministic) all-reduce is a reduce-scatter
// by MPI_Alltoallv, a sum of the contributions in rank order 0..n-1, and an MPI_Allgatherv:
// the same bytes on the wire as a ring all-reduce (2 (n-1)/n of the message per rank), but the
// per-element summation order is fixed, so results are independent of message size, bucketing
// and MPI's algorithm choice, and equal a local loop over ranks bit for bit. Large messages go in
// windows of kWindow elements, which bounds the scratch memory and keeps MPI's int counts valid.
#include "dist/mpi/mpi_communicator.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <string>

#include "dist/zero_shard.h"

namespace goat {

namespace {
constexpr int64_t kWindow = int64_t{1} << 24;  // elements per window (64 MiB of f32)

MPI_Comm dup_world(const DistOptions& opts) {
  mpi_runtime_acquire(opts.timeout_s);
  MPI_Comm comm = MPI_COMM_NULL;
  GOAT_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm) == MPI_SUCCESS, "dist.mpi", "MPI_Comm_dup failed");
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  return comm;
}
int comm_rank(MPI_Comm c) {
  int r = 0;
  MPI_Comm_rank(c, &r);
  return r;
}
int comm_size(MPI_Comm c) {
  int s = 0;
  MPI_Comm_size(c, &s);
  return s;
}
int to_int(int64_t x, const char* op) {
  GOAT_CHECK(x >= 0 && x <= INT_MAX, op, "count {} exceeds MPI's int range; split the buffer", x);
  return static_cast<int>(x);
}
}  // namespace

MpiCommunicator::MpiCommunicator(const DistOptions& opts, Device memory)
    : comm_(dup_world(opts)),
      rank_(comm_rank(comm_)),
      size_(comm_size(comm_)),
      deterministic_(opts.deterministic),
      memory_(memory),
      watchdog_("rank " + std::to_string(rank_) + "/" + std::to_string(size_), opts.timeout_s) {
  watchdog_.install_termination_handler();
}

void MpiCommunicator::check(int rc, const char* op) const {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  fail("dist.mpi", "rank {}/{}: {} failed: {}", rank_, size_, op, std::string(msg, static_cast<size_t>(len)));
}

void MpiCommunicator::check_root(int root, const char* op) const {
  GOAT_CHECK(root >= 0 && root < size_, op, "root {} out of range for world size {}", root, size_);
}

void MpiCommunicator::ordered_all_reduce_window(float* data, int64_t n, ReduceOp op) {
  counts_.resize(static_cast<size_t>(size_));
  displs_.resize(static_cast<size_t>(size_));
  rcounts_.resize(static_cast<size_t>(size_));
  rdispls_.resize(static_cast<size_t>(size_));
  for (int j = 0; j < size_; ++j) {
    displs_[j] = static_cast<int>(split_begin(n, size_, j));
    counts_[j] = static_cast<int>(split_begin(n, size_, j + 1)) - displs_[j];
  }
  const int mine = counts_[rank_];
  for (int i = 0; i < size_; ++i) {
    rcounts_[i] = mine;
    rdispls_[i] = i * mine;
  }
  scratch_.resize(static_cast<size_t>(mine) * size_);
  // Rank j receives every rank's copy of part j: scratch = (size, mine), row i from rank i.
  check(MPI_Alltoallv(data, counts_.data(), displs_.data(), MPI_FLOAT, scratch_.data(), rcounts_.data(),
                      rdispls_.data(), MPI_FLOAT, comm_),
        "all_reduce (alltoallv)");
  float* out = data + displs_[rank_];
  const float n_ranks = static_cast<float>(size_);
  for (int k = 0; k < mine; ++k) {
    float s = scratch_[static_cast<size_t>(k)];
    for (int i = 1; i < size_; ++i) s += scratch_[static_cast<size_t>(i) * mine + k];
    out[k] = op == ReduceOp::avg ? s / n_ranks : s;
  }
  check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data, counts_.data(), displs_.data(), MPI_FLOAT, comm_),
        "all_reduce (allgatherv)");
}

void MpiCommunicator::all_reduce(std::span<float> data, ReduceOp op) {
  const auto n = static_cast<int64_t>(data.size());
  auto scope = watchdog_.guard("all_reduce", n);
  if (size_ == 1 || n == 0) return;
  for (int64_t off = 0; off < n; off += kWindow) {
    const int64_t len = std::min(kWindow, n - off);
    if (deterministic_) {
      ordered_all_reduce_window(data.data() + off, len, op);
      continue;
    }
    check(MPI_Allreduce(MPI_IN_PLACE, data.data() + off, static_cast<int>(len), MPI_FLOAT, MPI_SUM, comm_),
          "all_reduce");
    if (op == ReduceOp::avg) {
      const float n_ranks = static_cast<float>(size_);
      for (int64_t k = off; k < off + len; ++k) data[static_cast<size_t>(k)] /= n_ranks;
    }
  }
}

void MpiCommunicator::reduce_scatter(std::span<const float> send, std::span<float> recv, ReduceOp op) {
  const auto c = static_cast<int64_t>(recv.size());
  GOAT_CHECK(static_cast<int64_t>(send.size()) == c * size_, "reduce_scatter",
             "rank {}/{}: send has {} elements, expected world size x recv = {} x {}", rank_, size_, send.size(), size_,
             c);
  to_int(c * size_, "reduce_scatter");
  const bool in_place = recv.data() == send.data() + c * rank_;
  GOAT_CHECK(in_place || recv.data() + c <= send.data() || recv.data() >= send.data() + c * size_, "reduce_scatter",
             "recv overlaps send but is not this rank's chunk (in-place form)");
  auto scope = watchdog_.guard("reduce_scatter", c * size_);
  if (c == 0) return;
  if (size_ == 1) {
    if (!in_place) std::copy(send.begin(), send.end(), recv.begin());
    return;
  }
  const float n_ranks = static_cast<float>(size_);
  if (!deterministic_) {
    scratch_.resize(static_cast<size_t>(c));
    check(MPI_Reduce_scatter_block(send.data(), scratch_.data(), static_cast<int>(c), MPI_FLOAT, MPI_SUM, comm_),
          "reduce_scatter");
    for (int64_t k = 0; k < c; ++k) recv[k] = op == ReduceOp::avg ? scratch_[k] / n_ranks : scratch_[k];
    return;
  }
  counts_.assign(static_cast<size_t>(size_), 0);
  displs_.assign(static_cast<size_t>(size_), 0);
  rcounts_.assign(static_cast<size_t>(size_), 0);
  rdispls_.assign(static_cast<size_t>(size_), 0);
  for (int64_t off = 0; off < c; off += kWindow) {
    const int len = static_cast<int>(std::min(kWindow, c - off));
    for (int j = 0; j < size_; ++j) {
      counts_[j] = len;
      displs_[j] = static_cast<int>(j * c + off);
      rcounts_[j] = len;
      rdispls_[j] = j * len;
    }
    scratch_.resize(static_cast<size_t>(len) * size_);
    check(MPI_Alltoallv(send.data(), counts_.data(), displs_.data(), MPI_FLOAT, scratch_.data(), rcounts_.data(),
                        rdispls_.data(), MPI_FLOAT, comm_),
          "reduce_scatter (alltoallv)");
    for (int k = 0; k < len; ++k) {
      float s = scratch_[static_cast<size_t>(k)];
      for (int i = 1; i < size_; ++i) s += scratch_[static_cast<size_t>(i) * len + k];
      recv[static_cast<size_t>(off + k)] = op == ReduceOp::avg ? s / n_ranks : s;
    }
  }
}

void MpiCommunicator::all_gather(std::span<const float> send, std::span<float> recv) {
  const auto c = static_cast<int64_t>(send.size());
  GOAT_CHECK(static_cast<int64_t>(recv.size()) == c * size_, "all_gather",
             "rank {}/{}: recv has {} elements, expected world size x send = {} x {}", rank_, size_, recv.size(), size_,
             c);
  to_int(c * size_, "all_gather");
  const bool in_place = send.data() == recv.data() + c * rank_;
  GOAT_CHECK(in_place || send.data() + c <= recv.data() || send.data() >= recv.data() + c * size_, "all_gather",
             "send overlaps recv but is not this rank's chunk (in-place form)");
  auto scope = watchdog_.guard("all_gather", c * size_);
  if (c == 0) return;
  if (in_place) {
    check(MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, recv.data(), static_cast<int>(c), MPI_FLOAT, comm_),
          "all_gather");
  } else {
    check(
        MPI_Allgather(send.data(), static_cast<int>(c), MPI_FLOAT, recv.data(), static_cast<int>(c), MPI_FLOAT, comm_),
        "all_gather");
  }
}

void MpiCommunicator::broadcast(std::span<float> data, int root) {
  check_root(root, "broadcast");
  const auto n = static_cast<int64_t>(data.size());
  auto scope = watchdog_.guard("broadcast", n);
  for (int64_t off = 0; off < n; off += kWindow)
    check(MPI_Bcast(data.data() + off, static_cast<int>(std::min(kWindow, n - off)), MPI_FLOAT, root, comm_),
          "broadcast");
}

void MpiCommunicator::broadcast_bytes(std::span<std::byte> data, int root) {
  check_root(root, "broadcast_bytes");
  const auto n = static_cast<int64_t>(data.size());
  auto scope = watchdog_.guard("broadcast_bytes", n);
  for (int64_t off = 0; off < n; off += kWindow)
    check(MPI_Bcast(data.data() + off, static_cast<int>(std::min(kWindow, n - off)), MPI_BYTE, root, comm_),
          "broadcast_bytes");
}

void MpiCommunicator::all_reduce_host(std::span<double> data) {
  // Gather every rank's values and sum them in rank order: identical bits on every rank.
  const auto n = static_cast<int64_t>(data.size());
  auto scope = watchdog_.guard("all_reduce_host", n);
  if (n == 0 || size_ == 1) return;
  std::vector<double> all(static_cast<size_t>(n) * size_);
  check(MPI_Allgather(data.data(), to_int(n, "all_reduce_host"), MPI_DOUBLE, all.data(), static_cast<int>(n),
                      MPI_DOUBLE, comm_),
        "all_reduce_host");
  for (int64_t k = 0; k < n; ++k) {
    double s = all[static_cast<size_t>(k)];
    for (int i = 1; i < size_; ++i) s += all[static_cast<size_t>(i * n + k)];
    data[static_cast<size_t>(k)] = s;
  }
}

void MpiCommunicator::barrier() {
  auto scope = watchdog_.guard("barrier", 0);
  check(MPI_Barrier(comm_), "barrier");
}

void MpiCommunicator::abort_job(const std::string& message, int code) {
  std::fprintf(stderr, "[dist] rank %d/%d: aborting the job: %s\n", rank_, size_, message.c_str());
  std::fflush(stderr);
  MPI_Abort(comm_, code);
  std::_Exit(code);
}

}  // namespace goat
