// A flat piece -> ids cache for BpeTokenizer: open addressing over one slot array, piece bytes in
// one string arena and ids in one vector, so a lookup is a hash, one probe sequence and a memcmp,
// with no allocation per entry. Bounded: when the arenas pass their limits it is cleared.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace goat::data {

class PieceCache {
 public:
  PieceCache() { reset(1 << 14); }

  // The cached ids of piece, or an empty span when absent.
  std::span<const int32_t> find(std::string_view piece, uint64_t h) const {
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.len == kEmpty) return {};
      if (s.hash == h && s.len == piece.size() && std::memcmp(keys_.data() + s.key, piece.data(), piece.size()) == 0)
        return {ids_.data() + s.ids, s.n};
    }
  }
  void insert(std::string_view piece, uint64_t h, std::span<const int32_t> ids);
  static uint64_t hash(std::string_view s) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ s.size();
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
      h ^= h >> 31;
    }
    uint64_t w = 0;
    std::memcpy(&w, s.data() + i, s.size() - i);
    h = (h ^ w) * 0x94D049BB133111EBull;
    return h ^ (h >> 29);
  }

 private:
  static constexpr uint32_t kEmpty = ~uint32_t{0};
  static constexpr size_t kMaxIds = size_t{1} << 22, kMaxKeyBytes = size_t{1} << 24;
  struct Slot {
    uint64_t hash = 0;
    uint32_t key = 0, len = kEmpty, ids = 0, n = 0;
  };
  void reset(size_t capacity);
  void grow();

  std::vector<Slot> slots_;
  size_t mask_ = 0, used_ = 0;
  std::string keys_;
  std::vector<int32_t> ids_;
};

}  // namespace goat::data
