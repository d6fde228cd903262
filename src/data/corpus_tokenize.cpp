// The tokenize pipeline (see corpus_tokenize.h): chunk reader, parallel encode, ordered shard
// writer with rotation, progress line, manifest.
#include "data/corpus_tokenize.h"

#include <omp.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "data/shard.h"
#include "data/tokenizer.h"
#include "data/unicode.h"

namespace goat::data {

namespace fs = std::filesystem;

std::vector<std::string> list_input_files(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const auto& in : inputs) {
    GOAT_CHECK(fs::exists(in), "tokenize", "input {} does not exist", in);
    if (fs::is_directory(in)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(in); it != fs::recursive_directory_iterator(); ++it) {
        const auto name = it->path().filename().string();
        if (!name.empty() && name[0] == '.') {
          if (it->is_directory()) it.disable_recursion_pending();
          continue;
        }
        if (it->is_regular_file()) found.push_back(it->path().string());
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(in);
    }
  }
  return files;
}

size_t find_safe_cut(std::string_view s, size_t lo, size_t hi) {
  // Cut before an ASCII whitespace byte that follows an ASCII non-whitespace byte. The left part
  // then ends in a non-space, so its last piece (a run or contraction) is the same with or without
  // the text after it; and no piece spans the cut, since runs and contractions never contain
  // whitespace and " ?" only takes a space at a piece's start. ASCII bytes are never part of a
  // multi-byte UTF-8 unit, so the test needs no decoding.
  auto ascii_space = [](unsigned char c) { return c == ' ' || (c >= 0x09 && c <= 0x0D); };
  for (size_t p = std::min(hi, s.size() - 1); p > lo && p > 0; --p) {
    const auto a = static_cast<unsigned char>(s[p - 1]), b = static_cast<unsigned char>(s[p]);
    if (ascii_space(b) && a < 0x80 && !ascii_space(a)) return p;
  }
  return 0;
}

std::string sha256_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  GOAT_CHECK(f.good(), "tokenize", "cannot read {} for its checksum", path);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  GOAT_CHECK(ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1, "tokenize", "SHA-256 init failed");
  std::vector<char> buf(1 << 20);
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (f.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(f.gcount()));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &n);
  std::string hex;
  for (unsigned i = 0; i < n; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

namespace {

struct Chunk {
  std::string text;
  bool doc_start = false;
  std::vector<int32_t> ids;
};

// Reads the input files as a sequence of chunks cut at safe places.
class ChunkReader {
 public:
  ChunkReader(std::vector<std::string> files, int64_t chunk_bytes, bool any_cut)
      : files_(std::move(files)), chunk_(static_cast<size_t>(chunk_bytes)), any_cut_(any_cut) {}

  // Fills c; false at the end of the corpus.
  bool next(Chunk& c) {
    while (true) {
      if (!in_.is_open()) {
        if (file_ >= files_.size()) return false;
        in_.open(files_[file_], std::ios::binary);
        GOAT_CHECK(in_.good(), "tokenize", "cannot open {}", files_[file_]);
        doc_start_ = true;
        carry_.clear();
      }
      std::string buf = std::move(carry_);
      carry_.clear();
      bool eof = false;
      for (size_t want = chunk_;; want *= 2) {  // a window without a safe cut (a giant word) grows
        while (buf.size() < want && !eof) {
          const size_t old = buf.size();
          buf.resize(want);
          in_.read(buf.data() + old, static_cast<std::streamsize>(want - old));
          buf.resize(old + static_cast<size_t>(in_.gcount()));
          eof = in_.gcount() == 0 || in_.eof();
        }
        if (eof) break;
        const size_t cut = any_cut_ ? buf.size() : find_safe_cut(buf, buf.size() / 2, buf.size() - 1);
        if (cut > 0) {
          carry_.assign(buf, cut);
          buf.resize(cut);
          break;
        }
      }
      if (eof) {
        in_.close();
        ++file_;
        ++documents_;
      }
      if (buf.empty() && !doc_start_) continue;
      c.text = std::move(buf);
      c.doc_start = std::exchange(doc_start_, false);
      return true;
    }
  }
  int64_t documents() const { return documents_; }

 private:
  std::vector<std::string> files_;
  size_t chunk_;
  bool any_cut_;
  size_t file_ = 0;
  std::ifstream in_;
  std::string carry_;
  bool doc_start_ = false;
  int64_t documents_ = 0;
};

// One split's shard sequence: rotates to a new file every shard_tokens tokens.
class SplitWriter {
 public:
  SplitWriter(std::string dir, std::string prefix, int64_t vocab, int64_t shard_tokens)
      : dir_(std::move(dir)), prefix_(std::move(prefix)), vocab_(vocab), per_shard_(shard_tokens) {}

  void append(std::span<const int32_t> ids) {
    while (!ids.empty()) {
      if (!w_) {
        const auto name = fmt::format("{}_{:06d}.bin", prefix_, split_.files.size());
        split_.files.push_back(name);
        w_ = std::make_unique<ShardWriter>((fs::path(dir_) / name).string(), vocab_);
      }
      const auto room = static_cast<size_t>(per_shard_ - w_->num_tokens());
      const size_t n = std::min(room, ids.size());
      w_->append(ids.subspan(0, n));
      split_.tokens += static_cast<int64_t>(n);
      ids = ids.subspan(n);
      if (w_->num_tokens() == per_shard_) close();
    }
  }
  void close() {
    if (w_) w_->finish();
    w_.reset();
  }
  const TokenizeSplit& split() const { return split_; }

 private:
  std::string dir_, prefix_;
  int64_t vocab_, per_shard_;
  std::unique_ptr<ShardWriter> w_;
  TokenizeSplit split_;
};

class Progress {
 public:
  Progress(int64_t total, bool on) : total_(std::max<int64_t>(total, 1)), on_(on), tty_(::isatty(2) != 0) {}
  void update(int64_t done, int64_t tokens, bool final = false) {
    if (!on_) return;
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    const double frac = static_cast<double>(done) / static_cast<double>(total_);
    const bool due = tty_ ? t - last_ >= 0.2 : frac - last_frac_ >= 0.1;
    if (!due && !final) return;
    last_ = t, last_frac_ = frac;
    const int width = 30, filled = static_cast<int>(frac * width);
    fmt::print(stderr, "{}[{}{}] {:5.1f}% {:8.1f} MB/s {:>10.2f} M tokens{}", tty_ ? "\r" : "",
               std::string(static_cast<size_t>(std::min(filled, width)), '='),
               std::string(static_cast<size_t>(width - std::min(filled, width)), ' '), 100 * frac,
               static_cast<double>(done) / std::max(t, 1e-9) * 1e-6, static_cast<double>(tokens) * 1e-6,
               tty_ && !final ? "" : "\n");
  }

 private:
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  int64_t total_;
  bool on_, tty_;
  double last_ = -1, last_frac_ = -1;
};

}  // namespace

TokenizeReport tokenize_corpus(const TokenizeOptions& opt) {
  GOAT_CHECK(opt.val_fraction >= 0 && opt.val_fraction < 1, "tokenize", "--val-fraction {} outside [0, 1)",
             opt.val_fraction);
  GOAT_CHECK(opt.shard_tokens > 0 && opt.shard_tokens < (int64_t{1} << 31), "tokenize",
             "--shard-tokens {} outside [1, 2^31)", opt.shard_tokens);
  GOAT_CHECK(!opt.inputs.empty(), "tokenize", "no --input given");
  const auto t0 = std::chrono::steady_clock::now();
  auto proto = make_tokenizer(opt.tokenizer);
  const auto files = list_input_files(opt.inputs);
  GOAT_CHECK(!files.empty(), "tokenize", "no input files under {}", fmt::join(opt.inputs, ", "));
  int64_t total_bytes = 0;
  for (const auto& f : files) total_bytes += static_cast<int64_t>(fs::file_size(f));
  fs::create_directories(opt.out_dir);

  const int threads = opt.threads > 0 ? opt.threads : omp_get_max_threads();
  std::vector<std::unique_ptr<Tokenizer>> toks;
  for (int t = 0; t < threads; ++t) toks.push_back(proto->clone());
  const bool is_byte = opt.tokenizer == "byte";
  // At least ~64 chunks when the corpus allows, so a small corpus still gets a spread-out val split.
  const int64_t chunk_bytes = std::max<int64_t>(1, std::min<int64_t>(opt.chunk_bytes, std::max<int64_t>(total_bytes / 64, 4096)));
  ChunkReader reader(files, chunk_bytes, is_byte);
  SplitWriter train(opt.out_dir, "train", proto->vocab_size(), opt.shard_tokens);
  SplitWriter val(opt.out_dir, "val", proto->vocab_size(), opt.shard_tokens);
  Progress progress(total_bytes, opt.progress);
  const int32_t eot = proto->eot_id();

  TokenizeReport rep;
  std::vector<Chunk> batch(static_cast<size_t>(threads) * 2);
  int64_t chunk_index = 0, done_bytes = 0;
  while (true) {
    size_t n = 0;
    while (n < batch.size() && reader.next(batch[n])) ++n;
    if (n == 0) break;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (size_t i = 0; i < n; ++i) {
      Chunk& c = batch[i];
      c.ids.clear();
      auto& tok = *toks[static_cast<size_t>(omp_get_thread_num())];
      if (c.doc_start) {
        c.ids.push_back(eot);
        tok.encode(c.text, c.ids);
      } else {
        tok.encode_continued(c.text, c.ids);
      }
    }
    for (size_t i = 0; i < n; ++i, ++chunk_index) {
      const Chunk& c = batch[i];
      const double f = opt.val_fraction;
      const bool to_val = std::floor(static_cast<double>(chunk_index + 1) * f) > std::floor(static_cast<double>(chunk_index) * f);
      (to_val ? val : train).append(c.ids);
      done_bytes += static_cast<int64_t>(c.text.size());
      if (is_byte) rep.nul_bytes += std::count(c.text.begin(), c.text.end(), '\0');
    }
    progress.update(done_bytes, train.split().tokens + val.split().tokens);
  }
  train.close();
  val.close();
  progress.update(done_bytes, train.split().tokens + val.split().tokens, true);
  rep.documents = reader.documents();
  rep.bytes = done_bytes;
  rep.train = train.split();
  rep.val = val.split();
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  nlohmann::json m;
  m["format"] = "llm.c";
  m["tokenizer"] = proto->name();
  m["vocab_size"] = proto->vocab_size();
  m["eot_id"] = eot;
  m["token_bytes"] = shard_token_bytes(proto->vocab_size());
  m["magic"] = shard_token_bytes(proto->vocab_size()) == 2 ? kShardMagicU16 : kShardMagicU32;
  m["inputs"] = opt.inputs;
  m["documents"] = rep.documents;
  m["bytes"] = rep.bytes;
  m["val_fraction"] = opt.val_fraction;
  m["shard_tokens"] = opt.shard_tokens;
  if (is_byte) m["nul_bytes"] = rep.nul_bytes;
  for (const auto* s : {&rep.train, &rep.val}) {
    nlohmann::json shards = nlohmann::json::array();
    for (const auto& f : s->files) {
      const auto p = (fs::path(opt.out_dir) / f).string();
      const ShardReader r(p);
      shards.push_back({{"file", f}, {"tokens", r.num_tokens()}, {"sha256", sha256_file(p)}});
    }
    m[s == &rep.train ? "train" : "val"] = {{"tokens", s->tokens}, {"shards", shards}};
  }
  rep.manifest_path = (fs::path(opt.out_dir) / "manifest.json").string();
  {
    const auto tmp = rep.manifest_path + ".tmp";
    std::ofstream(tmp) << m.dump(2) << "\n";
    fs::rename(tmp, rep.manifest_path);
  }
  return rep;
}

}  // namespace goat::data
