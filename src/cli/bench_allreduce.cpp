// `goatlm bench allreduce`: all-reduce time and bandwidth per message size for the active
// communicator, with nccl-tests' definitions: algbw = bytes / time, busbw = algbw · 2(n-1)/n
// (the per-link traffic of a ring all-reduce, comparable across rank counts). Time per size is
// the slowest rank's mean over the iterations. On the MPI backend the rank-ordered
// (deterministic) all-reduce and MPI_Allreduce's own are printed side by side.
// Launch under mpirun/srun, e.g. `mpirun -np 2 goatlm bench allreduce`; only rank 0 prints.
// --device auto (default) measures NCCL on GPU buffers when the build has NCCL and a GPU is
// visible, else MPI on host buffers.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "dist/comm_buffer.h"
#include "dist/communicator.h"

namespace goat::cli {

namespace {

struct AllreduceArgs {
  std::string backend = "auto";
  std::string device = "auto";
  int64_t min_bytes = 1024;
  int64_t max_bytes = 64LL << 20;
  int warmup = 2;
  double timeout_s = 300;
};

// Seconds per all-reduce of `buf`, the maximum over ranks of each rank's mean.
double time_allreduce(Communicator& comm, std::span<float> data, int warmup, int iters) {
  for (int i = 0; i < warmup; ++i) comm.all_reduce(data);
  comm.synchronize();
  comm.barrier();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) comm.all_reduce(data);
  comm.synchronize();
  const double mine = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
  std::vector<double> all(static_cast<size_t>(comm.size()), 0.0);
  all[static_cast<size_t>(comm.rank())] = mine;
  comm.all_reduce_host(all);
  return *std::max_element(all.begin(), all.end());
}

std::string human_bytes(int64_t b) {
  if (b >= (1LL << 20)) return fmt::format("{}M", b >> 20);
  if (b >= (1LL << 10)) return fmt::format("{}K", b >> 10);
  return fmt::format("{}", b);
}

void run(AllreduceArgs a) {
  GOAT_CHECK(a.device == "auto" || a.device == "cpu" || a.device == "cuda", "bench allreduce",
             "--device must be auto, cpu or cuda, got '{}'", a.device);
  if (a.device == "auto") a.device = nccl_built() && dist_cuda_device_count() > 0 ? "cuda" : "cpu";
  GOAT_CHECK(a.min_bytes >= 4 && a.min_bytes <= a.max_bytes, "bench allreduce",
             "need 4 <= --min-bytes <= --max-bytes, got {} and {}", a.min_bytes, a.max_bytes);
  const Device device = a.device == "cuda" ? Device::cuda : Device::cpu;
  DistOptions opts{.backend = parse_backend(a.backend), .timeout_s = a.timeout_s, .deterministic = true};
  std::vector<std::unique_ptr<Communicator>> comms;
  comms.push_back(make_communicator(opts, device));
  if (comms[0]->backend() == Backend::mpi) {
    opts.deterministic = false;
    comms.push_back(make_communicator(opts, device));
  }
  Communicator& comm = *comms[0];
  const int n = comm.size();
  const double bus_factor = 2.0 * (n - 1) / n;
  const bool root = comm.is_root();
  if (root) {
    fmt::print("all-reduce (f32 sum): backend {}, {} ranks, device {}; busbw = algbw * 2(n-1)/n\n",
               backend_name(comm.backend()), n, a.device);
    std::string head = fmt::format("{:>8} {:>10} {:>6}", "bytes", "count", "iters");
    const std::vector<std::string> names = comms.size() == 2 ? std::vector<std::string>{"ordered", "native"}
                                                             : std::vector<std::string>{backend_name(comm.backend())};
    for (const auto& name : names)
      head += fmt::format(" | {:>12} {:>11} {:>11}", name + " us", "algbw GB/s", "busbw GB/s");
    fmt::print("{}\n", head);
  }
  CommBuffer buf(device, a.max_bytes / 4);  // zeros: sums stay 0 (no overflow, no denormals)
  for (int64_t bytes = a.min_bytes; bytes <= a.max_bytes; bytes *= 4) {
    const int64_t count = bytes / 4;
    const int iters = static_cast<int>(std::clamp<int64_t>((256LL << 20) / bytes, 5, 1000));
    std::string line = fmt::format("{:>8} {:>10} {:>6}", human_bytes(bytes), count, iters);
    for (auto& c : comms) {
      // A prefix of one buffer: the same memory for every size.
      const double sec = time_allreduce(*c, buf.span().first(static_cast<size_t>(count)), a.warmup, iters);
      const double algbw = static_cast<double>(bytes) / sec * 1e-9;
      line += fmt::format(" | {:>12.1f} {:>11.2f} {:>11.2f}", sec * 1e6, algbw, algbw * bus_factor);
    }
    if (root) fmt::print("{}\n", line);
  }
}

}  // namespace

void register_bench_allreduce(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("allreduce", "All-reduce bus bandwidth per message size (run under mpirun/srun)");
  static AllreduceArgs args;
  cmd->add_option("--backend", args.backend, "auto, local, mpi or nccl")->capture_default_str();
  cmd->add_option("--device", args.device, "auto (cuda with NCCL when a GPU is visible, else cpu), cpu or cuda")
      ->capture_default_str();
  cmd->add_option("--min-bytes", args.min_bytes, "smallest message (sizes grow by 4x)")->capture_default_str();
  cmd->add_option("--max-bytes", args.max_bytes, "largest message")->capture_default_str();
  cmd->add_option("--warmup", args.warmup, "untimed iterations per size")->capture_default_str();
  cmd->add_option("--timeout", args.timeout_s, "dist.timeout_s for the collectives")->capture_default_str();
  cmd->callback([] { run(args); });
}

}  // namespace goat::cli
