// PieceCache insert/grow/reset (see bpe_cache.h).
#include "data/bpe_cache.h"

namespace goat::data {

void PieceCache::reset(size_t capacity) {
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  used_ = 0;
  keys_.clear();
  ids_.clear();
}

void PieceCache::grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(old.size() * 2, Slot{});
  mask_ = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.len == kEmpty) continue;
    size_t i = s.hash & mask_;
    while (slots_[i].len != kEmpty) i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

void PieceCache::insert(std::string_view piece, uint64_t h, std::span<const int32_t> ids) {
  if (ids_.size() + ids.size() > kMaxIds || keys_.size() + piece.size() > kMaxKeyBytes) reset(1 << 14);
  if ((used_ + 1) * 2 > slots_.size()) grow();
  size_t i = h & mask_;
  while (slots_[i].len != kEmpty) i = (i + 1) & mask_;
  slots_[i] = Slot{h, static_cast<uint32_t>(keys_.size()), static_cast<uint32_t>(piece.size()),
                   static_cast<uint32_t>(ids_.size()), static_cast<uint32_t>(ids.size())};
  keys_.append(piece);
  ids_.insert(ids_.end(), ids.begin(), ids.end());
  ++used_;
}

}  // namespace goat::data
