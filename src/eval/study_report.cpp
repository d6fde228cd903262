// Study summaries (mean ± std over seeds per variant, mode and length) and the Markdown report.
#include <fmt/format.h>

#include <cmath>
#include <map>

#include "eval/study.h"

namespace goat::eval {

namespace {

struct Stat {
  std::vector<double> v;
  std::string undefined;
};

OrderedJson stat_json(int64_t length, const Stat& s) {
  if (!s.undefined.empty()) return OrderedJson{{"length", length}, {"undefined", s.undefined}};
  double m = 0, var = 0;
  for (double x : s.v) m += x;
  m /= static_cast<double>(s.v.size());
  for (double x : s.v) var += (x - m) * (x - m);
  const double sd = s.v.size() > 1 ? std::sqrt(var / static_cast<double>(s.v.size() - 1)) : 0.0;
  return OrderedJson{{"length", length}, {"mean", m}, {"std", sd}, {"n", s.v.size()}, {"values", s.v}};
}

// rows: an array of {"length": L, metric: x} or {"length": L, "undefined": ...} per seed.
OrderedJson per_length(const OrderedJson& seeds, const std::function<const OrderedJson*(const OrderedJson&)>& rows_of,
                       const char* metric) {
  std::map<int64_t, Stat> by;
  for (auto& [seed, run] : seeds.items()) {
    const OrderedJson* rows = rows_of(run);
    if (!rows || !rows->is_array()) continue;
    for (const auto& r : *rows) {
      if (!r.contains("length")) continue;
      Stat& s = by[r["length"].get<int64_t>()];
      if (r.contains("undefined")) s.undefined = r["undefined"].get<std::string>();
      else if (r.contains(metric) && r[metric].is_number()) s.v.push_back(r[metric].get<double>());
    }
  }
  OrderedJson out = OrderedJson::array();
  for (auto& [L, s] : by)
    if (!s.v.empty() || !s.undefined.empty()) out.push_back(stat_json(L, s));
  return out;
}

const OrderedJson* field(const OrderedJson& j, const char* a, const char* b = nullptr) {
  if (!j.contains(a)) return nullptr;
  if (!b) return &j[a];
  return j[a].contains(b) ? &j[a][b] : nullptr;
}

// Sinks rows flattened to one row per length with mean excess and eviction ratio.
OrderedJson sink_rows(const OrderedJson& run) {
  OrderedJson rows = OrderedJson::array();
  if (!run.contains("sinks") || !run["sinks"].is_array()) return rows;
  for (const auto& s : run["sinks"]) {
    if (!s.contains("layers")) {
      rows.push_back(s);
      continue;
    }
    double ex = 0, act = 0;
    int64_t n = 0;
    for (const auto& l : s["layers"]) {
      act = std::max(act, l["act_max_over_median"].is_number() ? l["act_max_over_median"].get<double>() : 0.0);
      for (const auto& h : l["heads"]) ex += h["excess"].get<double>(), ++n;
    }
    OrderedJson r{{"length", s["length"]}, {"sink03", s["sink03"]}, {"mean_excess", ex / static_cast<double>(n)}, {"act_ratio", act}};
    if (s["eviction"].is_object()) r["eviction_ratio"] = s["eviction"]["ratio"];
    rows.push_back(r);
  }
  return rows;
}

std::string fmt_stat(const OrderedJson& s, int prec) {
  if (s.contains("undefined")) return s["undefined"].get<std::string>();
  return fmt::format("{:.{}f} ± {:.{}f}", s["mean"].get<double>(), prec, s["std"].get<double>(), prec);
}

// A variant × length table of one summary metric.
std::string table(const OrderedJson& results, const char* key, int prec) {
  std::vector<int64_t> lengths;
  for (const auto& v : results["variants"])
    for (const auto& s : results["summary"][v["name"].get<std::string>()][key])
      if (std::find(lengths.begin(), lengths.end(), s["length"].get<int64_t>()) == lengths.end())
        lengths.push_back(s["length"].get<int64_t>());
  std::sort(lengths.begin(), lengths.end());
  if (lengths.empty()) return "";
  std::string t = "| variant |";
  for (int64_t L : lengths) t += fmt::format(" L={} |", L);
  t += "\n|---|";
  for (size_t i = 0; i < lengths.size(); ++i) t += "---|";
  t += "\n";
  for (const auto& v : results["variants"]) {
    const std::string name = v["name"].get<std::string>();
    t += "| " + name + " |";
    for (int64_t L : lengths) {
      std::string c = "–";
      for (const auto& s : results["summary"][name][key])
        if (s["length"].get<int64_t>() == L) c = fmt_stat(s, prec);
      t += " " + c + " |";
    }
    t += "\n";
  }
  return t;
}

}  // namespace

OrderedJson summarize(const OrderedJson& runs, const StudyConfig& s) {
  OrderedJson out = OrderedJson::object();
  for (const auto& v : s.variants) {
    if (!runs.contains(v.name)) continue;
    const OrderedJson& seeds = runs[v.name];
    OrderedJson sm;
    sm["no_ppl"] = per_length(seeds, [](const OrderedJson& r) { return field(r, "no"); }, "ppl");
    sm["no_ratio"] = per_length(seeds, [](const OrderedJson& r) { return field(r, "no"); }, "ratio_to_T");
    sm["sw_ppl"] = per_length(seeds, [](const OrderedJson& r) { return field(r, "sw"); }, "ppl");
    sm["ft_ppl"] = per_length(seeds, [](const OrderedJson& r) { return field(r, "ft"); }, "ppl");
    sm["passkey_acc"] = per_length(seeds, [](const OrderedJson& r) { return field(r, "passkey", "by_length"); }, "accuracy");
    sm["recall_acc"] = per_length(seeds, [](const OrderedJson& r) { return field(r, "recall", "by_length"); }, "accuracy");
    OrderedJson sinks = OrderedJson::object();
    for (auto& [seed, run] : seeds.items()) sinks[seed] = sink_rows(run);
    const auto sinks_of = [&](const char* m) {
      return per_length(sinks, [](const OrderedJson& r) { return &r; }, m);
    };
    sm["sink03"] = sinks_of("sink03");
    sm["sink_excess"] = sinks_of("mean_excess");
    sm["act_ratio"] = sinks_of("act_ratio");
    sm["eviction_ratio"] = sinks_of("eviction_ratio");
    OrderedJson blow = OrderedJson::array();
    for (auto& [seed, run] : seeds.items())
      if (run.contains("pp") && run["pp"].contains("blowup_position")) blow.push_back(run["pp"]["blowup_position"]);
    sm["pp_blowup"] = blow;
    out[v.name] = sm;
  }
  return out;
}

std::string headline_table(const OrderedJson& results) { return table(results, "no_ppl", 3); }

std::string report_markdown(const OrderedJson& r, const std::vector<std::string>& plots) {
  std::string md = fmt::format("# Study `{}`\n\n{}\n\n", r["name"].get<std::string>(), r["description"].get<std::string>());
  md += fmt::format("Seeds: {}. Every cell is mean ± std over seeds (sample std; 0 with one seed). "
                    "Protocol: see results.json (`runs.*.*.protocol`) and docs/evaluation.md.\n\n",
                    r["seeds"].dump());
  const std::pair<const char*, const char*> sections[] = {
      {"no_ppl", "NO perplexity (non-overlapping blocks)"},
      {"no_ratio", "NO ratio PPL(L) / PPL(T)"},
      {"sw_ppl", "SW perplexity (sliding window, stride T/4)"},
      {"ft_ppl", "FT perplexity (same final targets, window L)"},
      {"passkey_acc", "Passkey accuracy (greedy exact match, mean over depths)"},
      {"recall_acc", "Associative recall accuracy (exact match)"},
      {"sink03", "Sink^0.3 (fraction of layer-heads with mean attention to token 0 > 0.3)"},
      {"sink_excess", "Mean attention to token 0 in excess of a uniform row (mean over layer-heads)"},
      {"act_ratio", "Largest |activation| / median (max over layers)"},
      {"eviction_ratio", "Window eviction: PPL(window of T) / PPL(first 4 tokens + window)"}};
  for (const auto& [key, title] : sections) {
    const std::string t = table(r, key, key == std::string("no_ppl") || key == std::string("sw_ppl") || key == std::string("ft_ppl") ? 3 : 3);
    if (t.empty()) continue;
    md += fmt::format("## {}\n\n{}\n", title, t);
  }
  md += "## Per-position blow-up (first bin past T whose loss exceeds the [T/2, T) mean by 0.1 nat)\n\n| variant | per seed |\n|---|---|\n";
  for (const auto& v : r["variants"]) {
    const std::string name = v["name"].get<std::string>();
    md += fmt::format("| {} | {} |\n", name, r["summary"].contains(name) ? r["summary"][name]["pp_blowup"].dump() : "[]");
  }
  md += "\n(null: no blow-up within the evaluated length.)\n\n";
  if (!plots.empty()) {
    md += "## Plots\n\n";
    for (const auto& p : plots) md += fmt::format("![{}]({})\n\n", p, p);
  }
  return md;
}

}  // namespace goat::eval
