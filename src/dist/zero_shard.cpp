// ZeRO-1 shard arithmetic and balanced splits; see zero_shard.h.
#include "dist/zero_shard.h"

#include <algorithm>

#include "core/check.h"

namespace goat {

ZeroShard zero_shard(int64_t numel, int world, int rank, int64_t align) {
  GOAT_CHECK(numel >= 0, "zero_shard", "numel must be >= 0, got {}", numel);
  GOAT_CHECK(world >= 1, "zero_shard", "world size must be >= 1, got {}", world);
  GOAT_CHECK(rank >= 0 && rank < world, "zero_shard", "rank {} out of range for world size {}", rank, world);
  GOAT_CHECK(align >= 1, "zero_shard", "align must be >= 1, got {}", align);
  ZeroShard s;
  s.numel = numel;
  s.world = world;
  s.rank = rank;
  const int64_t per_rank = (numel + world - 1) / world;
  s.shard_numel = (per_rank + align - 1) / align * align;
  s.padded_numel = s.shard_numel * world;
  s.begin = std::min(numel, s.padded_begin());
  s.end = std::min(numel, s.padded_end());
  return s;
}

int64_t split_begin(int64_t n, int parts, int i) {
  GOAT_CHECK(parts >= 1 && i >= 0 && i <= parts, "split", "part {} out of range for {} parts", i, parts);
  const int64_t q = n / parts, r = n % parts;
  return i * q + std::min<int64_t>(i, r);
}

}  // namespace goat
