// Token shards: write -> read round trips in both widths, header errors name file and field, and
// shards written by llm.c's own numpy writer (reproduced in make_llmc_fixture.py) load unchanged.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <vector>

#include "core/check.h"
#include "data/shard.h"
#include "data_test_util.h"

namespace goat::data {
namespace {

std::vector<int32_t> pseudo_tokens(int64_t n, int64_t vocab) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  uint64_t x = 88172645463325252ull;
  for (auto& v : t) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    v = static_cast<int32_t>(x % static_cast<uint64_t>(vocab));
  }
  t.front() = static_cast<int32_t>(vocab - 1);
  t.back() = 0;
  return t;
}

void expect_round_trip(int64_t vocab, int expect_width, int32_t expect_magic) {
  const auto dir = test::fresh_temp_dir("shard_rt");
  const auto path = (dir / "s.bin").string();
  const auto toks = pseudo_tokens(10007, vocab);
  write_shard(path, toks, vocab);
  ShardReader r(path);
  EXPECT_EQ(r.token_bytes(), expect_width);
  EXPECT_EQ(r.magic(), expect_magic);
  ASSERT_EQ(r.num_tokens(), static_cast<int64_t>(toks.size()));
  std::vector<int32_t> back(toks.size());
  r.read(0, r.num_tokens(), back.data());
  EXPECT_EQ(back, toks);
  std::vector<int32_t> mid(17);
  r.read(5000, 17, mid.data());
  EXPECT_TRUE(std::equal(mid.begin(), mid.end(), toks.begin() + 5000));
  EXPECT_EQ(std::filesystem::file_size(path), static_cast<uintmax_t>(1024 + toks.size() * expect_width));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(Shard, RoundTripUint16) { expect_round_trip(50257, 2, kShardMagicU16); }
TEST(Shard, RoundTripUint16FullRange) { expect_round_trip(65536, 2, kShardMagicU16); }
TEST(Shard, RoundTripUint32) { expect_round_trip(128256, 4, kShardMagicU32); }

TEST(Shard, StreamingWriterMatchesOneShot) {
  const auto dir = test::fresh_temp_dir("shard_stream");
  const auto toks = pseudo_tokens(3000, 256);
  {
    ShardWriter w((dir / "a.bin").string(), 256);
    for (size_t i = 0; i < toks.size(); i += 700)
      w.append(std::span<const int32_t>(toks).subspan(i, std::min<size_t>(700, toks.size() - i)));
    w.finish();
  }
  write_shard((dir / "b.bin").string(), toks, 256);
  EXPECT_EQ(test::read_file(dir / "a.bin"), test::read_file(dir / "b.bin"));
}

TEST(Shard, UnfinishedWriterLeavesNothing) {
  const auto dir = test::fresh_temp_dir("shard_unfinished");
  {
    ShardWriter w((dir / "a.bin").string(), 256);
    w.append(pseudo_tokens(10, 256));
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir));
}

TEST(Shard, RejectsOutOfVocabularyToken) {
  const auto dir = test::fresh_temp_dir("shard_oov");
  const std::vector<int32_t> toks = {1, 2, 256};
  EXPECT_THROW(write_shard((dir / "a.bin").string(), toks, 256), Error);
}

std::string error_of(const std::string& path) {
  try {
    ShardReader r(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Shard, HeaderErrorsNameFileAndField) {
  const auto dir = test::fresh_temp_dir("shard_bad");
  const auto good = (dir / "good.bin").string();
  write_shard(good, pseudo_tokens(100, 256), 256);
  const std::string bytes = test::read_file(good);
  auto patched = [&](int field, int32_t value, const std::string& name) {
    std::string b = bytes;
    std::memcpy(b.data() + 4 * field, &value, 4);
    const auto p = (dir / name).string();
    std::ofstream(p, std::ios::binary) << b;
    return p;
  };
  const auto bad_magic = patched(0, 1234, "magic.bin");
  EXPECT_NE(error_of(bad_magic).find("magic.bin"), std::string::npos);
  EXPECT_NE(error_of(bad_magic).find("magic 1234"), std::string::npos);
  EXPECT_NE(error_of(patched(1, 3, "version.bin")).find("version 3"), std::string::npos);
  EXPECT_NE(error_of(patched(2, 101, "count.bin")).find("token count 101"), std::string::npos);
  const auto short_path = (dir / "short.bin").string();
  std::ofstream(short_path, std::ios::binary) << "abc";
  EXPECT_NE(error_of(short_path).find("short.bin"), std::string::npos);
  EXPECT_NE(error_of((dir / "missing.bin").string()).find("missing.bin"), std::string::npos);
}

TEST(Shard, LoadsLlmcFixture) {
  if (test::run_command("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0)
    GTEST_SKIP() << "/usr/bin/python3 with numpy not available to write the llm.c fixture";
  const auto dir = test::fresh_temp_dir("shard_llmc");
  const auto script = test::source_dir() / "tests/data/make_llmc_fixture.py";
  ASSERT_EQ(test::run_command("/usr/bin/python3 " + script.string() + " " + dir.string()), 0);
  for (const auto& [name, width] : {std::pair{"gpt2", 2}, std::pair{"llama3", 4}}) {
    std::vector<int32_t> expect;
    std::ifstream txt(dir / (std::string(name) + ".txt"));
    for (int64_t v = 0; txt >> v;) expect.push_back(static_cast<int32_t>(v));
    ShardReader r((dir / (std::string(name) + ".bin")).string());
    EXPECT_EQ(r.token_bytes(), width) << name;
    ASSERT_EQ(r.num_tokens(), static_cast<int64_t>(expect.size())) << name;
    std::vector<int32_t> got(expect.size());
    r.read(0, r.num_tokens(), got.data());
    EXPECT_EQ(got, expect) << name;
  }
}

}  // namespace
}  // namespace goat::data
