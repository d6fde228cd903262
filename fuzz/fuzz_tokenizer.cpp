// libFuzzer target: a Hugging Face tokenizer.json (data/bpe.h), then encoding and decoding a
// short text with whatever loaded.
#include <cstddef>
#include <cstdint>

#include "core/check.h"
#include "data/bpe.h"
#include "fuzz_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz_input_file(data, size, ".json");
  try {
    goat::data::BpeTokenizer tok(goat::data::load_hf_tokenizer_json(path));
    const auto ids = tok.encode("Hello world, 123 héllo");
    (void)tok.decode(ids);
  } catch (const goat::Error&) {
  }
  return 0;
}
