// libFuzzer target: llm.c token shards (data/shard.h) read through ShardSource with a 50257-token
// vocabulary, every token read back.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/check.h"
#include "data/loader.h"
#include "fuzz_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz_input_file(data, size, ".bin");
  try {
    goat::data::ShardSource src(path, 50257);
    std::vector<int32_t> out(static_cast<size_t>(src.size()));
    src.read(0, src.size(), out.data());
  } catch (const goat::Error&) {
  }
  return 0;
}
