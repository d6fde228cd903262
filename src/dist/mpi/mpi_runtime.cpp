// MPI process runtime: one MPI_Init_thread per process, MPI_Finalize at exit under a watchdog
// (a peer stuck in a collective would otherwise keep MPI_Finalize waiting forever), and the
// build/status queries used by `goatlm info` and make_communicator().
#include <mpi.h>

#include <cstdlib>
#include <mutex>
#include <string>

#include "core/device_info.h"
#include "dist/backends.h"
#include "dist/mpi/mpi_communicator.h"

namespace goat {

namespace {
double g_finalize_timeout_s = 300.0;

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  Watchdog watchdog("rank " + std::to_string(rank) + "/" + std::to_string(size), g_finalize_timeout_s);
  auto scope = watchdog.guard("MPI_Finalize", 0);
  MPI_Finalize();
}
}  // namespace

void mpi_runtime_acquire(double timeout_s) {
  static std::once_flag once;
  std::call_once(once, [timeout_s] {
    g_finalize_timeout_s = timeout_s;
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized) return;  // someone else owns init and finalize
    int provided = 0;
    const int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
    GOAT_CHECK(rc == MPI_SUCCESS, "dist.mpi", "MPI_Init_thread failed with code {}", rc);
    std::atexit(finalize_at_exit);
  });
}

bool mpi_built() { return true; }

std::string mpi_status() {
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(version, &len);
  std::string v(version, static_cast<size_t>(len));
  if (const auto comma = v.find(','); comma != std::string::npos) v.resize(comma);
  while (!v.empty() && (v.back() == '\n' || v.back() == ' ' || v.back() == '\0')) v.pop_back();
  const int launched = launched_world_size();
  return "built with " + v +
         (launched > 1 ? ", launched as " + std::to_string(launched) + " ranks" : ", not launched") +
         (nccl_built() ? "; NCCL communicator built" : "; no NCCL");
}

std::unique_ptr<Communicator> detail::make_mpi_communicator(const DistOptions& opts, Device device) {
  return std::make_unique<MpiCommunicator>(opts, device);
}

}  // namespace goat
