// make_communicator(): resolves dist.backend = auto|local|mpi|nccl against the device and the
// launcher's environment, then calls the implementation the build linked (see backends.h).
#include "dist/communicator.h"

#include <cstdlib>
#include <string>

#include "backend/cuda/cuda_ops.h"
#include "dist/backends.h"

namespace goat {

Backend parse_backend(const std::string& s) {
  if (s == "auto") return Backend::automatic;
  if (s == "local") return Backend::local;
  if (s == "mpi") return Backend::mpi;
  if (s == "nccl") return Backend::nccl;
  fail("dist.backend", "expected auto, local, mpi or nccl, got '{}'", s);
}

const char* backend_name(Backend b) {
  switch (b) {
    case Backend::automatic:
      return "auto";
    case Backend::local:
      return "local";
    case Backend::mpi:
      return "mpi";
    case Backend::nccl:
      return "nccl";
  }
  return "?";
}

namespace {
int env_int(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return 0;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  GOAT_CHECK(end != v && *end == '\0' && x > 0 && x < (1L << 30), "dist", "environment {}='{}' is not a world size",
             name, v);
  return static_cast<int>(x);
}
}  // namespace

int launched_world_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"}) {
    if (const int n = env_int(name); n > 0) return n;
  }
  return 1;
}

std::unique_ptr<Communicator> make_communicator(const DistOptions& opts, Device device) {
  Backend b = opts.backend;
  const int launched = launched_world_size();
  if (b == Backend::automatic) {
    // One process needs no library: local (in-place collectives work on any device).
    if (launched <= 1) {
      b = Backend::local;
    } else if (device == Device::cuda && !nccl_built() && cuda::emulated()) {
      b = Backend::mpi;  // the emulated device's memory is host memory
    } else if (device == Device::cuda) {
      GOAT_CHECK(nccl_built(), "dist.backend", "auto: {} ranks on device cuda need NCCL, and this build has none",
                 launched);
      b = Backend::nccl;
    } else {
      GOAT_CHECK(mpi_built(), "dist.backend",
                 "auto: launched as {} ranks but this build has no MPI (install libopenmpi-dev and reconfigure)",
                 launched);
      b = Backend::mpi;
    }
  }
  switch (b) {
    case Backend::local:
      GOAT_CHECK(launched <= 1, "dist.backend",
                 "local runs one rank, but the launcher started {}; use dist.backend=auto or mpi", launched);
      return detail::make_local_communicator(device);
    case Backend::mpi:
      GOAT_CHECK(device == Device::cpu || cuda::emulated(), "dist.backend",
                 "mpi carries CPU tensors only; device cuda needs nccl (mpi serves cuda only in the GOATLM_CUDA=EMU "
                 "build, whose device memory is host memory)");
      return detail::make_mpi_communicator(opts, device);
    case Backend::nccl:
      GOAT_CHECK(device == Device::cuda, "dist.backend", "nccl carries GPU tensors only; device cpu needs mpi");
      return detail::make_nccl_communicator(opts);
    case Backend::automatic:
      break;
  }
  fail("dist.backend", "unresolved backend");
}

}  // namespace goat
