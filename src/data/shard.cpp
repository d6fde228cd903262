// llm.c-format token shards: header handling, streaming writer (tmp + rename) and mmap reader.
// All integers are little-endian on disk, as llm.c writes them with numpy on x86.
#include "data/shard.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "core/check.h"

namespace goat::data {

int shard_token_bytes(int64_t vocab_size) {
  GOAT_CHECK(vocab_size > 0 && vocab_size <= (int64_t{1} << 32), "shard", "vocab_size {} out of range (1..2^32)",
             vocab_size);
  return vocab_size <= 65536 ? 2 : 4;
}

void write_shard(const std::string& path, std::span<const int32_t> tokens, int64_t vocab_size) {
  ShardWriter w(path, vocab_size);
  w.append(tokens);
  w.finish();
}

// ---- writer ----------------------------------------------------------------------------------

namespace {
void write_header(std::FILE* f, const std::string& path, int width, int64_t count) {
  int32_t header[kShardHeaderInts] = {};
  header[0] = width == 2 ? kShardMagicU16 : kShardMagicU32;
  header[1] = width == 2 ? kShardVersionU16 : kShardVersionU32;
  header[2] = static_cast<int32_t>(count);
  GOAT_CHECK(std::fseek(f, 0, SEEK_SET) == 0, "shard", "{}: seek failed: {}", path, std::strerror(errno));
  GOAT_CHECK(std::fwrite(header, sizeof(header), 1, f) == 1, "shard", "{}: header write failed: {}", path,
             std::strerror(errno));
}
}  // namespace

ShardWriter::ShardWriter(std::string path, int64_t vocab_size)
    : path_(std::move(path)), tmp_(path_ + ".tmp"), vocab_size_(vocab_size), width_(shard_token_bytes(vocab_size)) {
  f_ = std::fopen(tmp_.c_str(), "wb");
  GOAT_CHECK(f_ != nullptr, "shard", "cannot create {}: {}", tmp_, std::strerror(errno));
  write_header(f_, tmp_, width_, 0);
}

ShardWriter::~ShardWriter() {
  if (f_ != nullptr) {
    std::fclose(f_);
    std::remove(tmp_.c_str());
  }
}

void ShardWriter::append(std::span<const int32_t> tokens) {
  GOAT_CHECK(f_ != nullptr, "shard", "{}: append after finish", path_);
  GOAT_CHECK(count_ + static_cast<int64_t>(tokens.size()) <= std::numeric_limits<int32_t>::max(), "shard",
             "{}: more than 2^31-1 tokens do not fit the llm.c header's int32 count", path_);
  buf_.resize(tokens.size() * static_cast<size_t>(width_));
  uint8_t* p = buf_.data();
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int32_t t = tokens[i];
    GOAT_CHECK(t >= 0 && t < vocab_size_, "shard", "{}: token {} at position {} outside vocabulary [0, {})", path_, t,
               count_ + static_cast<int64_t>(i), vocab_size_);
    const uint32_t u = static_cast<uint32_t>(t);
    if (width_ == 2) {
      p[2 * i] = static_cast<uint8_t>(u);
      p[2 * i + 1] = static_cast<uint8_t>(u >> 8);
    } else {
      for (int b = 0; b < 4; ++b) p[4 * i + b] = static_cast<uint8_t>(u >> (8 * b));
    }
  }
  if (!buf_.empty()) {
    GOAT_CHECK(std::fwrite(buf_.data(), buf_.size(), 1, f_) == 1, "shard", "{}: write failed: {}", tmp_,
               std::strerror(errno));
  }
  count_ += static_cast<int64_t>(tokens.size());
}

void ShardWriter::finish() {
  GOAT_CHECK(f_ != nullptr, "shard", "{}: finish called twice", path_);
  write_header(f_, tmp_, width_, count_);
  const bool flushed = std::fflush(f_) == 0 && ::fsync(::fileno(f_)) == 0;
  const bool closed = std::fclose(f_) == 0;
  f_ = nullptr;
  if (!flushed || !closed) {
    std::remove(tmp_.c_str());
    fail("shard", "{}: flush/close failed: {}", tmp_, std::strerror(errno));
  }
  GOAT_CHECK(std::rename(tmp_.c_str(), path_.c_str()) == 0, "shard", "rename {} -> {} failed: {}", tmp_, path_,
             std::strerror(errno));
}

// ---- reader ----------------------------------------------------------------------------------

ShardReader::ShardReader(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  GOAT_CHECK(fd >= 0, "shard", "cannot open {}: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    fail("shard", "cannot stat {}: {}", path, std::strerror(errno));
  }
  const auto size = static_cast<int64_t>(st.st_size);
  if (size < kShardHeaderBytes) {
    ::close(fd);
    fail("shard", "{}: {} bytes is shorter than the {}-byte header", path, size, kShardHeaderBytes);
  }
  map_bytes_ = static_cast<size_t>(size);
  map_ = ::mmap(nullptr, map_bytes_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    fail("shard", "cannot mmap {}: {}", path, std::strerror(errno));
  }
  int32_t header[3];
  std::memcpy(header, map_, sizeof(header));
  magic_ = header[0];
  version_ = header[1];
  try {
    if (magic_ == kShardMagicU16) {
      GOAT_CHECK(version_ == kShardVersionU16, "shard", "{}: header version {} for magic {}, expected {}", path,
                 version_, magic_, kShardVersionU16);
      width_ = 2;
    } else if (magic_ == kShardMagicU32) {
      GOAT_CHECK(version_ == kShardVersionU32, "shard", "{}: header version {} for magic {}, expected {}", path,
                 version_, magic_, kShardVersionU32);
      width_ = 4;
    } else {
      fail("shard", "{}: header magic {} is neither {} (uint16) nor {} (uint32); not an llm.c token shard", path,
           magic_, kShardMagicU16, kShardMagicU32);
    }
    num_tokens_ = header[2];
    GOAT_CHECK(num_tokens_ >= 0, "shard", "{}: header token count {} is negative", path, num_tokens_);
    const int64_t expect = kShardHeaderBytes + num_tokens_ * width_;
    GOAT_CHECK(expect == size, "shard", "{}: header token count {} needs {} bytes, file has {}", path, num_tokens_,
               expect, size);
  } catch (...) {
    release();
    throw;
  }
  tokens_ = static_cast<const uint8_t*>(map_) + kShardHeaderBytes;
  ::madvise(map_, map_bytes_, MADV_RANDOM);
}

ShardReader::~ShardReader() { release(); }

ShardReader::ShardReader(ShardReader&& o) noexcept { *this = std::move(o); }

ShardReader& ShardReader::operator=(ShardReader&& o) noexcept {
  if (this != &o) {
    release();
    path_ = std::move(o.path_);
    magic_ = o.magic_;
    version_ = o.version_;
    width_ = o.width_;
    num_tokens_ = o.num_tokens_;
    map_ = std::exchange(o.map_, nullptr);
    map_bytes_ = std::exchange(o.map_bytes_, 0);
    tokens_ = std::exchange(o.tokens_, nullptr);
  }
  return *this;
}

void ShardReader::release() {
  if (map_ != nullptr) ::munmap(map_, map_bytes_);
  map_ = nullptr;
  map_bytes_ = 0;
  tokens_ = nullptr;
}

void ShardReader::read(int64_t offset, int64_t n, int32_t* out) const {
  GOAT_CHECK(offset >= 0 && n >= 0 && offset + n <= num_tokens_, "shard", "{}: read [{}, {}) outside [0, {})", path_,
             offset, offset + n, num_tokens_);
  if (width_ == 2) {
    const uint8_t* p = tokens_ + offset * 2;
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int32_t>(p[2 * i] | (p[2 * i + 1] << 8));
  } else {
    const uint8_t* p = tokens_ + offset * 4;
    for (int64_t i = 0; i < n; ++i) {
      uint32_t u = 0;
      std::memcpy(&u, p + 4 * i, 4);  // little-endian host (x86-64, aarch64)
      out[i] = static_cast<int32_t>(u);
    }
  }
}

int32_t ShardReader::at(int64_t i) const {
  int32_t v = 0;
  read(i, 1, &v);
  return v;
}

}  // namespace goat::data
