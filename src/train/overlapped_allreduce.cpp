// Bucket-by-bucket gradient all-reduce during the backward pass; see overlapped_allreduce.h.
#include "train/overlapped_allreduce.h"

#include "core/check.h"

namespace goat {

OverlappedAllReduce::OverlappedAllReduce(Communicator& comm, CommStream& stream, int64_t numel, double bucket_mb)
    : comm_(comm), stream_(stream), plan_(numel, bucket_bytes(bucket_mb), 4) {}

void OverlappedAllReduce::begin(std::span<float> grads, RangeFn before_launch) {
  GOAT_CHECK(!active(), "overlapped_allreduce", "begin() while the previous step's reduction is unfinished");
  const int64_t n = static_cast<int64_t>(grads.size());
  GOAT_CHECK(plan_.count() == 0 || (plan_[0].end == n && plan_[plan_.count() - 1].begin == 0),
             "overlapped_allreduce", "gradient span of {} elements for a plan over [0, {})", n,
             plan_.count() ? plan_[0].end : 0);
  grads_ = grads;
  before_launch_ = std::move(before_launch);
  launched_ = 0;
  active_ = true;
}

void OverlappedAllReduce::ready(int64_t written_from) {
  if (!active()) return;  // not the step's last micro-batch: nothing to reduce yet
  for (const int n = plan_.ready_count(written_from); launched_ < n; ++launched_) launch(launched_, written_from);
}

void OverlappedAllReduce::launch(int bucket, int64_t written_from) {
  const Bucket& b = plan_[bucket];
  if (before_launch_) before_launch_(b.begin, b.end);
  const auto data = grads_.subspan(static_cast<size_t>(b.begin), static_cast<size_t>(b.end - b.begin));
  stream_.wait_for_compute();
  if (trace_) trace_({Event::comm_waits_compute, bucket, written_from, {}});
  if (trace_) trace_({Event::all_reduce, bucket, written_from, data});
  comm_.all_reduce(data, ReduceOp::avg);
}

void OverlappedAllReduce::finish() {
  GOAT_CHECK(active(), "overlapped_allreduce", "finish() without begin()");
  for (; launched_ < plan_.count(); ++launched_) launch(launched_, -1);
  stream_.compute_waits();
  if (trace_) trace_({Event::compute_waits_comm, -1, -1, {}});
  comm_.synchronize();
  grads_ = {};
  before_launch_ = {};
  active_ = false;
}

}  // namespace goat
