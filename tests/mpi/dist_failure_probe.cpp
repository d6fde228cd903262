// Failure probe for test_mpi_failure: every rank all-reduces for 5 steps; at step 2 the last
// rank misbehaves according to MODE, while the others are already waiting in the all-reduce:
//   exit      _exit(3) without MPI_Finalize (a crash): mpirun stops the others with SIGTERM
//   stall     sleeps (a hang): the others' watchdogs fire after TIMEOUT_S
//   finalize  returns from main normally (MPI_Finalize): the others' watchdogs fire
//   throw     a goat::Error, turned into Communicator::abort_job (MPI_Abort)
// Usage: dist_failure_probe MODE TIMEOUT_S
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "dist/communicator.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: dist_failure_probe exit|stall|finalize|throw TIMEOUT_S\n");
    return 2;
  }
  const std::string mode = argv[1];
  auto comm = goat::make_communicator({.backend = goat::Backend::mpi, .timeout_s = std::atof(argv[2])});
  const int victim = comm->size() - 1;
  std::vector<float> x(1000, 1.f);
  try {
    for (int step = 0; step < 5; ++step) {
      if (step == 2 && comm->rank() == victim) {
        std::fprintf(stderr, "[probe] rank %d leaves at step 2 (%s)\n", comm->rank(), mode.c_str());
        std::fflush(stderr);
        if (mode == "exit") _exit(3);
        if (mode == "stall") sleep(600);
        if (mode == "finalize") return 0;
        if (mode == "throw") throw goat::Error("[probe] a data error on this rank");
      }
      comm->all_reduce(x);
    }
  } catch (const goat::Error& e) {
    comm->abort_job(e.what(), 1);
  }
  std::printf("[probe] rank %d finished\n", comm->rank());
  return 0;
}
