// Token sources (memory, shards) and the window loader.
#include "data/loader.h"

#include <glob.h>

#include <algorithm>
#include <fmt/format.h>

#include "core/check.h"
#include "data/synthetic.h"

namespace goat::data {

void MemorySource::read(int64_t offset, int64_t n, int32_t* out) const {
  GOAT_CHECK(offset >= 0 && n >= 0 && offset + n <= size(), "loader", "read [{}, {}) past the end of {} ({} tokens)",
             offset, offset + n, what_, size());
  for (int64_t i = 0; i < n; ++i) out[i] = tokens_[static_cast<size_t>(offset + i)];
}

ShardSource::ShardSource(const std::string& glob_pattern, int64_t vocab_size) : glob_(glob_pattern), vocab_size_(vocab_size) {
  glob_t g{};
  const int rc = ::glob(glob_pattern.c_str(), 0, nullptr, &g);
  std::vector<std::string> paths;
  if (rc == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) paths.emplace_back(g.gl_pathv[i]);
  globfree(&g);
  GOAT_CHECK(!paths.empty(), "loader", "no token shards match '{}'", glob_pattern);
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) {
    shards_.emplace_back(p);
    starts_.push_back(total_);
    total_ += shards_.back().num_tokens();
  }
}

void ShardSource::read(int64_t offset, int64_t n, int32_t* out) const {
  GOAT_CHECK(offset >= 0 && n >= 0 && offset + n <= total_, "loader", "read [{}, {}) past the end of '{}' ({} tokens)",
             offset, offset + n, glob_, total_);
  while (n > 0) {
    const auto it = std::upper_bound(starts_.begin(), starts_.end(), offset) - 1;
    const size_t s = static_cast<size_t>(it - starts_.begin());
    const int64_t local = offset - starts_[s];
    const int64_t take = std::min(n, shards_[s].num_tokens() - local);
    shards_[s].read(local, take, out);
    for (int64_t i = 0; i < take; ++i)
      GOAT_CHECK(out[i] >= 0 && out[i] < vocab_size_, "loader", "{}: token {} at index {} is outside the vocabulary (size {})",
                 shards_[s].path(), out[i], local + i, vocab_size_);
    out += take;
    offset += take;
    n -= take;
  }
}

std::string ShardSource::describe() const {
  return fmt::format("{} ({} shards, {} tokens)", glob_, shards_.size(), total_);
}

std::shared_ptr<TokenSource> make_source(const Config& cfg, bool validation) {
  const auto& d = cfg.data;
  if (d.source == "shards") {
    const std::string& glob = validation && !d.val_shards.empty() ? d.val_shards : d.train_shards;
    return std::make_shared<ShardSource>(glob, cfg.model.vocab_size);
  }
  const auto& s = d.synthetic;
  const int64_t n = validation ? s.val_tokens : s.train_tokens;
  auto toks = generate_synthetic(s, cfg.train.seq_len, n, validation ? Split::val : Split::train);
  return std::make_shared<MemorySource>(
      std::move(toks), fmt::format("synthetic {} ({}, {} tokens, seed {})", s.task, validation ? "val" : "train", n, s.seed));
}

Loader::Loader(std::shared_ptr<TokenSource> src, int64_t batch, int64_t seq_len, uint64_t seed, RngPurpose purpose,
               RowSlice rows)
    : src_(std::move(src)),
      batch_(batch),
      seq_len_(seq_len),
      global_batch_(rows.global_batch > 0 ? rows.global_batch : batch),
      row_begin_(rows.begin),
      seed_(seed),
      purpose_(purpose) {
  GOAT_CHECK(src_->size() >= seq_len + 1, "loader", "{} has {} tokens, fewer than seq_len + 1 = {}", src_->describe(),
             src_->size(), seq_len + 1);
  GOAT_CHECK(row_begin_ >= 0 && batch_ >= 0 && row_begin_ + batch_ <= global_batch_, "loader",
             "rows [{}, {}) lie outside the global batch of {}", row_begin_, row_begin_ + batch_, global_batch_);
}

void Loader::batch(int64_t step, int64_t micro, int32_t* inputs, int32_t* targets) const {
  const Rng rng(seed_, purpose_, static_cast<uint64_t>(step), 0);
  const uint64_t span = static_cast<uint64_t>(src_->size() - seq_len_);  // starts in [0, N − T − 1]
  std::vector<int32_t> window(static_cast<size_t>(seq_len_ + 1));
  for (int64_t b = 0; b < batch_; ++b) {
    const uint64_t sample = static_cast<uint64_t>(micro * global_batch_ + row_begin_ + b);  // global index
    const int64_t start = static_cast<int64_t>(rng.u64(sample) % span);
    src_->read(start, seq_len_ + 1, window.data());
    std::copy(window.begin(), window.end() - 1, inputs + b * seq_len_);
    std::copy(window.begin() + 1, window.end(), targets + b * seq_len_);
  }
}

}  // namespace goat::data
