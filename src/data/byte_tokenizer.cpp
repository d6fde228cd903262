// Byte-level tokenizer: bytes <-> ids 0..255 (see byte_tokenizer.h for the end-of-text rule).
#include "data/byte_tokenizer.h"

#include "core/check.h"

namespace goat::data {

void ByteTokenizer::encode(std::string_view text, std::vector<int32_t>& out) {
  const size_t base = out.size();
  out.resize(base + text.size());
  for (size_t i = 0; i < text.size(); ++i) out[base + i] = static_cast<unsigned char>(text[i]);
}

std::string ByteTokenizer::decode(std::span<const int32_t> ids) const {
  std::string s(ids.size(), '\0');
  for (size_t i = 0; i < ids.size(); ++i) {
    GOAT_CHECK(ids[i] >= 0 && ids[i] < 256, "byte tokenizer", "id {} at position {} outside [0, 256)", ids[i], i);
    s[i] = static_cast<char>(ids[i]);
  }
  return s;
}

}  // namespace goat::data
