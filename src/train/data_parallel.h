// Data-parallel training: what the trainer does differently on N ranks (docs/distributed.md).
//
// Every rank holds the whole model and takes rows [r·B/N, (r+1)·B/N) of each global micro-batch
// of B = train.batch_size rows (the loader keys draws by global sample index, so the global batch
// is the same for any N). After the backward pass the gradients are averaged over ranks:
//   dist.zero = 0  one bucketed all-reduce (avg) over the gradient arena; every rank then clips
//                  with the same global norm and takes the same AdamW step on all parameters.
//   dist.zero = 1  ZeRO-1: a reduce-scatter (avg) leaves each rank the averaged gradients of its
//                  shard [begin, end) of the flat arena (dist/zero_shard.h); the global norm is
//                  the f64 sum of the shards' squares over ranks; each rank runs AdamW on its
//                  shard only (it holds only that shard's moments); an all-gather then gives
//                  every rank all updated parameters.
// With the MPI backend's rank-ordered reductions both give bitwise identical parameters on
// every rank, and ZeRO-1 equals plain data parallel bitwise (AdamW is elementwise). On one rank
// (local backend) every collective is the identity, so the trainer is the single-process one.
//
// Only rank 0 logs at info level and writes files; on other ranks spdlog is set to warn.
// Fault injection for tests: GOATLM_DIST_FAULT=RANK:STEP makes rank RANK _exit(3) in step STEP
// (1-based) after its backward pass, while the others wait in the gradient all-reduce.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "config/config.h"
#include "core/arena.h"
#include "data/loader.h"
#include "dist/communicator.h"
#include "dist/zero_shard.h"

namespace goat {

class DataParallel {
 public:
  // Creates the communicator for cfg.dist on cfg.device and checks that the world size divides
  // train.batch_size. On ranks other than 0, lowers the log level to warn.
  explicit DataParallel(const Config& cfg);

  Communicator& comm() { return *comm_; }
  int rank() const { return comm_->rank(); }
  int world() const { return comm_->size(); }
  bool is_root() const { return comm_->is_root(); }
  bool zero() const { return zero_; }

  // This rank's rows of a global micro-batch of global_batch rows, and their count.
  data::RowSlice rows(int64_t global_batch) const;
  int64_t local_batch(int64_t global_batch) const;

  // The elements of the flat parameter arena whose optimizer state this rank owns: all of them
  // without ZeRO, the rank's shard with it.
  int64_t owned_begin(int64_t numel) const;
  int64_t owned_end(int64_t numel) const;

  // Rank 0's parameters on every rank (a guard after a seeded init or a resume).
  void broadcast_params(const Arena& params);
  // Averages the gradients over ranks: all of them (plain), or the owned shard (ZeRO-1; the rest
  // of the arena is left as it was).
  void reduce_gradients(const Arena& grads);
  // Global L2 norm of the averaged gradients (after reduce_gradients).
  double grad_norm(const Arena& grads);
  // ZeRO-1: every rank's updated shard to every rank (after the optimizer step); no-op otherwise.
  void gather_params(const Arena& params);
  // ZeRO-1: every rank's owned slice `shard` (elements [begin, end) of the flat arena, as
  // owned_begin/owned_end give them) assembled into `full` (parameter layout) on every rank, for a
  // checkpoint in the world-size-independent layout; without ZeRO, a copy. Collective.
  void gather_shards(const Arena& shard, const Arena& full);
  // Mean over ranks of a per-rank value (the mean loss of equal-sized slices = the global mean).
  double mean(double local);

  // GOATLM_DIST_FAULT: exits this rank if it is the one named for this step (1-based).
  void maybe_inject_fault(int64_t step) const;
  // Runs fn; on an exception with several ranks, ends the whole job (Communicator::abort_job)
  // so the others do not wait for this rank until the timeout.
  void run_or_abort(const std::function<void()>& fn);

 private:
  // ZeRO-1: own (the rank's shard_size elements) to every rank, full (numel) on every rank.
  void all_gather_owned(const float* own, int64_t numel, float* full);

  std::unique_ptr<Communicator> comm_;
  bool zero_ = false;
  double bucket_mb_ = 25;
  std::vector<float> padded_;  // ZeRO-1: padded_numel scratch for reduce-scatter and all-gather
  int fault_rank_ = -1;
  int64_t fault_step_ = -1;
};

}  // namespace goat
