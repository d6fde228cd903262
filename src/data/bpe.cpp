// Byte-level BPE encode/decode over the shared tables (bpe.h), and the merge hash map.
#include "data/bpe.h"

#include <bit>
#include <iterator>
#include <limits>

#include "core/check.h"
#include "data/pretokenize.h"

namespace goat::data {

// ---- MergeTable -------------------------------------------------------------------------------

void MergeTable::reserve(size_t n) {
  const size_t cap = std::bit_ceil(std::max<size_t>(16, n * 2));
  keys_.assign(cap, kEmpty);
  vals_.assign(cap, 0);
  mask_ = cap - 1;
  shift_ = 64 - std::countr_zero(cap);
  size_ = 0;
}

void MergeTable::insert(int32_t left, int32_t right, int32_t rank, int32_t merged) {
  GOAT_CHECK((size_ + 1) * 2 <= keys_.size(), "bpe", "merge table over capacity {}", keys_.size());
  const uint64_t key = pack(left, right);
  for (size_t h = slot(key);; h = (h + 1) & mask_) {
    if (keys_[h] == key || keys_[h] == kEmpty) {
      size_ += keys_[h] == kEmpty ? 1 : 0;
      keys_[h] = key;
      vals_[h] = (static_cast<uint64_t>(static_cast<uint32_t>(rank)) << 32) | static_cast<uint32_t>(merged);
      return;
    }
  }
}

// ---- encode -----------------------------------------------------------------------------------

BpeTokenizer::BpeTokenizer(std::shared_ptr<const BpeTables> tables) : t_(std::move(tables)) {
  GOAT_CHECK(t_ != nullptr, "bpe", "null tables");
}

void BpeTokenizer::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  // encoder.py's bpe(): find the lowest-rank adjacent pair; merge every occurrence left to right;
  // repeat until no adjacent pair is a merge.
  int32_t small[64];  // most pieces are short: no allocation for them
  std::vector<int32_t> big;
  int32_t* w = small;
  if (piece.size() > std::size(small)) {
    big.resize(piece.size());
    w = big.data();
  }
  for (size_t i = 0; i < piece.size(); ++i) w[i] = t_->byte_id[static_cast<unsigned char>(piece[i])];
  size_t n = piece.size();
  while (n > 1) {
    int32_t best_rank = std::numeric_limits<int32_t>::max(), best_left = -1, best_right = -1, best_merged = -1;
    for (size_t i = 0; i + 1 < n; ++i) {
      int32_t rank = 0, merged = 0;
      if (t_->merges.find(w[i], w[i + 1], rank, merged) && rank < best_rank) {
        best_rank = rank, best_left = w[i], best_right = w[i + 1], best_merged = merged;
      }
    }
    if (best_left < 0) break;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
      if (i + 1 < n && w[i] == best_left && w[i + 1] == best_right) {
        w[o++] = best_merged;
        i += 2;
      } else {
        w[o++] = w[i++];
      }
    }
    n = o;
  }
  out.insert(out.end(), w, w + n);
}

void BpeTokenizer::encode_cached(std::string_view piece, std::vector<int32_t>& out) {
  if (piece.size() == 1) {
    out.push_back(t_->byte_id[static_cast<unsigned char>(piece[0])]);
    return;
  }
  if (t_->ignore_merges) {
    if (auto it = t_->piece_id.find(std::string(piece)); it != t_->piece_id.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const uint64_t h = PieceCache::hash(piece);
  if (const auto hit = cache_.find(piece, h); !hit.empty()) {
    out.insert(out.end(), hit.begin(), hit.end());
    return;
  }
  const size_t base = out.size();
  encode_piece(piece, out);
  if (piece.size() <= 256) {  // long pieces are rare; do not let them fill the cache
    cache_.insert(piece, h, std::span<const int32_t>(out).subspan(base));
  }
}

void BpeTokenizer::encode(std::string_view text, std::vector<int32_t>& out) {
  if (t_->add_prefix_space && !text.empty() && text[0] != ' ') {
    // Hugging Face ByteLevel(add_prefix_space=true): the text is encoded as if it began with " ".
    std::string spaced = " ";
    spaced.append(text);
    for_each_gpt2_piece(spaced, [&](std::string_view p) { encode_cached(p, out); });
    return;
  }
  encode_continued(text, out);
}

void BpeTokenizer::encode_continued(std::string_view text, std::vector<int32_t>& out) {
  for_each_gpt2_piece(text, [&](std::string_view p) { encode_cached(p, out); });
}

std::string BpeTokenizer::decode(std::span<const int32_t> ids) const {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) {
    GOAT_CHECK(ids[i] >= 0 && ids[i] < vocab_size(), "bpe", "id {} at position {} outside [0, {})", ids[i], i,
               vocab_size());
    s += t_->token_bytes[static_cast<size_t>(ids[i])];
  }
  return s;
}

}  // namespace goat::data
