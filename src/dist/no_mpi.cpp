// Stub for builds without MPI: `goatlm info` says so; asking for dist.backend=mpi is an error.
#include "core/device_info.h"

namespace goat {

std::string mpi_status() { return "not built"; }

}  // namespace goat
