// safetensors I/O for arenas. The header is padded with spaces to a multiple of 8 bytes so the
// data section stays aligned, as the reference writer does.
#include "data/safetensors.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/check.h"

namespace goat::data {

namespace {
const char* dtype_tag(DType t) { return t == DType::f32 ? "F32" : "BF16"; }
}  // namespace

void save_safetensors(const std::string& path, const Arena& arena, const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  const size_t esize = dtype_size(arena.dtype());
  uint64_t offset = 0;
  for (const auto& e : arena.entries()) {
    std::vector<int64_t> shape(e.shape.dims.begin(), e.shape.dims.begin() + e.shape.ndim);
    const uint64_t bytes = static_cast<uint64_t>(e.shape.numel()) * esize;
    header[e.name] = {{"dtype", dtype_tag(arena.dtype())}, {"shape", shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  while (text.size() % 8 != 0) text += ' ';
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    GOAT_CHECK(f.good(), "safetensors", "cannot open '{}' for writing", tmp);
    const uint64_t n = text.size();
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
    f.write(reinterpret_cast<const char*>(len), 8);
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& e : arena.entries()) {
      const Tensor t = arena.view(e.name);
      f.write(static_cast<const char*>(t.data), static_cast<std::streamsize>(t.nbytes()));
    }
    f.flush();
    GOAT_CHECK(f.good(), "safetensors", "write to '{}' failed (disk full?)", tmp);
  }
  std::filesystem::rename(tmp, path);
}

std::map<std::string, std::string> load_safetensors(const std::string& path, const Arena& arena) {
  std::ifstream f(path, std::ios::binary);
  GOAT_CHECK(f.good(), "safetensors", "cannot open '{}'", path);
  f.seekg(0, std::ios::end);
  const uint64_t file_size = static_cast<uint64_t>(f.tellg());
  f.seekg(0);
  GOAT_CHECK(file_size >= 8, "safetensors", "'{}': {} bytes, too short for the 8-byte header length", path, file_size);
  unsigned char len[8];
  f.read(reinterpret_cast<char*>(len), 8);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(len[i]) << (8 * i);
  GOAT_CHECK(n <= file_size - 8, "safetensors", "'{}': header length {} runs past the end of the file ({} bytes)", path, n,
             file_size);
  std::string text(n, '\0');
  f.read(text.data(), static_cast<std::streamsize>(n));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("safetensors", "'{}': header is not valid JSON: {}", path, e.what());
  }
  GOAT_CHECK(header.is_object(), "safetensors", "'{}': header is not a JSON object", path);
  const uint64_t data_start = 8 + n, data_bytes = file_size - data_start;
  std::map<std::string, std::string> meta;
  if (header.contains("__metadata__") && header["__metadata__"].is_object())
    for (auto& [k, v] : header["__metadata__"].items())
      if (v.is_string()) meta[k] = v.get<std::string>();
  const size_t esize = dtype_size(arena.dtype());
  for (const auto& e : arena.entries()) {
    GOAT_CHECK(header.contains(e.name), "safetensors", "'{}': tensor '{}' is missing", path, e.name);
    const auto& h = header[e.name];
    GOAT_CHECK(h.is_object() && h.contains("dtype") && h.contains("shape") && h.contains("data_offsets"), "safetensors",
               "'{}': tensor '{}' lacks dtype/shape/data_offsets", path, e.name);
    GOAT_CHECK(h["dtype"] == dtype_tag(arena.dtype()), "safetensors", "'{}': tensor '{}' has dtype {}, expected {}", path,
               e.name, h["dtype"].dump(), dtype_tag(arena.dtype()));
    std::vector<int64_t> want(e.shape.dims.begin(), e.shape.dims.begin() + e.shape.ndim), got;
    try {
      got = h["shape"].get<std::vector<int64_t>>();
    } catch (const nlohmann::json::exception&) {
      fail("safetensors", "'{}': tensor '{}' has a malformed shape {}", path, e.name, h["shape"].dump());
    }
    GOAT_CHECK(got == want, "safetensors", "'{}': tensor '{}' has shape {}, expected {}", path, e.name, h["shape"].dump(),
               e.shape.str());
    uint64_t lo = 0, hi = 0;
    try {
      lo = h["data_offsets"].at(0).get<uint64_t>();
      hi = h["data_offsets"].at(1).get<uint64_t>();
    } catch (const nlohmann::json::exception&) {
      fail("safetensors", "'{}': tensor '{}' has malformed data_offsets {}", path, e.name, h["data_offsets"].dump());
    }
    const uint64_t bytes = static_cast<uint64_t>(e.shape.numel()) * esize;
    GOAT_CHECK(lo <= hi && hi <= data_bytes && hi - lo == bytes, "safetensors",
               "'{}': tensor '{}' data_offsets [{}, {}) do not fit {} bytes within the {}-byte data section", path, e.name,
               lo, hi, bytes, data_bytes);
    f.seekg(static_cast<std::streamoff>(data_start + lo));
    f.read(static_cast<char*>(arena.view(e.name).data), static_cast<std::streamsize>(bytes));
    GOAT_CHECK(f.good(), "safetensors", "'{}': short read of tensor '{}'", path, e.name);
  }
  return meta;
}

}  // namespace goat::data
