// Bucket planning and the bucketed all-reduce; see bucketed_allreduce.h.
#include "dist/bucketed_allreduce.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace goat {

BucketPlan::BucketPlan(int64_t numel, int64_t bucket_bytes, int64_t elem_bytes) {
  GOAT_CHECK(numel >= 0, "bucket_plan", "numel must be >= 0, got {}", numel);
  GOAT_CHECK(elem_bytes >= 1 && bucket_bytes >= elem_bytes, "bucket_plan",
             "bucket size {} B must hold at least one {}-byte element", bucket_bytes, elem_bytes);
  const int64_t per = bucket_bytes / elem_bytes;
  for (int64_t end = numel; end > 0; end -= per) buckets_.push_back({std::max<int64_t>(0, end - per), end});
}

int BucketPlan::ready_count(int64_t written_from) const {
  int k = 0;
  while (k < count() && buckets_[static_cast<size_t>(k)].begin >= written_from) ++k;
  return k;
}

void bucketed_all_reduce(Communicator& comm, std::span<float> data, const BucketPlan& plan, ReduceOp op) {
  const int64_t n = static_cast<int64_t>(data.size());
  GOAT_CHECK(plan.count() == 0 || (plan[0].end == n && plan[plan.count() - 1].begin == 0), "bucketed_all_reduce",
             "plan covers [{}, {}) but the span has {} elements", plan.count() ? plan[plan.count() - 1].begin : 0,
             plan.count() ? plan[0].end : 0, n);
  for (const Bucket& b : plan.buckets())
    comm.all_reduce(data.subspan(static_cast<size_t>(b.begin), static_cast<size_t>(b.end - b.begin)), op);
}

int64_t bucket_bytes(double bucket_mb) {
  GOAT_CHECK(bucket_mb > 0 && std::isfinite(bucket_mb), "dist.bucket_mb", "must be > 0, got {}", bucket_mb);
  return std::max<int64_t>(4, static_cast<int64_t>(bucket_mb * 1024.0 * 1024.0));
}

void bucketed_all_reduce(Communicator& comm, std::span<float> data, double bucket_mb, ReduceOp op) {
  bucketed_all_reduce(comm, data, BucketPlan(static_cast<int64_t>(data.size()), bucket_bytes(bucket_mb), 4), op);
}

}  // namespace goat
