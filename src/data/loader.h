// Token sources and the training loader: random windows of seq_len + 1 tokens.
//
// A TokenSource is one long token stream: the synthetic corpus held in memory, or token shards
// (llm.c format) matched by a glob and read as one concatenated stream. The Loader draws window
// starts from Philox keyed by (seed, purpose, step) and the GLOBAL sample index micro · B + j of
// row j of the global micro-batch of B rows, so the global batch of any step is a pure function of
// (seed, purpose, step): runs are reproducible and resumable, and a data-parallel rank that loads
// rows [begin, begin + batch) of it reads the same samples on any world size.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/philox.h"
#include "data/shard.h"

namespace goat::data {

class TokenSource {
 public:
  virtual ~TokenSource() = default;
  virtual int64_t size() const = 0;
  // Copies tokens [offset, offset + n) into out.
  virtual void read(int64_t offset, int64_t n, int32_t* out) const = 0;
  virtual std::string describe() const = 0;
};

class MemorySource final : public TokenSource {
 public:
  MemorySource(std::vector<uint16_t> tokens, std::string what) : tokens_(std::move(tokens)), what_(std::move(what)) {}
  int64_t size() const override { return static_cast<int64_t>(tokens_.size()); }
  void read(int64_t offset, int64_t n, int32_t* out) const override;
  std::string describe() const override { return what_; }
  const std::vector<uint16_t>& tokens() const { return tokens_; }

 private:
  std::vector<uint16_t> tokens_;
  std::string what_;
};

// The shards matching a glob (sorted by name), as one stream. Errors name the glob when nothing
// matches and the shard when a token is out of the vocabulary.
class ShardSource final : public TokenSource {
 public:
  ShardSource(const std::string& glob, int64_t vocab_size);
  int64_t size() const override { return total_; }
  void read(int64_t offset, int64_t n, int32_t* out) const override;
  std::string describe() const override;

 private:
  std::string glob_;
  int64_t vocab_size_;
  std::vector<ShardReader> shards_;
  std::vector<int64_t> starts_;  // cumulative token offsets
  int64_t total_ = 0;
};

// The train (split "train") or validation source named by the config's data section.
std::shared_ptr<TokenSource> make_source(const Config& cfg, bool validation);

// A rank's rows of the global micro-batch: [begin, begin + batch) of global_batch rows.
struct RowSlice {
  int64_t global_batch = 0;  // 0: the loader's own batch (one rank)
  int64_t begin = 0;
};

class Loader {
 public:
  // batch: rows this loader fills (the rank's share of rows.global_batch).
  Loader(std::shared_ptr<TokenSource> src, int64_t batch, int64_t seq_len, uint64_t seed, RngPurpose purpose,
         RowSlice rows = {});

  // Fills inputs (batch, T) and targets (batch, T) with rows [begin, begin + batch) of global
  // micro-batch `micro` of step `step`.
  void batch(int64_t step, int64_t micro, int32_t* inputs, int32_t* targets) const;

  int64_t batch_size() const { return batch_; }
  int64_t global_batch_size() const { return global_batch_; }
  int64_t seq_len() const { return seq_len_; }
  const TokenSource& source() const { return *src_; }

 private:
  std::shared_ptr<TokenSource> src_;
  int64_t batch_, seq_len_;
  int64_t global_batch_, row_begin_;
  uint64_t seed_;
  RngPurpose purpose_;
};

}  // namespace goat::data
