// The perplexity modes: NO (non-overlapping blocks) with PP (per-position loss at Lmax) from the
// same forwards, SW (sliding window, stride S) and FT (fixed final targets, growing context).
// Every mode reads the validation stream from fixed offsets, so runs are comparable across models,
// and NO, SW and FT each score the same target tokens at every length.
#include <algorithm>
#include <cmath>

#include "eval/extrapolate.h"
#include "eval/progress.h"

namespace goat::eval {

namespace {

// Window [start, start + L) of the stream: inputs tokens[start..start+L), targets shifted by one.
void read_window(const data::TokenSource& val, int64_t start, int64_t L, int32_t* in, int32_t* tg) {
  val.read(start, L, in);
  val.read(start + 1, L, tg);
}

double ppl(double mean_loss) { return std::exp(mean_loss); }

// Log-spaced bin edges 0, 1, 2, …, round(2^(k/bpo)) …, L (unique, increasing).
std::vector<int64_t> log_edges(int64_t L, int64_t bpo) {
  std::vector<int64_t> e{0};
  for (int64_t k = 0;; ++k) {
    const auto v = static_cast<int64_t>(std::llround(std::pow(2.0, static_cast<double>(k) / static_cast<double>(bpo))));
    if (v >= L) break;
    if (v > e.back()) e.push_back(v);
  }
  e.push_back(L);
  return e;
}

}  // namespace

OrderedJson undefined_entry(int64_t length, int64_t max_len) {
  return OrderedJson{{"length", length}, {"undefined", "not defined beyond " + std::to_string(max_len)}};
}

OrderedJson mode_no_pp(ModeContext& c, bool want_no, bool want_pp) {
  const auto& o = c.opts;
  const int64_t T = o.train_len, lmax = c.lmax;
  const int64_t windows = std::min(o.windows, (c.val.size() - 1) / lmax);
  GOAT_CHECK(windows >= 1, "extrapolate", "validation stream of {} tokens is shorter than Lmax + 1 = {}", c.val.size(),
             lmax + 1);
  const int64_t region = windows * lmax;
  OrderedJson no = OrderedJson::array(), pp;
  std::vector<double> pos_sum(static_cast<size_t>(lmax), 0.0);
  bool have_pp = false;
  double loss_at_T = std::nan("");
  std::vector<int64_t> lengths = want_no ? o.lengths : std::vector<int64_t>{};
  if (want_pp && (lengths.empty() || lengths.back() != lmax)) lengths.push_back(lmax);
  for (const int64_t L : lengths) {
    if (L > c.model.max_len()) {
      if (want_no && std::find(o.lengths.begin(), o.lengths.end(), L) != o.lengths.end())
        no.push_back(undefined_entry(L, c.model.max_len()));
      continue;
    }
    c.progress.set_label("no L=" + std::to_string(L));
    const int64_t blocks = region / L;
    const bool collect = want_pp && L == lmax;
    double sum = 0;
    run_windows(
        c.model, blocks, L, o.batch_tokens, [&](int64_t i, int32_t* in, int32_t* tg) { read_window(c.val, i * L, L, in, tg); },
        [&](int64_t, const float* losses, const float*) {
          for (int64_t p = 0; p < L; ++p) {
            sum += losses[p];
            if (collect) pos_sum[static_cast<size_t>(p)] += losses[p];
          }
        },
        [&](int64_t units) { c.progress.add(units); });
    if (collect) have_pp = true;
    const double mean = sum / static_cast<double>(blocks * L);
    if (L == T) loss_at_T = mean;
    if (want_no && std::find(o.lengths.begin(), o.lengths.end(), L) != o.lengths.end())
      no.push_back(OrderedJson{{"length", L}, {"blocks", blocks}, {"tokens", blocks * L}, {"loss", mean}, {"ppl", ppl(mean)}});
  }
  for (auto& e : no)
    if (e.contains("ppl")) e["ratio_to_T"] = std::isnan(loss_at_T) ? nullptr : OrderedJson(ppl(e["loss"].get<double>() - loss_at_T));
  OrderedJson out;
  if (want_no) out["no"] = no;
  if (want_pp) {
    if (!have_pp) {
      out["pp"] = undefined_entry(lmax, c.model.max_len());
    } else {
      const auto edges = log_edges(lmax, o.pp_bins_per_octave);
      OrderedJson bins = OrderedJson::array();
      const auto mean_over = [&](int64_t lo, int64_t hi) {
        double s = 0;
        for (int64_t p = lo; p < hi; ++p) s += pos_sum[static_cast<size_t>(p)];
        return s / static_cast<double>((hi - lo) * windows);
      };
      const double baseline = mean_over(std::max<int64_t>(0, T / 2), std::min(T, lmax));
      OrderedJson blowup = nullptr;
      for (size_t k = 0; k + 1 < edges.size(); ++k) {
        const double m = mean_over(edges[k], edges[k + 1]);
        bins.push_back(OrderedJson{{"lo", edges[k]}, {"hi", edges[k + 1]}, {"loss", m}});
        if (blowup.is_null() && edges[k] >= T && m > baseline + 0.1) blowup = edges[k];
      }
      out["pp"] = OrderedJson{{"length", lmax},       {"windows", windows}, {"baseline_T/2_to_T", baseline},
                              {"blowup_position", blowup}, {"bins", bins}};
    }
  }
  return out;
}

OrderedJson mode_sw(ModeContext& c) {
  const auto& o = c.opts;
  OrderedJson rows = OrderedJson::array();
  for (const int64_t L : o.lengths) {
    if (L > c.model.max_len()) {
      rows.push_back(undefined_entry(L, c.model.max_len()));
      continue;
    }
    const int64_t S = std::min(L, o.stride > 0 ? o.stride : std::max<int64_t>(1, o.train_len / 4));
    const int64_t budget = o.sw_tokens > 0 ? o.sw_tokens : 4 * c.lmax;
    // windows start at (Lmax − L) + k·S, so every L scores the same targets [Lmax − S, Lmax − S + K·S)
    const int64_t shift = c.lmax - L;
    const int64_t K = std::min((budget + S - 1) / S, (c.val.size() - 1 - c.lmax) / S + 1);
    GOAT_CHECK(K >= 1, "extrapolate", "sw: validation stream of {} tokens is shorter than L + 1 = {}", c.val.size(), L + 1);
    c.progress.set_label("sw L=" + std::to_string(L));
    double sum = 0;
    run_windows(
        c.model, K, L, o.batch_tokens, [&](int64_t k, int32_t* in, int32_t* tg) { read_window(c.val, shift + k * S, L, in, tg); },
        [&](int64_t, const float* losses, const float*) {
          for (int64_t p = L - S; p < L; ++p) sum += losses[p];
        },
        [&](int64_t units) { c.progress.add(units); });
    const double mean = sum / static_cast<double>(K * S);
    rows.push_back(OrderedJson{{"length", L}, {"stride", S}, {"windows", K}, {"tokens", K * S}, {"loss", mean}, {"ppl", ppl(mean)}});
  }
  return rows;
}

OrderedJson mode_ft(ModeContext& c) {
  const auto& o = c.opts;
  const int64_t F = o.ft_targets > 0 ? o.ft_targets : std::min<int64_t>(64, std::max<int64_t>(1, o.train_len / 2));
  const int64_t spans = std::min(o.ft_samples, (c.val.size() - 1) / c.lmax);
  GOAT_CHECK(spans >= 1, "extrapolate", "ft: validation stream of {} tokens is shorter than Lmax + 1", c.val.size());
  OrderedJson rows = OrderedJson::array();
  for (const int64_t L : o.lengths) {
    if (L > c.model.max_len()) {
      rows.push_back(undefined_entry(L, c.model.max_len()));
      continue;
    }
    if (L < F) continue;  // the targets need L ≥ F
    c.progress.set_label("ft L=" + std::to_string(L));
    double sum = 0;
    // span n's targets are stream tokens [(n+1)·Lmax − F + 1, (n+1)·Lmax + 1): the same at every L
    run_windows(
        c.model, spans, L, o.batch_tokens,
        [&](int64_t n, int32_t* in, int32_t* tg) { read_window(c.val, (n + 1) * c.lmax - L, L, in, tg); },
        [&](int64_t, const float* losses, const float*) {
          for (int64_t p = L - F; p < L; ++p) sum += losses[p];
        },
        [&](int64_t units) { c.progress.add(units); });
    const double mean = sum / static_cast<double>(spans * F);
    rows.push_back(OrderedJson{{"length", L}, {"context", L - F}, {"targets", F}, {"spans", spans}, {"loss", mean}, {"ppl", ppl(mean)}});
  }
  return rows;
}

}  // namespace goat::eval
