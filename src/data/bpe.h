// GPT-2 style byte-level BPE (OpenAI's encoder.py, the npm gpt-3-encoder, Hugging Face's BPE model
// with the ByteLevel pre-tokenizer). Text -> GPT-2 pieces (pretokenize.h) -> each piece's UTF-8
// bytes -> one symbol per byte -> repeatedly merge the adjacent pair with the lowest merge rank,
// all its occurrences left to right (encoder.py's loop exactly) -> ids.
// Symbols are ids from the start: the "byte alphabet" of encoder.json (bytes_to_unicode) is undone
// at load time, so the merge table maps (left id, right id) -> (rank, merged id) in an
// open-addressing hash map, and piece -> ids results are cached per tokenizer object.
// Tables are immutable and shared between clones; the cache is per object (one thread each).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/bpe_cache.h"
#include "data/tokenizer.h"

namespace goat::data {

// Open-addressing map (left id, right id) -> (rank, merged id).
class MergeTable {
 public:
  void reserve(size_t n);
  // Inserts or overwrites: a pair listed twice keeps its later rank, as encoder.py's dict(zip())
  // and the JS reference's dictZip do.
  void insert(int32_t left, int32_t right, int32_t rank, int32_t merged);
  // Sets rank/merged and returns true when (left, right) is a merge.
  bool find(int32_t left, int32_t right, int32_t& rank, int32_t& merged) const {
    const uint64_t key = pack(left, right);
    for (size_t h = slot(key);; h = (h + 1) & mask_) {
      const uint64_t k = keys_[h];
      if (k == key) {
        rank = static_cast<int32_t>(vals_[h] >> 32);
        merged = static_cast<int32_t>(vals_[h] & 0xFFFFFFFFu);
        return true;
      }
      if (k == kEmpty) return false;
    }
  }
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t pack(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  size_t slot(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_); }
  std::vector<uint64_t> keys_, vals_;
  size_t mask_ = 0, size_ = 0;
  int shift_ = 64;
};

// Everything a byte-level BPE tokenizer needs, built by the loaders in bpe_load.cpp.
struct BpeTables {
  std::string name;                      // "gpt2:DIR" or "hf:FILE"
  std::vector<std::string> token_bytes;  // id -> the raw bytes it stands for (specials: their name)
  std::vector<bool> is_special;          // id -> special token (not reachable by merges)
  int32_t byte_id[256] = {};             // byte -> id of its single-byte token
  MergeTable merges;
  std::vector<std::pair<std::string, int32_t>> specials;
  int32_t eot = -1;
  bool add_prefix_space = false;  // tokenizer.json ByteLevel option
  bool ignore_merges = false;     // tokenizer.json BPE option: a piece that is a token is taken whole
  std::unordered_map<std::string, int32_t> piece_id;  // raw bytes -> id (used with ignore_merges)
};

// Loaders (bpe_load.cpp). dir holds encoder.json + vocab.bpe, or vocab.json + merges.txt.
std::shared_ptr<const BpeTables> load_gpt2_bpe(const std::string& dir);
std::shared_ptr<const BpeTables> load_hf_tokenizer_json(const std::string& path);

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(std::shared_ptr<const BpeTables> tables);

  std::string name() const override { return t_->name; }
  int64_t vocab_size() const override { return static_cast<int64_t>(t_->token_bytes.size()); }
  int32_t eot_id() const override { return t_->eot; }
  std::vector<std::pair<std::string, int32_t>> special_tokens() const override { return t_->specials; }
  void encode(std::string_view text, std::vector<int32_t>& out) override;
  void encode_continued(std::string_view text, std::vector<int32_t>& out) override;
  using Tokenizer::encode;
  std::string decode(std::span<const int32_t> ids) const override;
  std::unique_ptr<Tokenizer> clone() const override { return std::make_unique<BpeTokenizer>(t_); }

  // BPE of one piece's bytes, uncached (exposed for tests and the benchmark).
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;
  const BpeTables& tables() const { return *t_; }

 private:
  void encode_cached(std::string_view piece, std::vector<int32_t>& out);

  std::shared_ptr<const BpeTables> t_;
  PieceCache cache_;
};

}  // namespace goat::data
