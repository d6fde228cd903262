// Retrieval probes built from the validation stream, scored by teacher-forced argmax in one
// batched forward. Greedy exact match of an answer ⟺ every teacher-forced argmax of it is right
// (if greedy decoding is right at every step, its prefix is the teacher-forced one; the first
// wrong step is wrong in both), so no decoding loop is needed.
//
//   passkey  [filler … marker key … filler] marker key     (length L + 1 tokens: L inputs)
//   recall   [filler k1 v1 … filler kP vP …] kσ1 vσ1 … kσP vσP
//
// Markers, keys and values are random lowercase letters; filler is the stream itself, so the
// probe is in-distribution text for any model trained on the corpus, and retrieval needs only
// in-context copying (the repeat corpus teaches exactly that).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/philox.h"
#include "eval/extrapolate.h"
#include "eval/progress.h"

namespace goat::eval {

namespace {

class Draws {
 public:
  Draws(uint64_t seed, uint64_t stream) : rng_(seed, RngPurpose::eval, 0xE7A1'0000ull + stream) {}
  int64_t below(int64_t n) { return static_cast<int64_t>(rng_.u64(i_++) % static_cast<uint64_t>(n)); }
  int32_t letter() { return static_cast<int32_t>('a' + below(26)); }

 private:
  Rng rng_;
  uint64_t i_ = 0;
};

// Answer tokens at sequence positions [a0, a0 + n) are all predicted (argmax of the logits at
// input position p − 1) correctly. logits: (L, V) of the window.
bool exact(const float* logits, int64_t V, const std::vector<int32_t>& seq, int64_t a0, int64_t n, int64_t* tokens_right) {
  bool all = true;
  for (int64_t p = a0; p < a0 + n; ++p) {
    const bool ok = argmax(logits + (p - 1) * V, V) == seq[static_cast<size_t>(p)];
    *tokens_right += ok;
    all = all && ok;
  }
  return all;
}

void split(const std::vector<int32_t>& seq, int64_t L, int32_t* in, int32_t* tg) {
  std::copy(seq.begin(), seq.begin() + L, in);
  std::copy(seq.begin() + 1, seq.begin() + L + 1, tg);
}

}  // namespace

OrderedJson mode_passkey(ModeContext& c) {
  const auto& o = c.opts;
  const int64_t M = o.marker_len, K = o.key_len, V = c.model.vocab_size();
  OrderedJson cells = OrderedJson::array(), by_length = OrderedJson::array();
  for (const int64_t L : o.lengths) {
    if (L > c.model.max_len()) {
      by_length.push_back(undefined_entry(L, c.model.max_len()));
      continue;
    }
    const int64_t filler = L + 1 - 2 * (M + K);
    GOAT_CHECK(filler >= 0, "extrapolate", "passkey: length {} is shorter than two markers and keys ({})", L, 2 * (M + K));
    GOAT_CHECK(c.val.size() > L + 1, "extrapolate", "passkey: validation stream shorter than {}", L + 2);
    const auto nd = static_cast<int64_t>(o.depths.size());
    const int64_t n = nd * o.passkey_trials;
    std::vector<std::vector<int32_t>> seqs(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      Draws d(o.seed, static_cast<uint64_t>(L) * 1000003 + static_cast<uint64_t>(i));
      std::vector<int32_t> fill(static_cast<size_t>(filler)), marker(static_cast<size_t>(M)), key(static_cast<size_t>(K));
      if (filler > 0) c.val.read(d.below(c.val.size() - filler), filler, fill.data());
      for (auto& t : marker) t = d.letter();
      for (auto& t : key) t = d.letter();
      const auto at = static_cast<int64_t>(std::llround(o.depths[static_cast<size_t>(i / o.passkey_trials)] * static_cast<double>(filler)));
      auto& s = seqs[static_cast<size_t>(i)];
      s.insert(s.end(), fill.begin(), fill.begin() + at);
      s.insert(s.end(), marker.begin(), marker.end());
      s.insert(s.end(), key.begin(), key.end());
      s.insert(s.end(), fill.begin() + at, fill.end());
      s.insert(s.end(), marker.begin(), marker.end());
      s.insert(s.end(), key.begin(), key.end());
    }
    std::vector<int64_t> right(static_cast<size_t>(nd), 0), tok_right(static_cast<size_t>(nd), 0);
    c.progress.set_label("passkey L=" + std::to_string(L));
    run_windows(
        c.model, n, L, o.batch_tokens, [&](int64_t i, int32_t* in, int32_t* tg) { split(seqs[static_cast<size_t>(i)], L, in, tg); },
        [&](int64_t i, const float*, const float* logits) {
          const auto di = static_cast<size_t>(i / o.passkey_trials);
          right[di] += exact(logits, V, seqs[static_cast<size_t>(i)], L + 1 - K, K, &tok_right[di]);
        },
        [&](int64_t units) { c.progress.add(units); });
    int64_t total = 0;
    for (int64_t k = 0; k < nd; ++k) {
      const auto ks = static_cast<size_t>(k);
      total += right[ks];
      cells.push_back(OrderedJson{{"length", L},
                                  {"depth", o.depths[ks]},
                                  {"trials", o.passkey_trials},
                                  {"accuracy", static_cast<double>(right[ks]) / static_cast<double>(o.passkey_trials)},
                                  {"token_accuracy", static_cast<double>(tok_right[ks]) / static_cast<double>(o.passkey_trials * K)}});
    }
    by_length.push_back(OrderedJson{{"length", L}, {"trials", n}, {"accuracy", static_cast<double>(total) / static_cast<double>(n)}});
  }
  return OrderedJson{{"chance_exact", std::pow(1.0 / 26.0, static_cast<double>(K))}, {"cells", cells}, {"by_length", by_length}};
}

OrderedJson mode_recall(ModeContext& c) {
  const auto& o = c.opts;
  const int64_t kl = o.recall_key_len, vl = o.recall_value_len, pl = kl + vl, V = c.model.vocab_size(), T = o.train_len;
  // distance bins: [0, T/2), [T/2, T), [T, 2T), [2T, 4T), … up to Lmax
  std::vector<int64_t> edges{0, std::max<int64_t>(1, T / 2)};
  for (int64_t e = T; e < c.lmax; e *= 2) edges.push_back(e);
  edges.push_back(c.lmax + 1);
  OrderedJson cells = OrderedJson::array(), by_length = OrderedJson::array();
  for (const int64_t L : o.lengths) {
    if (L > c.model.max_len()) {
      by_length.push_back(undefined_entry(L, c.model.max_len()));
      continue;
    }
    const int64_t P = std::min(o.recall_pairs, (L + 1) / (4 * pl));
    GOAT_CHECK(P >= 1, "extrapolate", "recall: length {} is too short for one pair ({} tokens)", L, 4 * pl);
    const int64_t region = L + 1 - P * pl, slot = region / P;
    struct Query {
      int64_t pos, distance;
    };
    std::vector<std::vector<int32_t>> seqs(static_cast<size_t>(o.recall_trials));
    std::vector<std::vector<Query>> queries(static_cast<size_t>(o.recall_trials));
    for (int64_t i = 0; i < o.recall_trials; ++i) {
      Draws d(o.seed ^ 0x5EC, static_cast<uint64_t>(L) * 1000003 + static_cast<uint64_t>(i));
      auto& s = seqs[static_cast<size_t>(i)];
      s.assign(static_cast<size_t>(L + 1), 0);
      c.val.read(d.below(c.val.size() - L - 1), L + 1, s.data());
      std::vector<int64_t> start(static_cast<size_t>(P));
      for (int64_t p = 0; p < P; ++p) {
        start[static_cast<size_t>(p)] = p * slot + d.below(slot - pl + 1);
        for (int64_t j = 0; j < pl; ++j) s[static_cast<size_t>(start[static_cast<size_t>(p)] + j)] = d.letter();
      }
      std::vector<int64_t> order(static_cast<size_t>(P));
      std::iota(order.begin(), order.end(), 0);
      for (int64_t j = P - 1; j > 0; --j) std::swap(order[static_cast<size_t>(j)], order[static_cast<size_t>(d.below(j + 1))]);
      for (int64_t q = 0; q < P; ++q) {
        const int64_t src = start[static_cast<size_t>(order[static_cast<size_t>(q)])], dst = region + q * pl;
        for (int64_t j = 0; j < pl; ++j) s[static_cast<size_t>(dst + j)] = s[static_cast<size_t>(src + j)];
        queries[static_cast<size_t>(i)].push_back(Query{dst + kl, dst - src});
      }
    }
    std::vector<int64_t> right(edges.size() - 1, 0), count(edges.size() - 1, 0);
    int64_t tok_right = 0;
    c.progress.set_label("recall L=" + std::to_string(L));
    run_windows(
        c.model, o.recall_trials, L, o.batch_tokens,
        [&](int64_t i, int32_t* in, int32_t* tg) { split(seqs[static_cast<size_t>(i)], L, in, tg); },
        [&](int64_t i, const float*, const float* logits) {
          for (const Query& q : queries[static_cast<size_t>(i)]) {
            const auto b = static_cast<size_t>(std::upper_bound(edges.begin(), edges.end(), q.distance) - edges.begin() - 1);
            ++count[b];
            right[b] += exact(logits, V, seqs[static_cast<size_t>(i)], q.pos, vl, &tok_right);
          }
        },
        [&](int64_t units) { c.progress.add(units); });
    int64_t all_right = 0, all = 0;
    for (size_t b = 0; b < count.size(); ++b) {
      all_right += right[b];
      all += count[b];
      if (count[b] == 0) continue;
      cells.push_back(OrderedJson{{"length", L},
                                  {"distance_lo", edges[b]},
                                  {"distance_hi", edges[b + 1]},
                                  {"queries", count[b]},
                                  {"accuracy", static_cast<double>(right[b]) / static_cast<double>(count[b])}});
    }
    by_length.push_back(OrderedJson{{"length", L},
                                    {"pairs", P},
                                    {"queries", all},
                                    {"accuracy", static_cast<double>(all_right) / static_cast<double>(all)},
                                    {"token_accuracy", static_cast<double>(tok_right) / static_cast<double>(all * vl)}});
  }
  return OrderedJson{{"chance_exact", std::pow(1.0 / 26.0, static_cast<double>(vl))}, {"cells", cells}, {"by_length", by_length}};
}

}  // namespace goat::eval
