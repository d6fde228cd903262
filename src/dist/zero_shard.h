// ZeRO-1 shard arithmetic over a flat arena of `numel` elements on `world` ranks.
// The arena is padded to padded_numel = world * shard_numel (shard_numel rounded up to `align`
// elements), so reduce_scatter and all_gather move equal counts; rank r owns the padded range
// [r * shard_numel, (r+1) * shard_numel) and the real elements [begin, end) = that range clipped to
// numel (possibly empty for the last ranks). Element i of the arena is element i on any world
// size, so state saved as the unpadded [0, numel) range is world-size independent: a checkpoint
// written by N ranks is the concatenation of their [begin, end) slices and resumes on M ranks.
#pragma once

#include <cstdint>

namespace goat {

struct ZeroShard {
  int64_t numel = 0;  // real elements in the arena
  int world = 1;
  int rank = 0;
  int64_t shard_numel = 0;     // elements per rank, padded (multiple of align)
  int64_t padded_numel = 0;    // world * shard_numel >= numel
  int64_t begin = 0, end = 0;  // this rank's real elements, begin <= end, within [0, numel)
  int64_t padded_begin() const { return rank * shard_numel; }
  int64_t padded_end() const { return (rank + 1) * shard_numel; }
  int64_t size() const { return end - begin; }
};

// Rank `rank`'s shard. align (elements, >= 1) keeps shard starts aligned, e.g. 16 floats = 64 B.
ZeroShard zero_shard(int64_t numel, int world, int rank, int64_t align = 16);

// Balanced split of n items into `parts` contiguous ranges (sizes differ by at most one, larger
// ones first); part i is [split_begin(n, parts, i), split_begin(n, parts, i + 1)).
int64_t split_begin(int64_t n, int parts, int i);

}  // namespace goat
