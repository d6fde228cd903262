// make_tokenizer: the one place a spec string ("byte", "gpt2:DIR", "hf:FILE") becomes a tokenizer.
#include "data/tokenizer.h"

#include "core/check.h"
#include "data/bpe.h"
#include "data/byte_tokenizer.h"

namespace goat::data {

std::unique_ptr<Tokenizer> make_tokenizer(std::string_view spec) {
  if (spec == "byte") return std::make_unique<ByteTokenizer>();
  if (spec.starts_with("gpt2:")) return std::make_unique<BpeTokenizer>(load_gpt2_bpe(std::string(spec.substr(5))));
  if (spec.starts_with("hf:")) {
    return std::make_unique<BpeTokenizer>(load_hf_tokenizer_json(std::string(spec.substr(3))));
  }
  fail("tokenizer", "unknown tokenizer spec '{}' (expected byte, gpt2:DIR or hf:FILE)", spec);
}

}  // namespace goat::data
