// Gradient all-reduce overlapped with the backward pass (docs/distributed.md, "Overlap with the
// backward pass").
//
// The gradient arena holds parameters in forward order and the backward produces gradients from
// its end towards its start, so the buckets of a BucketPlan (dist/bucketed_allreduce.h; bucket 0
// is the arena's tail) become complete one after another. Gpt::backward reports its progress
// ("every gradient element at index >= written_from is final") through ready(); each bucket
// that has become complete is launched at once:
//   1. before_launch(begin, end): the gradient accumulator adds the earlier micro-batches' sum
//      into the bucket (on the compute stream), so the bucket holds this rank's final gradient;
//   2. comm stream waits for the compute stream (an event recorded after that work);
//   3. all_reduce(bucket, avg) enqueued on the comm stream (NCCL), while the compute stream goes
//      on with the backward of earlier layers.
// finish() launches anything left, makes the compute stream wait for the comm stream (so the
// optimizer reads reduced gradients) and waits for the collectives under the communicator's
// watchdog. Each bucket is launched exactly once per step, in plan order.
//
// On the CPU (blocking MPI) the same calls reduce each bucket as soon as it is complete,
// interleaved with the backward; with the rank-ordered reduction the result equals one
// all-reduce of the whole arena bit for bit, whatever the bucket size.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "dist/bucketed_allreduce.h"
#include "dist/communicator.h"
#include "train/comm_stream.h"

namespace goat {

class OverlappedAllReduce {
 public:
  // numel: the gradient arena's elements; bucket_mb: dist.bucket_mb.
  OverlappedAllReduce(Communicator& comm, CommStream& stream, int64_t numel, double bucket_mb);

  using RangeFn = std::function<void(int64_t begin, int64_t end)>;
  // Starts a step's reduction of grads (numel elements, comm's device memory); call before the
  // backward of the step's last micro-batch. before_launch may be empty.
  void begin(std::span<float> grads, RangeFn before_launch = {});
  // The backward has finished every gradient element at index >= written_from.
  void ready(int64_t written_from);
  // Launches the remaining buckets, orders the compute stream after the comm stream and waits
  // for the collectives. Every element of grads is then the mean over ranks.
  void finish();

  const BucketPlan& plan() const { return plan_; }
  bool active() const { return active_; }

  // What the reduction does, in order, for tests: the comm stream waiting for the compute
  // stream, a bucket's all-reduce (bucket: index into plan(); data: what the collective reads),
  // the compute stream waiting for the comm stream (bucket -1). written_from: the backward's
  // progress report that launched the bucket (-1 when finish() launched it).
  enum class Event : uint8_t { comm_waits_compute, all_reduce, compute_waits_comm };
  struct Trace {
    Event event;
    int bucket;
    int64_t written_from;
    std::span<const float> data;
  };
  using TraceFn = std::function<void(const Trace&)>;
  void set_trace(TraceFn fn) { trace_ = std::move(fn); }

 private:
  void launch(int bucket, int64_t written_from);

  Communicator& comm_;
  CommStream& stream_;
  BucketPlan plan_;
  std::span<float> grads_;
  RangeFn before_launch_;
  int launched_ = 0;
  bool active_ = false;
  TraceFn trace_;
};

}  // namespace goat
