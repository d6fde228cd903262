// The byte-level tokenizer: id = byte value, vocabulary 256, always available (no files).
// Convention: the end-of-text id is 0, the NUL byte, so byte-level data keeps vocab 256 (the
// bench and synthetic configs use 256) and documents are still separated. Text corpora do not
// contain NUL; `goatlm tokenize` counts any NUL bytes it meets and warns, since they would read
// as document boundaries. decode() is the exact inverse of encode() for any bytes: id 0 decodes
// to a NUL byte, not to the string "<|endoftext|>".
#pragma once

#include "data/tokenizer.h"

namespace goat::data {

class ByteTokenizer final : public Tokenizer {
 public:
  static constexpr int32_t kEotId = 0;

  std::string name() const override { return "byte"; }
  int64_t vocab_size() const override { return 256; }
  int32_t eot_id() const override { return kEotId; }
  std::vector<std::pair<std::string, int32_t>> special_tokens() const override {
    return {{std::string(kEndOfText), kEotId}};
  }
  void encode(std::string_view text, std::vector<int32_t>& out) override;
  using Tokenizer::encode;
  std::string decode(std::span<const int32_t> ids) const override;
  std::unique_ptr<Tokenizer> clone() const override { return std::make_unique<ByteTokenizer>(); }
};

}  // namespace goat::data
