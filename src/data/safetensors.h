// A small safetensors writer/reader (https://github.com/huggingface/safetensors): 8-byte
// little-endian header length N, N bytes of JSON header {name: {dtype, shape, data_offsets}, ...,
// "__metadata__": {str: str}}, then the raw little-endian tensor bytes. goatlm writes every named
// view of an Arena (f32, "F32"), so `model.safetensors` loads in PyTorch/safetensors unchanged.
// The reader treats the file as untrusted: parse_safetensors_header() checks every entry (dtype
// known, shape non-negative, offsets inside the data section, size = numel · dtype size, no two
// tensors overlapping) before a byte is copied, and errors name the file, the tensor and the field.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/arena.h"

namespace goat::data {

struct SafetensorsEntry {
  std::string dtype;  // "F32", "BF16", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets within the data section
};

struct SafetensorsHeader {
  uint64_t data_start = 0;  // 8 + N
  std::map<std::string, SafetensorsEntry> tensors;
  std::map<std::string, std::string> metadata;
};

// Parses and checks the header of a file of `file_size` bytes whose first bytes are `head`
// (at least the 8-byte length and the JSON text when the file has them). `path` names the file
// in messages.
SafetensorsHeader parse_safetensors_header(const std::string& path, const std::string& head, uint64_t file_size);

// Writes every view of `arena` durably (path.tmp, fsync, rename; core/durable_file.h).
void save_safetensors(const std::string& path, const Arena& arena, const std::map<std::string, std::string>& metadata = {});

// Fills every view of `arena` from the tensor of the same name (shape and dtype must match).
// Returns the file's __metadata__.
std::map<std::string, std::string> load_safetensors(const std::string& path, const Arena& arena);

}  // namespace goat::data
