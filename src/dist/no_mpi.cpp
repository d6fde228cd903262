// Stub for builds without MPI: `goatlm info` says so; asking for dist.backend=mpi is an error.
#include "core/device_info.h"
#include "dist/backends.h"

namespace goat {

std::string mpi_status() { return "not built"; }

bool mpi_built() { return false; }

std::unique_ptr<Communicator> detail::make_mpi_communicator(const DistOptions&, Device) {
  fail("dist.backend", "mpi: this build has no MPI (install libopenmpi-dev openmpi-bin and reconfigure)");
}

}  // namespace goat
