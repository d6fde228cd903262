// Data-parallel training: what the trainer does differently on N ranks (docs/distributed.md).
//
// Every rank holds the whole model and takes rows [r·B/N, (r+1)·B/N) of each global micro-batch
// of B = train.batch_size rows (the loader keys draws by global sample index, so the global batch
// is the same for any N). The gradients are averaged over ranks:
//   dist.zero = 0  a bucketed all-reduce (avg) over the gradient arena, overlapped with the
//                  backward of the step's last micro-batch (train/overlapped_allreduce.h: each
//                  bucket is launched as soon as the backward has finished it, on CUDA on a
//                  second stream); every rank then clips with the same global norm and takes the
//                  same AdamW step on all parameters.
//   dist.zero = 1  ZeRO-1: after the backward a reduce-scatter (avg) leaves each rank the
//                  averaged gradients of its shard [begin, end) of the flat arena
//                  (dist/zero_shard.h); the global norm is the f64 sum of the shards' squares
//                  over ranks; each rank runs AdamW on its shard only (it holds only that
//                  shard's moments); an all-gather then gives every rank all updated parameters
//                  (and, for a bf16 model on CUDA, the bf16 working copy's bits).
// The collectives carry the model's memory: host arrays on the CPU, device memory on CUDA (NCCL;
// MPI on the emulated device, whose memory is host memory). On CUDA they run on a CommStream
// ordered against the compute stream by events.
// With the MPI backend's rank-ordered reductions both give bitwise identical parameters on
// every rank, and ZeRO-1 equals plain data parallel bitwise (AdamW is elementwise). On one rank
// (local backend) every collective is the identity, so the trainer is the single-process one.
//
// Only rank 0 logs at info level and writes files; on other ranks spdlog is set to warn.
// Fault injection for tests: GOATLM_DIST_FAULT=RANK:STEP makes rank RANK _exit(3) in step STEP
// (1-based) before the backward of its last micro-batch, while the others wait in the gradient
// all-reduce.
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
#include "model/gpt.h"
#include "train/comm_stream.h"
#include "train/grad_accumulator.h"
#include "train/overlapped_allreduce.h"

namespace goat {

class DataParallel {
 public:
  // Creates the communicator for cfg.dist on cfg.device and checks that the world size divides
  // train.batch_size. On ranks other than 0, lowers the log level to warn.
  explicit DataParallel(const Config& cfg);
  // The same over a given communicator (tests: a recording communicator).
  DataParallel(const Config& cfg, std::unique_ptr<Communicator> comm);
  ~DataParallel();

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
  // The backward of micro-batch `micro` (0-based) of `count` with gradient accumulation, and for
  // the last one the gradient averaging over ranks: all gradients (plain; overlapped with the
  // backward when there are several ranks), or the owned shard (ZeRO-1, after the backward; the
  // rest of the arena is left as it was).
  void backward(Gpt& model, Activations& acts, float loss_scale, GradAccumulator& accum, int64_t micro, int64_t count);
  // The overlapped all-reduce (several ranks, plain data parallel), else nullptr. Tests trace it.
  OverlappedAllReduce* overlapped(int64_t numel);
  // Global L2 norm of the averaged gradients (after reduce_gradients).
  double grad_norm(const Arena& grads);
  // ZeRO-1: every rank's updated shard to every rank (after the optimizer step), and of the bf16
  // working copy when there is one (its bits, gathered like floats); no-op otherwise.
  void gather_params(const Arena& params, const Arena* bf16_weights = nullptr);
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
  // Averages the gradients after the backward: the owned shard (ZeRO-1) or all (plain, one rank).
  void reduce_gradients(const Arena& grads);
  // ZeRO-1: own (the rank's s.size() elements of elem_bytes each) to every rank, full (numel) on
  // every rank; elem_bytes 4 (f32) or 2 (bf16 bits, moved as half as many floats).
  void all_gather_owned(const void* own, int64_t numel, void* full, int64_t elem_bytes = 4);
  // The ZeRO-1 scratch of `floats` zeroed floats in the communicator's memory.
  float* padded(int64_t floats);
  // Runs a collective on the comm stream, ordered after the compute stream's work so far and
  // before its later work, and waits for it.
  template <class F>
  void collective(F&& f);

  std::unique_ptr<Communicator> comm_;
  std::unique_ptr<CommStream> stream_;
  std::unique_ptr<OverlappedAllReduce> overlap_;
  bool zero_ = false;
  double bucket_mb_ = 25;
  Arena padded_{DType::f32, Device::cpu};  // ZeRO-1: padded_numel scratch for reduce-scatter and all-gather
  int fault_rank_ = -1;
  int64_t fault_step_ = -1;
};

}  // namespace goat
