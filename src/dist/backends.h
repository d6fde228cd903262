// Link-time seam behind make_communicator(): each constructor is defined by the implementation
// the build links (mpi/ or no_mpi.cpp, nccl/ or nccl/no_nccl.cpp). Stubs throw goat::Error
// naming the missing library, so asking for a backend the build lacks is never a silent fallback.
#pragma once

#include <memory>

#include "dist/communicator.h"

namespace goat::detail {

std::unique_ptr<Communicator> make_local_communicator(Device device);
// device: the memory the float collectives carry: cpu, or cuda only under the host emulation
// (GOATLM_CUDA=EMU), whose device memory is host memory.
std::unique_ptr<Communicator> make_mpi_communicator(const DistOptions& opts, Device device);
std::unique_ptr<Communicator> make_nccl_communicator(const DistOptions& opts);

}  // namespace goat::detail
