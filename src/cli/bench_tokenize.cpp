// `goatlm bench tokenize`: encoding throughput in MB/s, one thread and all threads, against the
// JavaScript reference encoder (npm gpt-3-encoder under node) on the same text, side by side.
// The text is --text (files/directories, concatenated and repeated to --mb MB) or, without it, a
// generated multi-script text. Each goatlm run starts from a fresh tokenizer (empty cache). The
// reference encodes the first --ref-mb MB in ~4 KB pieces cut where pre-tokenization is unaffected
// (its encode() concatenates arrays, which is quadratic on one long string); both token counts on
// that prefix are printed as a cross-check.
#include <fmt/format.h>
#include <omp.h>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/check.h"
#include "data/corpus_tokenize.h"
#include "data/tokenizer.h"

namespace goat::cli {

namespace {

namespace fs = std::filesystem;

std::string generated_text(size_t bytes) {
  static const char* words[] = {"the", "of", "and", "to", "in", "is", "was", "that", "for", "it", "with", "as",
                                "his", "on", "be", "at", "by", "had", "are", "but", "from", "or", "have", "an",
                                "they", "which", "one", "you", "were", "her", "all", "she", "there", "would",
                                "their", "we", "him", "been", "has", "when", "who", "will", "more", "no", "if",
                                "out", "so", "said", "what", "up", "its", "about", "into", "than", "them", "can",
                                "only", "other", "new", "some", "could", "time", "these", "two", "may", "then",
                                "Über", "café", "naïve", "Москва", "город", "東京", "日本語", "Ελλάδα", "1999",
                                "3.14", "42", "don't", "we're", "it's", "I'll", "(see", "above)", "e.g.,", "—",
                                "😀", "\"quoted\"", "tab\there", "CamelCase", "snake_case", "x86-64"};
  std::mt19937_64 rng(20240520);
  std::string s;
  s.reserve(bytes + 64);
  while (s.size() < bytes) {
    // Zipf-like choice plus random made-up words, so the piece cache sees a long tail.
    const size_t n = std::size(words);
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    if (u < 0.15) {
      const int len = 3 + static_cast<int>(rng() % 8);
      for (int i = 0; i < len; ++i) s.push_back(static_cast<char>('a' + rng() % 26));
    } else {
      s += words[static_cast<size_t>(std::pow(u, 2.5) * static_cast<double>(n)) % n];
    }
    s += rng() % 12 == 0 ? ".\n" : rng() % 9 == 0 ? ", " : " ";
  }
  s.resize(bytes);
  while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();  // whole chars
  return s;
}

std::string load_text(const std::vector<std::string>& inputs, size_t bytes) {
  if (inputs.empty()) return generated_text(bytes);
  std::string all;
  for (const auto& f : data::list_input_files(inputs)) {
    std::ifstream in(f, std::ios::binary);
    all.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (all.size() >= bytes) break;
  }
  GOAT_CHECK(!all.empty(), "bench tokenize", "no text in {}", fmt::join(inputs, ", "));
  std::string s;
  while (s.size() < bytes) s += all;
  return s.substr(0, data::find_safe_cut(s, 0, bytes));
}

std::vector<std::string_view> chunks_of(std::string_view s, size_t chunk) {
  std::vector<std::string_view> out;
  size_t at = 0;
  while (at < s.size()) {
    size_t cut = s.size();
    if (s.size() - at > chunk) cut = at + data::find_safe_cut(s.substr(at), chunk / 2, chunk);
    if (cut == at) cut = s.size();
    out.push_back(s.substr(at, cut - at));
    at = cut;
  }
  return out;
}

// Seconds and token count to encode the chunks on `threads` threads with fresh tokenizers.
std::pair<double, int64_t> time_encode(const data::Tokenizer& proto, const std::vector<std::string_view>& chunks,
                                       int threads) {
  std::vector<std::unique_ptr<data::Tokenizer>> toks;
  for (int t = 0; t < threads; ++t) toks.push_back(proto.clone());
  int64_t tokens = 0;
  const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : tokens)
  {
    std::vector<int32_t> ids;
    auto& tok = *toks[static_cast<size_t>(omp_get_thread_num())];
#pragma omp for schedule(dynamic, 1)
    for (size_t i = 0; i < chunks.size(); ++i) {
      ids.clear();
      if (i == 0) {
        tok.encode(chunks[i], ids);
      } else {
        tok.encode_continued(chunks[i], ids);
      }
      tokens += static_cast<int64_t>(ids.size());
    }
  }
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), tokens};
}

// Records of uint32 LE length + UTF-8 text, cut at safe places (find_safe_cut), so the sum of the
// per-record counts equals the count of the whole text.
const char* kReferenceJs = R"JS(
const {encode} = require(process.argv[2]);
const data = require('fs').readFileSync(process.argv[3]);
const texts = [];
for (let off = 0; off < data.length;) {
  const n = data.readUInt32LE(off);
  texts.push(data.toString('utf8', off + 4, off + 4 + n));
  off += 4 + n;
}
const t0 = process.hrtime.bigint();
let n = 0;
for (const t of texts) n += encode(t).length;
const s = Number(process.hrtime.bigint() - t0) / 1e9;
process.stdout.write(JSON.stringify({seconds: s, tokens: n}));
)JS";

}  // namespace

void register_bench_tokenize(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("tokenize", "Tokenizer MB/s (1 thread, all threads) vs the JS reference encoder");
  static std::string spec = "gpt2:data/tokenizers/gpt2", reference = "data/tokenizers/gpt-3-encoder";
  static std::vector<std::string> text;
  static double mb = 24, ref_mb = 2;
  cmd->add_option("--tokenizer", spec, "tokenizer spec")->capture_default_str();
  cmd->add_option("--text", text, "text files/directories (default: generated multi-script text)");
  cmd->add_option("--mb", mb, "MB of text to encode")->capture_default_str();
  cmd->add_option("--reference", reference, "gpt-3-encoder package dir ('' to skip)")->capture_default_str();
  cmd->add_option("--ref-mb", ref_mb, "MB the reference encodes (prefix of the same text)")->capture_default_str();
  cmd->callback([] {
    auto tok = data::make_tokenizer(spec);
    const std::string s = load_text(text, static_cast<size_t>(mb * 1e6));
    const auto chunks = chunks_of(s, 1 << 20);
    const double size_mb = static_cast<double>(s.size()) * 1e-6;
    const int all = omp_get_max_threads();
    fmt::print("tokenizer {} on {:.1f} MB of {} ({} chunks)\n", tok->name(), size_mb,
               text.empty() ? std::string("generated text") : fmt::format("{}", fmt::join(text, ", ")), chunks.size());
    fmt::print("{:<28} {:>8} {:>10} {:>12} {:>10}\n", "encoder", "threads", "MB/s", "tokens", "vs ref");
    const auto [t1, n1] = time_encode(*tok, chunks, 1);
    const auto [ta, na] = time_encode(*tok, chunks, all);
    GOAT_CHECK(n1 == na, "bench tokenize", "token counts differ between 1 thread ({}) and {} threads ({})", n1, all, na);

    double ref_mbs = 0;
    std::string ref_note;
    if (!reference.empty() && fs::exists(fs::path(reference) / "Encoder.js")) {
      const auto dir = fs::temp_directory_path() / fmt::format("goatlm_bench_tok_{}", ::getpid());
      fs::create_directories(dir);
      const std::string prefix = s.substr(0, data::find_safe_cut(s, 0, static_cast<size_t>(ref_mb * 1e6)));
      {
        std::ofstream rec(dir / "text.bin", std::ios::binary);
        for (const auto piece : chunks_of(prefix, 4096)) {
          const auto n = static_cast<uint32_t>(piece.size());
          const char len[4] = {static_cast<char>(n), static_cast<char>(n >> 8), static_cast<char>(n >> 16),
                               static_cast<char>(n >> 24)};
          rec.write(len, 4);
          rec.write(piece.data(), static_cast<std::streamsize>(piece.size()));
        }
      }
      std::ofstream(dir / "ref.js") << kReferenceJs;
      const auto cmdline = fmt::format("node {} {} {}", (dir / "ref.js").string(), fs::absolute(reference).string(),
                                       (dir / "text.bin").string());
      std::string out;
      if (FILE* p = ::popen(cmdline.c_str(), "r")) {
        char buf[4096];
        size_t n = 0;
        while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
        ::pclose(p);
      }
      fs::remove_all(dir);
      try {
        const auto j = nlohmann::json::parse(out);
        const double sec = j["seconds"].get<double>();
        ref_mbs = static_cast<double>(prefix.size()) * 1e-6 / sec;
        auto check = data::make_tokenizer(spec);
        const auto ours = static_cast<int64_t>(check->encode(prefix).size());
        ref_note = fmt::format("reference on the first {:.1f} MB: {} tokens, goatlm {} tokens ({})",
                               static_cast<double>(prefix.size()) * 1e-6, j["tokens"].get<int64_t>(), ours,
                               ours == j["tokens"].get<int64_t>() ? "same" : "DIFFERENT");
        fmt::print("{:<28} {:>8} {:>10.2f} {:>12} {:>10}\n", "gpt-3-encoder (node)", 1, ref_mbs,
                   j["tokens"].get<int64_t>(), "1.0x");
      } catch (const std::exception& e) {
        ref_note = fmt::format("reference run failed: {}", out.substr(0, 200));
      }
    } else {
      ref_note = "reference skipped (no gpt-3-encoder package; scripts/get_gpt2_tokenizer.sh)";
    }
    auto ratio = [&](double v) { return ref_mbs > 0 ? fmt::format("{:.0f}x", v / ref_mbs) : std::string("-"); };
    fmt::print("{:<28} {:>8} {:>10.2f} {:>12} {:>10}\n", "goatlm", 1, size_mb / t1, n1, ratio(size_mb / t1));
    fmt::print("{:<28} {:>8} {:>10.2f} {:>12} {:>10}\n", "goatlm", all, size_mb / ta, na, ratio(size_mb / ta));
    fmt::print("{}\n", ref_note);
  });
}

}  // namespace goat::cli
