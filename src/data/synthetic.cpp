// Synthetic corpus generators. Each draws from one Philox stream keyed by (seed, split) through a
// sequential cursor; the bigram chain of `repeat` is keyed by the seed alone, so train and val
// share the language and differ only in the text.
#include "data/synthetic.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/check.h"
#include "core/philox.h"

namespace goat::data {

namespace {

constexpr uint64_t kStreamTag = 1ull << 62;  // keeps corpus streams apart from loader streams

// A sequential cursor over a Philox stream.
class Draw {
 public:
  Draw(uint64_t seed, uint64_t stream) : rng_(seed, RngPurpose::data, kStreamTag | stream) {}
  uint64_t u64() { return rng_.u64(i_++); }
  double uniform() { return static_cast<double>(u64() >> 11) * 0x1p-53; }
  int64_t below(int64_t n) { return static_cast<int64_t>(u64() % static_cast<uint64_t>(n)); }
  int64_t in(int64_t lo, int64_t hi) { return lo + below(hi - lo + 1); }  // [lo, hi]

 private:
  Rng rng_;
  uint64_t i_ = 0;
};

constexpr char kLetters[] = "abcdefghijklmnopqrstuvwxyz";
uint16_t letter(Draw& d) { return static_cast<uint16_t>(kLetters[d.below(26)]); }

void append(std::vector<uint16_t>& out, const std::string& s) {
  for (char c : s) out.push_back(static_cast<uint16_t>(static_cast<unsigned char>(c)));
}

// `repeat`: bigram chain over 27 symbols (letters, space) with Zipf-like rows.
void gen_repeat(const SyntheticConfig& s, int64_t seq_len, int64_t n, Draw& d, std::vector<uint16_t>& out) {
  constexpr int kSym = 27;
  const auto sym = [](int i) { return static_cast<uint16_t>(i < 26 ? 'a' + i : ' '); };
  // Transition CDFs: row r is a random permutation weighted 1 / (rank + 1)^1.5.
  Draw chain(static_cast<uint64_t>(s.seed), 0xC4A1);
  std::vector<double> cdf(kSym * kSym);
  for (int r = 0; r < kSym; ++r) {
    int perm[kSym];
    for (int i = 0; i < kSym; ++i) perm[i] = i;
    for (int i = kSym - 1; i > 0; --i) std::swap(perm[i], perm[chain.below(i + 1)]);
    double w[kSym], total = 0;
    for (int i = 0; i < kSym; ++i) total += (w[perm[i]] = 1.0 / std::pow(i + 1.0, 1.5));
    double acc = 0;
    for (int i = 0; i < kSym; ++i) cdf[r * kSym + i] = (acc += w[i] / total);
  }
  const int64_t max_dist = s.max_distance > 0 ? s.max_distance : 16 * seq_len;
  int prev = 26;
  while (static_cast<int64_t>(out.size()) < n) {
    const int64_t len = d.in(s.segment_min, s.segment_max);
    const int64_t pos = static_cast<int64_t>(out.size());
    if (d.uniform() < s.repeat_prob && pos >= 2 * len) {
      const int64_t dist = d.in(len, std::min(max_dist, pos));
      for (int64_t i = 0; i < len; ++i) out.push_back(out[static_cast<size_t>(pos - dist + i)]);
      const uint16_t last = out.back();
      prev = last == ' ' ? 26 : last - 'a';
    } else {
      for (int64_t i = 0; i < len; ++i) {
        const double u = d.uniform();
        const double* row = &cdf[prev * kSym];
        int next = static_cast<int>(std::lower_bound(row, row + kSym, u) - row);
        next = std::min(next, kSym - 1);
        out.push_back(sym(next));
        prev = next;
      }
    }
  }
}

std::string digits(Draw& d, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>('0' + d.below(10));
  return s;
}

void gen_passkey(int64_t doc_len, Draw& d, std::vector<uint16_t>& out) {
  static const std::string filler = "the grass is green. the sky is blue. the sun is yellow. here we go. there and back again. ";
  const std::string key = digits(d, 5);
  const std::string needle = "the pass key is " + key + ". remember it. " + key + " is the pass key. ";
  const std::string question = "what is the pass key? the pass key is " + key + ".\n";
  const int64_t budget = std::max<int64_t>(0, doc_len - static_cast<int64_t>(needle.size() + question.size()));
  const int64_t depth = d.in(0, budget);
  std::string doc;
  for (int64_t i = 0; i < depth; ++i) doc += filler[static_cast<size_t>(i) % filler.size()];
  doc += needle;
  for (int64_t i = depth; i < budget; ++i) doc += filler[static_cast<size_t>(i) % filler.size()];
  append(out, doc + question);
}

void gen_assoc(int64_t doc_len, Draw& d, std::vector<uint16_t>& out) {
  const int64_t pairs = std::max<int64_t>(1, (doc_len - 1) / 10);  // "ab:3 " + "?ab:3 "
  std::vector<std::string> keys;
  std::vector<char> vals;
  std::string doc;
  for (int64_t i = 0; i < pairs; ++i) {
    std::string k{kLetters[d.below(26)], kLetters[d.below(26)]};
    if (std::find(keys.begin(), keys.end(), k) != keys.end()) continue;
    keys.push_back(k);
    vals.push_back(static_cast<char>('0' + d.below(10)));
    doc += k + ":" + vals.back() + " ";
  }
  for (size_t q = 0; q < keys.size(); ++q) {
    const size_t i = static_cast<size_t>(d.below(static_cast<int64_t>(keys.size())));
    doc += "?" + keys[i] + ":" + vals[i] + " ";
  }
  doc.back() = '\n';
  append(out, doc);
}

void gen_copy(int64_t doc_len, Draw& d, std::vector<uint16_t>& out) {
  const int64_t n = std::max<int64_t>(1, (doc_len - 2) / 2);
  std::vector<uint16_t> s(static_cast<size_t>(n));
  for (auto& t : s) t = letter(d);
  out.insert(out.end(), s.begin(), s.end());
  out.push_back('|');
  out.insert(out.end(), s.begin(), s.end());
  out.push_back('\n');
}

void gen_copy_mixture(int64_t doc_len, Draw& d, std::vector<uint16_t>& out) {
  const size_t start = out.size();
  out.push_back(letter(d));
  for (int64_t i = 1; i < doc_len - 1; ++i) {
    const int64_t mode = d.below(3);
    out.push_back(mode == 0 ? out[start] : mode == 1 ? out.back() : letter(d));
  }
  out.push_back('\n');
}

}  // namespace

std::vector<uint16_t> generate_synthetic(const SyntheticConfig& s, int64_t seq_len, int64_t n_tokens, Split split) {
  GOAT_CHECK(n_tokens > 0, "synthetic", "n_tokens must be positive, got {}", n_tokens);
  Draw d(static_cast<uint64_t>(s.seed), static_cast<uint64_t>(split) + 1);
  const int64_t doc_len = std::max<int64_t>(8, s.doc_len > 0 ? s.doc_len : seq_len);
  std::vector<uint16_t> out;
  out.reserve(static_cast<size_t>(n_tokens + 2 * doc_len + s.segment_max));
  if (s.task == "repeat") {
    gen_repeat(s, seq_len, n_tokens, d, out);
  } else {
    while (static_cast<int64_t>(out.size()) < n_tokens) {
      if (s.task == "passkey") gen_passkey(doc_len, d, out);
      else if (s.task == "assoc") gen_assoc(doc_len, d, out);
      else if (s.task == "copy") gen_copy(doc_len, d, out);
      else if (s.task == "copy-mixture") gen_copy_mixture(doc_len, d, out);
      else fail("synthetic", "unknown task \"{}\" (repeat|passkey|assoc|copy|copy-mixture)", s.task);
    }
  }
  out.resize(static_cast<size_t>(n_tokens));
  return out;
}

double unigram_entropy(const std::vector<uint16_t>& tokens, int64_t vocab_size) {
  std::vector<double> count(static_cast<size_t>(vocab_size), 0.0);
  for (uint16_t t : tokens) {
    GOAT_CHECK(t < vocab_size, "synthetic", "token {} >= vocab_size {}", t, vocab_size);
    count[t] += 1;
  }
  double h = 0;
  const double n = static_cast<double>(tokens.size());
  for (double c : count)
    if (c > 0) h -= c / n * std::log(c / n);
  return h;
}

}  // namespace goat::data
