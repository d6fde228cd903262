// libFuzzer target: checkpoint state.json (train/checkpoint_state.h).
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/check.h"
#include "train/checkpoint_state.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    goat::ckpt::parse_state(std::string(reinterpret_cast<const char*>(data), size), "state.json");
  } catch (const goat::Error&) {
  }
  return 0;
}
