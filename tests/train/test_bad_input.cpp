// Every file goatlm reads is untrusted: a table of malformed inputs per parser — config JSON,
// token shards, safetensors, checkpoint state.json — each with the message it must produce
// (naming the file or origin and the field or offset). The fuzz targets (fuzz/) cover the
// inputs no table lists.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <functional>

#include "ckpt_test_util.h"
#include "core/check.h"
#include "data/loader.h"
#include "data/safetensors.h"
#include "data/shard.h"
#include "train/checkpoint_state.h"

using namespace goat;
using namespace goat::test;
namespace fs = std::filesystem;

namespace {

struct Case {
  const char* name;
  std::string input;
  std::vector<const char*> expect;  // substrings of the message
};

void expect_messages(const std::vector<Case>& cases, const std::function<void(const Case&)>& parse) {
  for (const auto& c : cases) {
    const std::string msg = error_of([&] { parse(c); });
    for (const char* e : c.expect) EXPECT_NE(msg.find(e), std::string::npos) << c.name << ": \"" << e << "\" not in: " << msg;
  }
}

TEST(BadInput, Configs) {
  const std::vector<Case> cases = {
      {"invalid JSON", R"({"model": {"n_layer": 2,})", {"cfg.json: invalid JSON", "parse error"}},
      {"number out of range (found by fuzz_config)", R"({"model": 2e522})", {"cfg.json: invalid JSON", "number overflow"}},
      {"root not an object", R"([1, 2])", {"<root>: expected an object, got an array (from cfg.json)"}},
      {"unknown key", R"({"model": {"n_layers": 2}})", {"model.n_layers: unknown key (from cfg.json)", "known keys of model"}},
      {"unknown section", R"({"optim": {}})", {"optim: unknown key (from cfg.json)"}},
      {"wrong type", R"({"train": {"steps": "ten"}})", {"train.steps: expected an integer, got a string \"ten\" (from cfg.json)"}},
      {"float for int", R"({"model": {"d_model": 64.5}})", {"model.d_model: expected an integer, got a number 64.5"}},
      {"negative size", R"({"model": {"d_model": -64}})", {"model.d_model: must be >= 1, got -64 (from cfg.json)"}},
      {"negative batch", R"({"train": {"batch_size": -2}})", {"train.batch_size: must be >= 1, got -2"}},
      {"zero layers", R"({"model": {"n_layer": 0}})", {"model.n_layer: must be >= 1, got 0"}},
      {"n_head not dividing", R"({"model": {"d_model": 100, "n_head": 3}})", {"model.n_head: 3 does not divide model.d_model = 100"}},
      {"goat head too small",
       R"({"model": {"d_model": 32, "n_head": 4, "position": {"type": "goat", "pos_rank": 4}}})",
       {"model.position.pos_rank: 9 prior lanes leave no content dims in a head of 8"}},
      {"enum", R"({"model": {"position": {"type": "rop"}}})", {"model.position.type: expected one of", "got \"rop\" (from cfg.json)"}},
      {"seq_len past max", R"({"train": {"seq_len": 512}, "model": {"max_seq_len": 256}})", {"train.seq_len: 512 exceeds model.max_seq_len = 256"}},
      {"keep_last zero", R"({"train": {"keep_last": 0}})", {"train.keep_last: must be >= 1, got 0"}},
  };
  expect_messages(cases, [](const Case& c) { parse_config(c.input, "cfg.json", {}); });
}

// A valid 100-token uint16 shard with bytes patched.
std::string shard_bytes(int64_t vocab) {
  const auto dir = fresh_temp_dir("shard_src");
  std::vector<int32_t> toks(100);
  for (int i = 0; i < 100; ++i) toks[static_cast<size_t>(i)] = i % 200;
  data::write_shard((dir / "s.bin").string(), toks, vocab);
  return read_file(dir / "s.bin");
}

TEST(BadInput, Shards) {
  const std::string good = shard_bytes(256);
  auto patched = [&](int field, int32_t v) {
    std::string b = good;
    std::memcpy(b.data() + 4 * field, &v, 4);
    return b;
  };
  std::string oov = good;
  oov[data::kShardHeaderBytes + 2 * 7] = static_cast<char>(0x34);  // token 7 → 0x0134 = 308
  oov[data::kShardHeaderBytes + 2 * 7 + 1] = static_cast<char>(0x01);
  const std::vector<Case> cases = {
      {"bad magic", patched(0, 1234), {"bad.bin: header magic 1234 is neither 20240520 (uint16) nor 20240801 (uint32)"}},
      {"bad version", patched(1, 3), {"bad.bin: header version 3 for magic 20240520, expected 1"}},
      {"short header", good.substr(0, 100), {"bad.bin: 100 bytes is shorter than the 1024-byte header"}},
      {"empty", "", {"bad.bin: 0 bytes is shorter than the 1024-byte header"}},
      {"count past end", patched(2, 101), {"bad.bin: header token count 101 needs 1226 bytes, file has 1224"}},
      {"negative count", patched(2, -5), {"bad.bin: header token count -5 is negative"}},
      {"truncated tokens", good.substr(0, good.size() - 3), {"header token count 100 needs 1224 bytes, file has 1221"}},
      {"token >= vocab", oov, {"bad.bin: token 308 at index 7 is outside the vocabulary (size 256)"}},
  };
  const auto dir = fresh_temp_dir("bad_shards");
  expect_messages(cases, [&](const Case& c) {
    const auto p = dir / "bad.bin";
    std::ofstream(p, std::ios::binary | std::ios::trunc) << c.input;
    data::ShardSource src(p.string(), 256);
    std::vector<int32_t> out(static_cast<size_t>(src.size()));
    src.read(0, src.size(), out.data());
  });
}

// safetensors bytes: 8-byte length, header text, `data_bytes` zero bytes.
std::string st(const std::string& header, uint64_t data_bytes, int64_t claimed_len = -1) {
  std::string b(8, '\0');
  const uint64_t n = claimed_len >= 0 ? static_cast<uint64_t>(claimed_len) : header.size();
  for (int i = 0; i < 8; ++i) b[static_cast<size_t>(i)] = static_cast<char>(n >> (8 * i));
  return b + header + std::string(data_bytes, '\0');
}

TEST(BadInput, Safetensors) {
  const std::string a = R"("a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]})";
  const std::vector<Case> cases = {
      {"too short", "abc", {"w.st': 3 bytes, too short for the 8-byte header length"}},
      {"header length past EOF", st("{" + a + "}", 24, 1 << 20), {"w.st': header length 1048576 runs past the end of the file (97 bytes)"}},
      {"header not JSON", st("{\"a\": ", 24), {"w.st': header is not valid JSON"}},
      {"header not object", st("[1, 2]", 24), {"w.st': header is not a JSON object"}},
      {"wrong dtype", st(R"({"a": {"dtype": "F16", "shape": [2, 3], "data_offsets": [0, 12]}})", 12),
       {"w.st': tensor 'a' has dtype F16, expected F32"}},
      {"unknown dtype", st(R"({"a": {"dtype": "F33", "shape": [2, 3], "data_offsets": [0, 24]}})", 24),
       {"w.st': tensor 'a': unknown dtype \"F33\""}},
      {"overlapping offsets",
       st("{" + a + R"(, "b": {"dtype": "F32", "shape": [2, 3], "data_offsets": [16, 40]}})", 40),
       {"w.st': tensors 'a' [0, 24) and 'b' [16, 40) have overlapping data_offsets"}},
      {"offsets past data", st(R"({"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}})", 20),
       {"w.st': tensor 'a': data_offsets [0, 24) do not lie within the 20-byte data section"}},
      {"size mismatch", st(R"({"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}})", 24),
       {"w.st': tensor 'a': data_offsets [0, 20) hold 20 bytes, but shape [2,3] of F32 needs 24"}},
      {"negative shape", st(R"({"a": {"dtype": "F32", "shape": [-2, 3], "data_offsets": [0, 24]}})", 24),
       {"w.st': tensor 'a': shape entries must be non-negative integers"}},
      {"missing field", st(R"({"a": {"dtype": "F32", "shape": [2, 3]}})", 24), {"w.st': tensor 'a': missing field 'data_offsets'"}},
      {"wrong shape", st(R"({"a": {"dtype": "F32", "shape": [3, 2], "data_offsets": [0, 24]}})", 24),
       {"w.st': tensor 'a' has shape [3,2], expected (2, 3)"}},
      {"missing tensor", st(R"({"b": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}})", 24),
       {"w.st': tensor 'a' is missing"}},
      {"metadata not strings", st(R"({"__metadata__": {"k": 1}, )" + a + "}", 24), {"w.st': __metadata__.k must be a string, got 1"}},
  };
  const auto dir = fresh_temp_dir("bad_st");
  Arena arena;
  arena.add("a", Shape{2, 3});
  arena.allocate();
  expect_messages(cases, [&](const Case& c) {
    const auto p = dir / "w.st";
    std::ofstream(p, std::ios::binary | std::ios::trunc) << c.input;
    data::load_safetensors(p.string(), arena);
  });
}

TEST(BadInput, CheckpointState) {
  ckpt::StateInfo s;
  s.step = 4;
  s.files["model.safetensors"] = {10, std::string(64, 'a')};
  const std::string good = ckpt::format_state(s);
  EXPECT_EQ(ckpt::parse_state(good, "state.json").step, 4);
  // Edits that keep a valid checksum, so the field checks themselves are reached.
  auto edited = [&](const std::function<void(OrderedJson&)>& edit) {
    OrderedJson j = OrderedJson::parse(good);
    edit(j);
    j.erase("state_sha256");
    const std::string text = j.dump();
    j["state_sha256"] = sha256_hex(text.data(), text.size());
    return j.dump();
  };
  const std::vector<Case> cases = {
      {"not JSON", good.substr(0, good.size() / 2), {"'state.json': not valid JSON"}},
      {"checksum", std::string(good).replace(good.find("\"step\": 4"), 9, "\"step\": 5"),
       {"'state.json': field \"state_sha256\": does not match the file's content"}},
      {"format", edited([](OrderedJson& j) { j["format"] = "other"; }), {"field \"format\": expected \"goatlm-checkpoint\""}},
      {"version", edited([](OrderedJson& j) { j["version"] = 9; }), {"field \"version\": this goatlm reads version 1, got 9"}},
      {"missing step", edited([](OrderedJson& j) { j.erase("step"); }), {"field \"step\": missing"}},
      {"negative step", edited([](OrderedJson& j) { j["step"] = -1; }), {"field \"step\": expected >= 0, got -1"}},
      {"string step", edited([](OrderedJson& j) { j["step"] = "4"; }), {"field \"step\": expected an integer, got \"4\""}},
      {"world size", edited([](OrderedJson& j) { j["world_size"] = 0; }), {"field \"world_size\": expected >= 1, got 0"}},
      {"loader", edited([](OrderedJson& j) { j["loader"]["next_step"] = 3; }), {"field \"loader.next_step\": differs from step"}},
      {"bad config", edited([](OrderedJson& j) { j["config"]["model"]["d_model"] = -1; }),
       {"model.d_model: must be >= 1, got -1 (from state.json (field \"config\"))"}},
      {"sha length", edited([](OrderedJson& j) { j["files"]["model.safetensors"]["sha256"] = "abc"; }),
       {"field \"files.model.safetensors.sha256\": expected 64 hex digits"}},
  };
  expect_messages(cases, [](const Case& c) { ckpt::parse_state(c.input, "state.json"); });
}

}  // namespace
