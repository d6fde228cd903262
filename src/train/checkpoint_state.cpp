// state.json writer and strict reader.
#include "train/checkpoint_state.h"

#include <limits>

#include "core/check.h"

namespace goat::ckpt {

namespace {

std::string checksum_of(OrderedJson j) {
  j.erase("state_sha256");
  const std::string text = j.dump();
  return sha256_hex(text.data(), text.size());
}

struct Fields {
  const std::string& path;
  [[noreturn]] void bad(const std::string& field, const std::string& what) const {
    fail("checkpoint", "'{}': field \"{}\": {}", path, field, what);
  }
  const OrderedJson& at(const OrderedJson& obj, const std::string& field, const std::string& key) const {
    if (!obj.contains(key)) bad(field, "missing");
    return obj[key];
  }
  int64_t count(const OrderedJson& obj, const std::string& field, const std::string& key, int64_t lo) const {
    const auto& v = at(obj, field, key);
    if (!v.is_number_integer() && !v.is_number_unsigned()) bad(field, "expected an integer, got " + v.dump());
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      bad(field, "value " + v.dump() + " out of range");
    const int64_t x = v.get<int64_t>();
    if (x < lo) bad(field, fmt::format("expected >= {}, got {}", lo, x));
    return x;
  }
  std::string str(const OrderedJson& obj, const std::string& field, const std::string& key) const {
    const auto& v = at(obj, field, key);
    if (!v.is_string()) bad(field, "expected a string, got " + v.dump());
    return v.get<std::string>();
  }
};

}  // namespace

std::string format_state(const StateInfo& s) {
  OrderedJson j;
  j["format"] = kFormat;
  j["version"] = kFormatVersion;
  j["step"] = s.step;
  j["tokens_seen"] = s.tokens_seen;
  j["world_size"] = s.world_size;
  j["bad_steps_in_a_row"] = s.bad_steps_in_a_row;
  j["bad_steps_total"] = s.bad_steps_total;
  j["rng"] = {{"seed", s.cfg.train.seed}, {"generator", "philox4x32-10"}};
  j["loader"] = {{"next_step", s.step}};
  j["config"] = to_json(s.cfg);
  OrderedJson files = OrderedJson::object();
  for (const auto& [name, d] : s.files) files[name] = {{"bytes", d.bytes}, {"sha256", d.sha256}};
  j["files"] = files;
  j["state_sha256"] = checksum_of(j);
  return j.dump(2) + "\n";
}

StateInfo parse_state(const std::string& text, const std::string& path) {
  OrderedJson j;
  try {
    j = OrderedJson::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("checkpoint", "'{}': not valid JSON: {}", path, e.what());
  }
  GOAT_CHECK(j.is_object(), "checkpoint", "'{}': expected a JSON object", path);
  const Fields f{path};
  const std::string format = f.str(j, "format", "format");
  if (format != kFormat) f.bad("format", "expected \"" + std::string(kFormat) + "\", got \"" + format + "\"");
  const int64_t version = f.count(j, "version", "version", 0);
  if (version != kFormatVersion) f.bad("version", fmt::format("this goatlm reads version {}, got {}", kFormatVersion, version));
  const std::string sum = f.str(j, "state_sha256", "state_sha256");
  if (sum != checksum_of(j)) f.bad("state_sha256", "does not match the file's content (corrupted or edited)");
  StateInfo s;
  s.step = f.count(j, "step", "step", 0);
  s.tokens_seen = f.count(j, "tokens_seen", "tokens_seen", 0);
  s.world_size = f.count(j, "world_size", "world_size", 1);
  s.bad_steps_in_a_row = f.count(j, "bad_steps_in_a_row", "bad_steps_in_a_row", 0);
  s.bad_steps_total = f.count(j, "bad_steps_total", "bad_steps_total", 0);
  const auto& loader = f.at(j, "loader", "loader");
  if (!loader.is_object()) f.bad("loader", "expected an object");
  if (f.count(loader, "loader.next_step", "next_step", 0) != s.step) f.bad("loader.next_step", "differs from step");
  const auto& cfg = f.at(j, "config", "config");
  if (!cfg.is_object()) f.bad("config", "expected an object, got " + cfg.dump());
  s.config_json = cfg;
  s.cfg = parse_config(cfg.dump(), path + " (field \"config\")", {});
  const auto& files = f.at(j, "files", "files");
  if (!files.is_object()) f.bad("files", "expected an object");
  for (auto it = files.begin(); it != files.end(); ++it) {
    const std::string field = "files." + it.key();
    if (!it.value().is_object()) f.bad(field, "expected {bytes, sha256}");
    FileDigest d;
    d.bytes = static_cast<uint64_t>(f.count(it.value(), field + ".bytes", "bytes", 0));
    d.sha256 = f.str(it.value(), field + ".sha256", "sha256");
    if (d.sha256.size() != 64) f.bad(field + ".sha256", "expected 64 hex digits");
    s.files[it.key()] = d;
  }
  return s;
}

}  // namespace goat::ckpt
