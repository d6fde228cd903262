// libFuzzer target: safetensors header parsing and checking (data/safetensors.h), the input
// being a whole file.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/check.h"
#include "data/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    goat::data::parse_safetensors_header("fuzz.safetensors", std::string(reinterpret_cast<const char*>(data), size), size);
  } catch (const goat::Error&) {
  }
  return 0;
}
