// The extrapolation driver: option defaults, the protocol record, the mode dispatch and the CSVs.
#include "eval/extrapolate.h"

#include <algorithm>
#include <fstream>

#include "eval/progress.h"

namespace goat::eval {

namespace {

const std::vector<std::string> kModes = {"no", "sw", "ft", "pp", "passkey", "recall", "sinks"};

bool has(const std::vector<std::string>& v, const char* s) { return std::find(v.begin(), v.end(), s) != v.end(); }

OrderedJson protocol(const ExtrapolateOptions& o, int64_t lmax) {
  const int64_t S = o.stride > 0 ? o.stride : std::max<int64_t>(1, o.train_len / 4);
  const int64_t F = o.ft_targets > 0 ? o.ft_targets : std::min<int64_t>(64, std::max<int64_t>(1, o.train_len / 2));
  return OrderedJson{
      {"train_len", o.train_len},
      {"lengths", o.lengths},
      {"modes", o.modes},
      {"no", {{"scored_prefix_tokens", o.windows * lmax}, {"note", "blocks of L over the same prefix of the validation stream"}}},
      {"sw", {{"stride", S}, {"tokens", o.sw_tokens > 0 ? o.sw_tokens : 4 * lmax}, {"scores", "last S tokens of each window"}}},
      {"ft", {{"targets", F}, {"spans", o.ft_samples}, {"note", "window L ends at (n+1)·Lmax; its last F tokens scored"}}},
      {"pp", {{"length", lmax}, {"windows", o.windows}, {"bins_per_octave", o.pp_bins_per_octave},
              {"blowup", "first bin with lo ≥ T whose loss exceeds the mean over [T/2, T) by 0.1 nat"}}},
      {"passkey", {{"depths", o.depths}, {"trials", o.passkey_trials}, {"marker_len", o.marker_len}, {"key_len", o.key_len},
                   {"format", "stream filler; marker+key at depth; marker at the end; greedy exact match of the key"}}},
      {"recall", {{"trials", o.recall_trials}, {"max_pairs", o.recall_pairs}, {"key_len", o.recall_key_len},
                  {"value_len", o.recall_value_len}, {"format", "key+value pairs in stream filler, queried at the end"}}},
      {"sinks", {{"windows", o.sinks_windows}, {"first_row", 4}, {"sink_threshold", 0.3}, {"eviction_sink_tokens", 4}}},
      {"seed", o.seed},
      {"batch_tokens", o.batch_tokens}};
}

}  // namespace

int64_t mode_cost(const std::string& m, const ExtrapolateOptions& o, int64_t lmax) {
  int64_t sum_l = 0;
  for (int64_t L : o.lengths) sum_l += L;
  const auto n = static_cast<int64_t>(o.lengths.size());
  if (m == "no") return o.windows * lmax * n;
  if (m == "pp") return o.windows * lmax;
  if (m == "sw") {
    const int64_t S = o.stride > 0 ? o.stride : std::max<int64_t>(1, o.train_len / 4);
    return (o.sw_tokens > 0 ? o.sw_tokens : 4 * lmax) / S * sum_l;
  }
  if (m == "ft") return o.ft_samples * sum_l;
  if (m == "passkey") return static_cast<int64_t>(o.depths.size()) * o.passkey_trials * sum_l;
  if (m == "recall") return o.recall_trials * sum_l;
  if (m == "sinks") return o.sinks_windows * sum_l * 3;
  return 0;
}

OrderedJson extrapolate(EvalModel& model, const data::TokenSource& val, ExtrapolateOptions o) {
  GOAT_CHECK(o.train_len > 0, "extrapolate", "train_len must be positive, got {}", o.train_len);
  for (const auto& m : o.modes)
    GOAT_CHECK(has(kModes, m.c_str()), "extrapolate", "unknown mode \"{}\" (no|sw|ft|pp|passkey|recall|sinks)", m);
  if (o.lengths.empty())
    for (int64_t k : {1, 2, 4, 8, 16}) o.lengths.push_back(k * o.train_len);
  for (int64_t L : o.lengths) GOAT_CHECK(L >= 1, "extrapolate", "length {} must be positive", L);
  if (std::find(o.lengths.begin(), o.lengths.end(), o.train_len) == o.lengths.end()) o.lengths.push_back(o.train_len);
  std::sort(o.lengths.begin(), o.lengths.end());
  o.lengths.erase(std::unique(o.lengths.begin(), o.lengths.end()), o.lengths.end());
  const int64_t lmax = o.lengths.back();
  int64_t total = 0;
  for (const auto& m : o.modes) total += mode_cost(m, o, lmax);
  Progress progress(total, o.progress);
  ModeContext c{model, val, o, progress, lmax};
  OrderedJson out{{"schema", "goatlm.extrapolate/1"}, {"data", val.describe()}, {"protocol", protocol(o, lmax)}};
  const bool no = has(o.modes, "no"), pp = has(o.modes, "pp");
  if (no || pp) {
    const OrderedJson got = mode_no_pp(c, no, pp);
    for (auto& [k, v] : got.items()) out[k] = v;
  }
  if (has(o.modes, "sw")) out["sw"] = mode_sw(c);
  if (has(o.modes, "ft")) out["ft"] = mode_ft(c);
  if (has(o.modes, "passkey")) out["passkey"] = mode_passkey(c);
  if (has(o.modes, "recall")) out["recall"] = mode_recall(c);
  if (has(o.modes, "sinks")) out["sinks"] = mode_sinks(c);
  progress.finish();
  out["seconds"] = progress.elapsed_s();
  return out;
}

namespace {

std::string cell(const OrderedJson& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

// Rows (objects of scalars) → CSV with the union of their keys, in first-seen order.
void write_rows(const std::string& path, const std::vector<OrderedJson>& rows) {
  std::vector<std::string> keys;
  for (const auto& r : rows)
    for (auto& [k, v] : r.items())
      if (!v.is_structured() && std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  std::ofstream f(path, std::ios::trunc);
  GOAT_CHECK(f.good(), "extrapolate", "cannot write '{}'", path);
  for (size_t i = 0; i < keys.size(); ++i) f << (i ? "," : "") << keys[i];
  f << "\n";
  for (const auto& r : rows) {
    for (size_t i = 0; i < keys.size(); ++i) f << (i ? "," : "") << (r.contains(keys[i]) ? cell(r[keys[i]]) : "");
    f << "\n";
  }
}

}  // namespace

std::vector<std::string> write_csvs(const OrderedJson& r, const std::string& json_path) {
  std::string base = json_path;
  if (base.ends_with(".json")) base.resize(base.size() - 5);
  std::vector<std::string> written;
  const auto emit = [&](const std::string& mode, const std::vector<OrderedJson>& rows) {
    if (rows.empty()) return;
    const std::string p = base + "." + mode + ".csv";
    write_rows(p, rows);
    written.push_back(p);
  };
  for (const char* m : {"no", "sw", "ft"})
    if (r.contains(m)) emit(m, std::vector<OrderedJson>(r[m].begin(), r[m].end()));
  if (r.contains("pp") && r["pp"].contains("bins")) emit("pp", std::vector<OrderedJson>(r["pp"]["bins"].begin(), r["pp"]["bins"].end()));
  for (const char* m : {"passkey", "recall"})
    if (r.contains(m)) emit(m, std::vector<OrderedJson>(r[m]["cells"].begin(), r[m]["cells"].end()));
  if (r.contains("sinks") && r["sinks"].is_array()) {
    std::vector<OrderedJson> rows;
    for (const auto& s : r["sinks"]) {
      if (!s.contains("layers")) {
        rows.push_back(s);
        continue;
      }
      for (const auto& l : s["layers"])
        for (const auto& h : l["heads"]) {
          OrderedJson row{{"length", s["length"]}, {"layer", l["layer"]}, {"head", h["head"]}, {"sink_mass", h["sink_mass"]},
                          {"excess", h["excess"]}, {"p_max", h["p_max"]}, {"entropy", h["entropy"]},
                          {"act_max_over_median", l["act_max_over_median"]}, {"sink03", s["sink03"]}};
          if (s["eviction"].is_object()) row["eviction_ratio"] = s["eviction"]["ratio"];
          rows.push_back(row);
        }
    }
    emit("sinks", rows);
  }
  return written;
}

}  // namespace goat::eval
