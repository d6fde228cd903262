// libFuzzer target: config JSON (config/config.h). Any input must give a Config or a goat::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.h"
#include "core/check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    goat::parse_config(std::string(reinterpret_cast<const char*>(data), size), "fuzz.json", {});
  } catch (const goat::Error&) {
  }
  return 0;
}
