// Token shards in llm.c's format, so shards prepared for llm.c load unchanged and ours load there.
// Layout: a header of 256 little-endian int32 (header[0] magic, header[1] version, header[2] token
// count, the rest zero) followed by the tokens:
//   magic 20240520, version 1: uint16 tokens (GPT-2 and any vocabulary of at most 65,536 ids)
//   magic 20240801, version 7: uint32 tokens (llm.c's convention for larger vocabularies)
// Writers pick the narrowest format for the vocabulary, write to "<path>.tmp" and rename, so a
// reader never sees a half-written shard. ShardReader maps the file read-only and widens tokens
// to int32 on read.
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

namespace goat::data {

inline constexpr int32_t kShardMagicU16 = 20240520;
inline constexpr int32_t kShardVersionU16 = 1;
inline constexpr int32_t kShardMagicU32 = 20240801;
inline constexpr int32_t kShardVersionU32 = 7;
inline constexpr int64_t kShardHeaderInts = 256;
inline constexpr int64_t kShardHeaderBytes = kShardHeaderInts * 4;

// Bytes per token a shard for this vocabulary uses: 2 when every id fits uint16, else 4.
int shard_token_bytes(int64_t vocab_size);

// Writes tokens (each in [0, vocab_size)) as one shard at path (via path.tmp + rename).
void write_shard(const std::string& path, std::span<const int32_t> tokens, int64_t vocab_size);

// Streams tokens into one shard without holding them: append() any number of times, then
// finish() patches the header's token count and renames path.tmp to path. Destroying an
// unfinished writer removes the temporary file. The token count must fit int32 (llm.c's header).
class ShardWriter {
 public:
  ShardWriter(std::string path, int64_t vocab_size);
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  void append(std::span<const int32_t> tokens);
  void finish();
  int64_t num_tokens() const { return count_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_;
  int64_t vocab_size_;
  int width_;
  int64_t count_ = 0;
  std::FILE* f_ = nullptr;
  std::vector<uint8_t> buf_;
};

// A read-only memory map of one shard. Errors name the file and the header field at fault.
class ShardReader {
 public:
  explicit ShardReader(const std::string& path);
  ~ShardReader();
  ShardReader(ShardReader&& o) noexcept;
  ShardReader& operator=(ShardReader&& o) noexcept;
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;

  int64_t num_tokens() const { return num_tokens_; }
  int token_bytes() const { return width_; }  // 2 (version 1) or 4 (version 7)
  int32_t magic() const { return magic_; }
  int32_t version() const { return version_; }
  const std::string& path() const { return path_; }

  // Copies tokens [offset, offset + n) widened to int32 into out (n entries).
  void read(int64_t offset, int64_t n, int32_t* out) const;
  int32_t at(int64_t i) const;

 private:
  void release();
  std::string path_;
  int32_t magic_ = 0, version_ = 0;
  int width_ = 2;
  int64_t num_tokens_ = 0;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  const uint8_t* tokens_ = nullptr;
};

}  // namespace goat::data
