// One-line status of the optional runtimes (CUDA, MPI) for `goatlm info`. Implemented by the
// backend/dist parts that the build links (real, emulated or a stub that says it is missing).
#pragma once

#include <string>

namespace goat {

std::string cuda_status();  // e.g. "built with CUDA 13.0, no device: driver insufficient"
std::string mpi_status();   // e.g. "built with Open MPI 4.1.4" or "not built"

}  // namespace goat
