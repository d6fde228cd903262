// safetensors I/O for arenas. The header is padded with spaces to a multiple of 8 bytes so the
// data section stays aligned, as the reference writer does.
#include "data/safetensors.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/check.h"
#include "core/durable_file.h"

namespace goat::data {

namespace {

const char* dtype_tag(DType t) { return t == DType::f32 ? "F32" : "BF16"; }

// Bytes per element of a safetensors dtype; 0 when unknown.
uint64_t dtype_bytes(const std::string& d) {
  static const std::map<std::string, uint64_t> sizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"I64", 8},     {"U64", 8}, {"F64", 8}};
  const auto it = sizes.find(d);
  return it == sizes.end() ? 0 : it->second;
}

uint64_t read_u64_le(const std::string& s) {
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(s[static_cast<size_t>(i)])) << (8 * i);
  return n;
}

SafetensorsEntry parse_entry(const std::string& path, const std::string& name, const nlohmann::json& h,
                             uint64_t data_bytes) {
  auto bad = [&](const std::string& what) { fail("safetensors", "'{}': tensor '{}': {}", path, name, what); };
  if (!h.is_object()) bad("expected an object {dtype, shape, data_offsets}, got " + h.dump());
  for (const char* k : {"dtype", "shape", "data_offsets"})
    if (!h.contains(k)) bad(std::string("missing field '") + k + "'");
  SafetensorsEntry e;
  if (!h["dtype"].is_string()) bad("dtype must be a string, got " + h["dtype"].dump());
  e.dtype = h["dtype"].get<std::string>();
  const uint64_t esize = dtype_bytes(e.dtype);
  if (esize == 0) bad("unknown dtype \"" + e.dtype + "\"");
  const auto& shape = h["shape"];
  if (!shape.is_array()) bad("shape must be an array, got " + shape.dump());
  uint64_t numel = 1;
  for (const auto& d : shape) {
    if (!d.is_number_unsigned()) bad("shape entries must be non-negative integers, got " + shape.dump());
    const uint64_t v = d.get<uint64_t>();
    if (v > (uint64_t{1} << 40) || (v > 0 && numel > (uint64_t{1} << 62) / v)) bad("shape " + shape.dump() + " is too large");
    numel *= v;
    e.shape.push_back(static_cast<int64_t>(v));
  }
  const auto& off = h["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
    bad("data_offsets must be [begin, end] of non-negative integers, got " + off.dump());
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  if (e.begin > e.end || e.end > data_bytes)
    bad(fmt::format("data_offsets [{}, {}) do not lie within the {}-byte data section", e.begin, e.end, data_bytes));
  if (e.end - e.begin != numel * esize)
    bad(fmt::format("data_offsets [{}, {}) hold {} bytes, but shape {} of {} needs {}", e.begin, e.end, e.end - e.begin,
                    shape.dump(), e.dtype, numel * esize));
  return e;
}

}  // namespace

SafetensorsHeader parse_safetensors_header(const std::string& path, const std::string& head, uint64_t file_size) {
  GOAT_CHECK(file_size >= 8 && head.size() >= 8, "safetensors", "'{}': {} bytes, too short for the 8-byte header length",
             path, file_size);
  const uint64_t n = read_u64_le(head);
  GOAT_CHECK(n <= file_size - 8, "safetensors", "'{}': header length {} runs past the end of the file ({} bytes)", path,
             n, file_size);
  GOAT_CHECK(head.size() >= 8 + n, "safetensors", "'{}': header truncated ({} of {} bytes)", path, head.size() - 8, n);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(head.begin() + 8, head.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  } catch (const nlohmann::json::exception& e) {
    fail("safetensors", "'{}': header is not valid JSON: {}", path, e.what());
  }
  GOAT_CHECK(header.is_object(), "safetensors", "'{}': header is not a JSON object", path);
  SafetensorsHeader out;
  out.data_start = 8 + n;
  const uint64_t data_bytes = file_size - out.data_start;
  for (auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      GOAT_CHECK(value.is_object(), "safetensors", "'{}': __metadata__ must be an object of strings", path);
      for (auto& [k, v] : value.items()) {
        GOAT_CHECK(v.is_string(), "safetensors", "'{}': __metadata__.{} must be a string, got {}", path, k, v.dump());
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    out.tensors[name] = parse_entry(path, name, value, data_bytes);
  }
  std::vector<std::pair<const SafetensorsEntry*, const std::string*>> by_offset;
  for (const auto& [name, e] : out.tensors)
    if (e.end > e.begin) by_offset.emplace_back(&e, &name);
  std::sort(by_offset.begin(), by_offset.end(), [](const auto& a, const auto& b) { return a.first->begin < b.first->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const auto& [prev, prev_name] = by_offset[i - 1];
    const auto& [cur, cur_name] = by_offset[i];
    GOAT_CHECK(cur->begin >= prev->end, "safetensors",
               "'{}': tensors '{}' [{}, {}) and '{}' [{}, {}) have overlapping data_offsets", path, *prev_name,
               prev->begin, prev->end, *cur_name, cur->begin, cur->end);
  }
  return out;
}

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
  DurableFile f(path);
  const uint64_t n = text.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
  f.write(len, 8);
  f.write(text.data(), text.size());
  for (const auto& e : arena.entries()) {
    const Tensor t = arena.view(e.name);
    f.write(t.data, t.nbytes());
  }
  f.commit();
}

std::map<std::string, std::string> load_safetensors(const std::string& path, const Arena& arena) {
  std::ifstream f(path, std::ios::binary);
  GOAT_CHECK(f.good(), "safetensors", "cannot open '{}'", path);
  f.seekg(0, std::ios::end);
  const uint64_t file_size = static_cast<uint64_t>(f.tellg());
  f.seekg(0);
  std::string head(std::min<uint64_t>(file_size, 8), '\0');
  f.read(head.data(), static_cast<std::streamsize>(head.size()));
  if (head.size() == 8) {
    const uint64_t n = read_u64_le(head);
    if (n <= file_size - 8) {
      head.resize(8 + n);
      f.read(head.data() + 8, static_cast<std::streamsize>(n));
      GOAT_CHECK(f.good(), "safetensors", "'{}': short read of the {}-byte header", path, n);
    }
  }
  const SafetensorsHeader h = parse_safetensors_header(path, head, file_size);
  for (const auto& e : arena.entries()) {
    const auto it = h.tensors.find(e.name);
    GOAT_CHECK(it != h.tensors.end(), "safetensors", "'{}': tensor '{}' is missing", path, e.name);
    const SafetensorsEntry& t = it->second;
    GOAT_CHECK(t.dtype == dtype_tag(arena.dtype()), "safetensors", "'{}': tensor '{}' has dtype {}, expected {}", path,
               e.name, t.dtype, dtype_tag(arena.dtype()));
    const std::vector<int64_t> want(e.shape.dims.begin(), e.shape.dims.begin() + e.shape.ndim);
    GOAT_CHECK(t.shape == want, "safetensors", "'{}': tensor '{}' has shape {}, expected {}", path, e.name,
               nlohmann::json(t.shape).dump(), e.shape.str());
    f.seekg(static_cast<std::streamoff>(h.data_start + t.begin));
    f.read(static_cast<char*>(arena.view(e.name).data), static_cast<std::streamsize>(t.end - t.begin));
    GOAT_CHECK(f.good(), "safetensors", "'{}': short read of tensor '{}'", path, e.name);
  }
  return h.metadata;
}

}  // namespace goat::data
