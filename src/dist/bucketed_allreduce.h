// Gradient all-reduce in buckets over a flat arena. The arena holds parameters in forward order,
// and the backward pass produces gradients from the end of the arena towards its start, so the
// buckets are planned from the end: bucket 0 is the arena's tail, ready first. Reducing each
// bucket separately lets the CUDA trainer issue bucket k on a second stream as soon as the
// backward has written past its start, overlapping communication with the rest of the backward.
// With the rank-ordered (deterministic) reduction the bucketed result equals one all-reduce
// bitwise, whatever the bucket size.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "dist/communicator.h"

namespace goat {

struct Bucket {
  int64_t begin = 0, end = 0;  // element range [begin, end) of the flat arena
};

class BucketPlan {
 public:
  // numel elements of elem_bytes each, in buckets of at most bucket_bytes (>= elem_bytes).
  BucketPlan(int64_t numel, int64_t bucket_bytes, int64_t elem_bytes = 4);

  int count() const { return static_cast<int>(buckets_.size()); }
  const Bucket& operator[](int i) const { return buckets_[static_cast<size_t>(i)]; }
  const std::vector<Bucket>& buckets() const { return buckets_; }
  // How many buckets are complete once the backward has written every element at index >=
  // written_from (buckets are in backward order, so that is a prefix of the list).
  int ready_count(int64_t written_from) const;

 private:
  std::vector<Bucket> buckets_;
};

// dist.bucket_mb (MiB, > 0) as bytes for BucketPlan (at least one f32); throws naming a bad value.
int64_t bucket_bytes(double bucket_mb);

// data (n) in comm's device memory: all-reduces each bucket of `plan` in order, in place.
void bucketed_all_reduce(Communicator& comm, std::span<float> data, const BucketPlan& plan,
                         ReduceOp op = ReduceOp::sum);
// Same with a plan of bucket_mb MiB buckets.
void bucketed_all_reduce(Communicator& comm, std::span<float> data, double bucket_mb, ReduceOp op = ReduceOp::sum);

}  // namespace goat
