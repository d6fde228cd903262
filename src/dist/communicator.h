// Communicator: the one seam between training code and the collectives that join ranks.
// Three implementations, chosen at run time by make_communicator() and at link time by CMake:
//   local  world size 1, always built (collectives are identities),
//   mpi    Open MPI over CPU memory (built when MPI is found),
//   nccl   NCCL over GPU memory, its unique id broadcast over MPI (built with CUDA + NCCL + MPI).
// Float collectives take spans in the communicator's device() memory (host for local/mpi,
// device pointers for nccl); byte broadcasts and f64 sums are always host memory (configs, RNG
// state, loss and token counts). Collectives are blocking on CPU backends; on NCCL they are
// enqueued on the communicator's stream and complete at synchronize().
//
// Determinism: the MPI backend by default sums contributions in rank order 0, 1, ..., n-1 for
// every element (alltoall + ordered sum + allgather), so results do not depend on message size,
// bucketing or the MPI library's algorithm choice, and every rank holds identical bits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/tensor.h"

namespace goat {

enum class Backend : uint8_t { automatic, local, mpi, nccl };
enum class ReduceOp : uint8_t { sum, avg };  // avg = sum / world size

// "auto" | "local" | "mpi" | "nccl" (throws naming the bad value).
Backend parse_backend(const std::string& s);
const char* backend_name(Backend b);

// The `dist.*` settings that the communicator itself uses.
struct DistOptions {
  Backend backend = Backend::automatic;
  // A collective (or MPI_Finalize) that has not completed after timeout_s seconds aborts the
  // process with a message naming the collective and the rank; <= 0 disables the watchdog.
  double timeout_s = 300.0;
  // MPI only: true = rank-ordered sums (bitwise reproducible); false = MPI_Allreduce's own order.
  bool deterministic = true;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual Device device() const = 0;
  virtual Backend backend() const = 0;
  bool is_root() const { return rank() == 0; }

  // In place: data (n) on every rank becomes the elementwise sum (or average) over ranks.
  virtual void all_reduce(std::span<float> data, ReduceOp op = ReduceOp::sum) = 0;
  void all_reduce_avg(std::span<float> data) { all_reduce(data, ReduceOp::avg); }

  // send (size() * c) on every rank; recv (c) on rank r = reduction of send[r*c, (r+1)*c) over
  // ranks. recv may alias send's own chunk (send.data() + rank()*c): the in-place ZeRO form.
  virtual void reduce_scatter(std::span<const float> send, std::span<float> recv, ReduceOp op = ReduceOp::sum) = 0;

  // send (c) from every rank; recv (size() * c) = concatenation in rank order. send may alias
  // recv's own chunk (recv.data() + rank()*c): the in-place ZeRO form.
  virtual void all_gather(std::span<const float> send, std::span<float> recv) = 0;

  // In place: every rank's data becomes root's.
  virtual void broadcast(std::span<float> data, int root = 0) = 0;
  // Host bytes on every backend (configs, RNG and loader state).
  virtual void broadcast_bytes(std::span<std::byte> data, int root = 0) = 0;
  // Host f64 sum on every backend (loss, token counts, grad-norm partials); in place.
  virtual void all_reduce_host(std::span<double> data) = 0;

  virtual void barrier() = 0;
  // Waits until every enqueued collective has completed (no-op on CPU backends).
  virtual void synchronize() {}
  // NCCL: the cudaStream_t that collectives are enqueued on (nullptr = legacy default stream).
  virtual void set_stream(void* /*stream*/) {}

  // Ends the whole job now: message on stderr, then MPI_Abort (or exit for local).
  [[noreturn]] virtual void abort_job(const std::string& message, int code) = 0;
};

// Builds the communicator for dist.backend on `device`:
//   automatic: local when not launched as several ranks (launched_world_size() == 1); under
//              mpirun/srun nccl for Device::cuda and mpi for Device::cpu (an error if not built).
//   local:     world size 1 (an error under a launcher that started several ranks).
//   mpi, nccl: an error naming the missing library in a build without it.
std::unique_ptr<Communicator> make_communicator(const DistOptions& opts, Device device = Device::cpu);

// World size announced by the launcher's environment: OMPI_COMM_WORLD_SIZE (Open MPI mpirun),
// PMI_SIZE (MPICH/Hydra, Slurm PMI), SLURM_STEP_NUM_TASKS (srun); 1 when not launched by one.
int launched_world_size();

// Which backends this binary was built with.
bool mpi_built();
bool nccl_built();

}  // namespace goat
