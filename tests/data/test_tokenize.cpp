// goatlm tokenize: chunked, multi-threaded encoding equals encoding each whole file; documents are
// preceded by the end-of-text id; shards rotate at --shard-tokens; the val split and the output do
// not depend on the thread count; manifest checksums match sha256sum; the CLI runs and reports a
// missing input by name. Also the Brown detokenizer.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "data/bpe.h"
#include "data/corpus_prepare.h"
#include "data/corpus_tokenize.h"
#include "data/shard.h"
#include "gpt2_fixture.h"

namespace goat::data {
namespace {

namespace fs = std::filesystem;

// A corpus of several files that exercises every cut rule: long lines, CRLF, runs of spaces and
// tabs, blank lines, multi-byte characters and invalid bytes near the chunk edges.
fs::path write_corpus(const std::string& tag) {
  const auto dir = test::fresh_temp_dir("corpus_" + tag) / "in";
  fs::create_directories(dir / "sub");
  std::string big;
  const auto texts = test::random_texts(2000, 11);
  for (size_t i = 0; i < texts.size(); ++i) big += texts[i] + (i % 7 == 0 ? "\n\n" : i % 5 == 0 ? " \t \n" : " ");
  std::ofstream(dir / "a_big.txt", std::ios::binary) << big;
  std::string hp;
  for (const auto& t : test::handpicked_texts()) hp += t + "\r\n";
  std::ofstream(dir / "b_handpicked.txt", std::ios::binary) << hp;
  std::string bad;
  for (const auto& t : test::invalid_utf8_texts()) bad += t + "    ";
  std::ofstream(dir / "sub" / "c_invalid.txt", std::ios::binary) << bad;
  std::ofstream(dir / "sub" / "d_empty.txt", std::ios::binary) << "";
  std::ofstream(dir / ".hidden", std::ios::binary) << "skipped";
  return dir;
}

std::vector<int32_t> read_split(const fs::path& dir, const std::vector<std::string>& files) {
  std::vector<int32_t> all;
  for (const auto& f : files) {
    ShardReader r((dir / f).string());
    const auto n = all.size();
    all.resize(n + static_cast<size_t>(r.num_tokens()));
    r.read(0, r.num_tokens(), all.data() + n);
  }
  return all;
}

void expect_exact(const std::string& spec, const std::string& tag) {
  const auto in = write_corpus(tag);
  const auto files = list_input_files({in.string()});
  ASSERT_EQ(files.size(), 4u);  // sorted, recursive, hidden file skipped
  auto tok = make_tokenizer(spec);
  std::vector<int32_t> want;
  for (const auto& f : files) {
    want.push_back(tok->eot_id());
    tok->encode(test::read_file(f), want);
  }
  TokenizeOptions opt;
  opt.tokenizer = spec;
  opt.inputs = {in.string()};
  opt.out_dir = (in.parent_path() / "out").string();
  opt.chunk_bytes = 256;  // hundreds of cuts
  opt.shard_tokens = 5000;
  opt.threads = 2;
  opt.progress = false;
  const auto rep = tokenize_corpus(opt);
  EXPECT_EQ(rep.documents, 4);
  EXPECT_EQ(rep.train.tokens, static_cast<int64_t>(want.size()));
  EXPECT_EQ(rep.train.files.size(), (want.size() + 4999) / 5000);
  EXPECT_TRUE(rep.val.files.empty());
  const auto got = read_split(opt.out_dir, rep.train.files);
  ASSERT_EQ(got.size(), want.size());
  size_t first_diff = 0;
  while (first_diff < got.size() && got[first_diff] == want[first_diff]) ++first_diff;
  EXPECT_EQ(first_diff, got.size()) << spec << ": first difference at token " << first_diff;
}

TEST(Tokenize, ChunkedEqualsWholeFilesByte) { expect_exact("byte", "byte"); }

TEST(Tokenize, ChunkedEqualsWholeFilesGpt2) {
  if (test::gpt2_root().empty()) GTEST_SKIP() << "GPT-2 files unavailable (scripts/get_gpt2_tokenizer.sh)";
  expect_exact("gpt2:" + (test::gpt2_root() / "gpt2").string(), "gpt2");
}

TEST(Tokenize, ChunkedEqualsWholeFilesTokenizerJsonWithPrefixSpace) {
  // add_prefix_space applies at the start of a document only, not at every chunk.
  if (test::gpt2_root().empty()) GTEST_SKIP() << "GPT-2 files unavailable (scripts/get_gpt2_tokenizer.sh)";
  auto j = test::gpt2_tokenizer_json(test::gpt2_root() / "gpt2");
  j["pre_tokenizer"]["add_prefix_space"] = true;
  const auto path = test::fresh_temp_dir("hf_prefix") / "tokenizer.json";
  std::ofstream(path) << j.dump();
  expect_exact("hf:" + path.string(), "hf_prefix");
}

TEST(Tokenize, ValSplitAndThreadIndependenceAndChecksums) {
  const auto in = write_corpus("val");
  auto run = [&](int threads, const std::string& name) {
    TokenizeOptions opt;
    opt.inputs = {in.string()};
    opt.out_dir = (in.parent_path() / name).string();
    opt.chunk_bytes = 512;
    opt.val_fraction = 0.25;
    opt.threads = threads;
    opt.progress = false;
    return tokenize_corpus(opt);
  };
  const auto r1 = run(1, "t1"), r2 = run(2, "t2");
  const int64_t total = static_cast<int64_t>(test::read_file(in / "a_big.txt").size() +
                                             test::read_file(in / "b_handpicked.txt").size() +
                                             test::read_file(in / "sub/c_invalid.txt").size()) + 4;
  EXPECT_EQ(r1.train.tokens + r1.val.tokens, total);  // byte tokenizer: one id per byte + 4 eot
  const double frac = static_cast<double>(r1.val.tokens) / static_cast<double>(total);
  EXPECT_GT(frac, 0.15);
  EXPECT_LT(frac, 0.35);
  const auto m1 = nlohmann::json::parse(test::read_file(in.parent_path() / "t1/manifest.json"));
  const auto m2 = nlohmann::json::parse(test::read_file(in.parent_path() / "t2/manifest.json"));
  EXPECT_EQ(m1["train"], m2["train"]);
  EXPECT_EQ(m1["val"], m2["val"]);
  EXPECT_EQ(m1["tokenizer"], "byte");
  EXPECT_EQ(m1["vocab_size"], 256);
  EXPECT_EQ(m1["documents"], 4);
  std::string out;
  if (test::run_command("sha256sum " + (in.parent_path() / "t1/train_000000.bin").string(), &out) == 0) {
    EXPECT_EQ(out.substr(0, 64), m1["train"]["shards"][0]["sha256"].get<std::string>());
  }
}

TEST(Tokenize, CliRunsAndNamesAMissingInput) {
  const auto bin_path = test::goatlm_binary();
  if (bin_path.empty()) GTEST_SKIP() << "goatlm binary not found ($GOATLM_BINARY or <build>/goatlm)";
  const std::string bin = bin_path.string();
  const auto in = write_corpus("cli");
  const auto out = in.parent_path() / "out";
  EXPECT_EQ(test::run_command(bin + " tokenize --quiet --tokenizer byte --input " + in.string() +
                              " --out " + out.string() + " --val-fraction 0.1 >/dev/null 2>&1"),
            0);
  EXPECT_TRUE(fs::exists(out / "manifest.json"));
  EXPECT_TRUE(fs::exists(out / "val_000000.bin"));
  std::string err;
  EXPECT_EQ(test::run_command(bin + " tokenize --quiet --input /nonexistent/corpus --out " + out.string() +
                                  " 2>&1",
                              &err),
            1);
  EXPECT_NE(err.find("/nonexistent/corpus"), std::string::npos) << err;
}

TEST(Brown, StripsTagsAndDetokenizes) {
  const std::string tagged =
      "\n\n\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, Atlanta's/np$ 1/2/cd ./.\n\n\n"
      "\tIt/pps ran/vbd (/( fast/rb )/) ;/. ok/uh ?/.\n";
  EXPECT_EQ(brown_to_text(tagged), "The jury said \"no evidence\", Atlanta's 1/2.\nIt ran (fast); ok?\n");
}

}  // namespace
}  // namespace goat::data
