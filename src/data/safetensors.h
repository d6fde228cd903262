// A small safetensors writer/reader (https://github.com/huggingface/safetensors): 8-byte
// little-endian header length N, N bytes of JSON header {name: {dtype, shape, data_offsets}, ...,
// "__metadata__": {str: str}}, then the raw little-endian tensor bytes. goatlm writes every named
// view of an Arena (f32, "F32"), so `model.safetensors` loads in PyTorch/safetensors unchanged.
// The reader treats the file as untrusted: header length, offsets and shapes are checked against
// the file size and the arena before a byte is copied, and errors name the file and the tensor.
#pragma once

#include <map>
#include <string>

#include "core/arena.h"

namespace goat::data {

// Writes every view of `arena` (written to path + ".tmp", then renamed).
void save_safetensors(const std::string& path, const Arena& arena, const std::map<std::string, std::string>& metadata = {});

// Fills every view of `arena` from the tensor of the same name (shape and dtype must match).
// Returns the file's __metadata__.
std::map<std::string, std::string> load_safetensors(const std::string& path, const Arena& arena);

}  // namespace goat::data
