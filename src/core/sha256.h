// SHA-256 of files and byte ranges (OpenSSL EVP), as lowercase hex: the integrity check of every
// file in a checkpoint (docs/checkpoints.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace goat {

std::string sha256_hex(const void* data, size_t bytes);

struct FileDigest {
  uint64_t bytes = 0;
  std::string sha256;
};
// Streams the file; throws an Error naming it when it cannot be read.
FileDigest sha256_file(const std::string& path);

}  // namespace goat
