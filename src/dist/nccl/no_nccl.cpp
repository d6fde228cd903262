// Stub for builds without NCCL (or without CUDA or MPI): dist.backend=nccl is an error naming
// what is missing, and there is no device memory to hand out.
#include "dist/backends.h"
#include "dist/comm_buffer.h"

namespace goat {

bool nccl_built() { return false; }
int dist_cuda_device_count() { return 0; }

std::unique_ptr<Communicator> detail::make_nccl_communicator(const DistOptions&) {
  fail("dist.backend", "nccl: this build has no NCCL (needs the CUDA toolkit with nccl.h and libnccl, plus MPI)");
}

float* detail::cuda_alloc_floats(int64_t n) {
  fail("comm_buffer", "device cuda buffer of {} floats: this build has no CUDA/NCCL", n);
}
void detail::cuda_free(float*) {}
void detail::cuda_copy(void*, const void*, int64_t) { fail("comm_buffer", "this build has no CUDA/NCCL"); }

}  // namespace goat
