// MPI communicator over CPU memory (Open MPI). Its own duplicate of MPI_COMM_WORLD with
// MPI_ERRORS_RETURN, so a failed call becomes a goat::Error naming the collective and the rank,
// and a Watchdog, so a collective stuck on a dead or stalled peer ends the job after
// dist.timeout_s instead of hanging. The NCCL communicator uses one for bootstrap and host data.
#pragma once

#include <mpi.h>

#include <vector>

#include "dist/communicator.h"
#include "dist/watchdog.h"

namespace goat {

// Initialises MPI once per process (MPI_THREAD_SERIALIZED) and registers MPI_Finalize at exit,
// itself under a watchdog of timeout_s. Safe to call repeatedly.
void mpi_runtime_acquire(double timeout_s);

class MpiCommunicator final : public Communicator {
 public:
  // memory: Device::cpu, or Device::cuda under the host SIMT emulation (its device memory is host
  // memory, so the same MPI calls serve it; make_communicator allows that only in EMU builds).
  explicit MpiCommunicator(const DistOptions& opts, Device memory = Device::cpu);
  // The duplicated communicator is left to MPI_Finalize: MPI_Comm_free could wait on a dead peer.
  ~MpiCommunicator() override = default;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  Device device() const override { return memory_; }
  Backend backend() const override { return Backend::mpi; }

  void all_reduce(std::span<float> data, ReduceOp op = ReduceOp::sum) override;
  void reduce_scatter(std::span<const float> send, std::span<float> recv, ReduceOp op = ReduceOp::sum) override;
  void all_gather(std::span<const float> send, std::span<float> recv) override;
  void broadcast(std::span<float> data, int root = 0) override;
  void broadcast_bytes(std::span<std::byte> data, int root = 0) override;
  void all_reduce_host(std::span<double> data) override;
  void barrier() override;
  [[noreturn]] void abort_job(const std::string& message, int code) override;

  MPI_Comm comm() const { return comm_; }
  bool deterministic() const { return deterministic_; }
  Watchdog& watchdog() { return watchdog_; }

 private:
  void check(int rc, const char* op) const;
  void check_root(int root, const char* op) const;
  // One window of a rank-ordered all-reduce: data (n <= kWindow) in place.
  void ordered_all_reduce_window(float* data, int64_t n, ReduceOp op);

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  bool deterministic_ = true;
  Device memory_ = Device::cpu;
  Watchdog watchdog_;
  std::vector<float> scratch_;
  std::vector<int> counts_, displs_, rcounts_, rdispls_;
};

}  // namespace goat
