// Study runner: config parsing, train-or-resume per (variant, seed) through the trainer library,
// extrapolation per run, plots via scripts/plot_extrapolation.py, results.json and report.md.
#include "eval/study.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/loader.h"
#include "train/run_dir.h"
#include "train/trainer.h"

namespace goat::eval {

namespace fs = std::filesystem;

namespace {

OrderedJson read_json(const std::string& path) {
  std::ifstream f(path);
  GOAT_CHECK(f.good(), "study", "cannot read '{}'", path);
  try {
    return OrderedJson::parse(f);
  } catch (const std::exception& e) {
    fail("study", "'{}' is not valid JSON: {}", path, e.what());
  }
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  GOAT_CHECK(f.good(), "study", "cannot write '{}'", path);
  f << text;
}

template <class T>
void take(const OrderedJson& j, const char* key, T& out) {
  if (!j.contains(key)) return;
  try {
    out = j.at(key).get<T>();
  } catch (const std::exception& e) {
    fail("study", "extrapolate.{}: {}", key, e.what());
  }
}

}  // namespace

void apply_extrapolate_options(const OrderedJson& j, ExtrapolateOptions& o) {
  static const std::vector<std::string> known = {
      "lengths",        "modes",       "windows",        "stride",        "sw_tokens",        "ft_targets",
      "ft_samples",     "pp_bins_per_octave", "depths",  "passkey_trials", "marker_len",      "key_len",
      "recall_trials",  "recall_pairs", "recall_key_len", "recall_value_len", "sinks_windows", "batch_tokens", "seed"};
  GOAT_CHECK(j.is_object(), "study", "\"extrapolate\" must be an object, got {}", j.dump());
  for (auto& [k, v] : j.items())
    GOAT_CHECK(std::find(known.begin(), known.end(), k) != known.end(), "study", "extrapolate.{}: unknown key", k);
  take(j, "lengths", o.lengths);
  take(j, "modes", o.modes);
  take(j, "windows", o.windows);
  take(j, "stride", o.stride);
  take(j, "sw_tokens", o.sw_tokens);
  take(j, "ft_targets", o.ft_targets);
  take(j, "ft_samples", o.ft_samples);
  take(j, "pp_bins_per_octave", o.pp_bins_per_octave);
  take(j, "depths", o.depths);
  take(j, "passkey_trials", o.passkey_trials);
  take(j, "marker_len", o.marker_len);
  take(j, "key_len", o.key_len);
  take(j, "recall_trials", o.recall_trials);
  take(j, "recall_pairs", o.recall_pairs);
  take(j, "recall_key_len", o.recall_key_len);
  take(j, "recall_value_len", o.recall_value_len);
  take(j, "sinks_windows", o.sinks_windows);
  take(j, "batch_tokens", o.batch_tokens);
  take(j, "seed", o.seed);
}

StudyConfig load_study(const std::string& path) {
  const OrderedJson j = read_json(path);
  StudyConfig s;
  for (auto& [k, v] : j.items())
    GOAT_CHECK(k == "name" || k == "description" || k == "base" || k == "variants" || k == "seeds" || k == "extrapolate",
               "study", "{}: unknown key \"{}\" (name, description, base, variants, seeds, extrapolate)", path, k);
  GOAT_CHECK(j.contains("base") && j.contains("variants") && j.contains("seeds"), "study",
             "{}: needs \"base\", \"variants\" and \"seeds\"", path);
  s.name = j.value("name", fs::path(path).stem().string());
  s.description = j.value("description", "");
  s.base = j["base"];
  for (const auto& v : j["variants"]) {
    StudyVariant sv;
    sv.name = v.at("name").get<std::string>();
    if (v.contains("set")) sv.sets = v["set"].get<std::vector<std::string>>();
    s.variants.push_back(sv);
  }
  s.seeds = j["seeds"].get<std::vector<int64_t>>();
  GOAT_CHECK(!s.variants.empty() && !s.seeds.empty(), "study", "{}: needs at least one variant and one seed", path);
  s.extrapolate = j.value("extrapolate", OrderedJson::object());
  ExtrapolateOptions check;
  apply_extrapolate_options(s.extrapolate, check);  // fail early on a bad key
  for (const auto& v : s.variants) (void)study_run_config(s, v, s.seeds.front());
  return s;
}

Config study_run_config(const StudyConfig& s, const StudyVariant& v, int64_t seed) {
  std::vector<std::string> sets = v.sets;
  sets.push_back("train.seed=" + std::to_string(seed));
  return parse_config(s.base.dump(), "study " + s.name + " variant " + v.name, sets);
}

OrderedJson run_study(const StudyConfig& s, const StudyOptions& o) {
  fs::create_directories(o.out_dir + "/runs");
  OrderedJson runs = OrderedJson::object();
  const size_t total = s.variants.size() * s.seeds.size();
  size_t index = 0;
  for (const auto& v : s.variants) {
    for (const int64_t seed : s.seeds) {
      ++index;
      const Config cfg = study_run_config(s, v, seed);
      const std::string rd = o.out_dir + "/runs/" + v.name + "-s" + std::to_string(seed);
      const bool trained = fs::exists(rd + "/model.safetensors") && fs::exists(rd + "/config.json") &&
                           to_json(load_config(rd + "/config.json", {})) == to_json(cfg);
      if (trained) {
        spdlog::info("[{}/{}] {} seed {}: trained already ({}), not retraining", index, total, v.name, seed, rd);
      } else {
        fs::remove(rd + "/extrapolate.json");
        spdlog::info("[{}/{}] {} seed {}: training into {}", index, total, v.name, seed, rd);
        Trainer trainer(cfg, rd, false);
        trainer.run();
      }
      OrderedJson ex;
      if (fs::exists(rd + "/extrapolate.json")) {
        ex = read_json(rd + "/extrapolate.json");
      } else {
        spdlog::info("[{}/{}] {} seed {}: extrapolation suite", index, total, v.name, seed);
        LoadedRun r = load_run(rd);
        ExtrapolateOptions e;
        apply_extrapolate_options(s.extrapolate, e);
        e.train_len = cfg.train.seq_len;
        e.progress = o.progress;
        GptEvalModel model(*r.model);
        const auto val = data::make_source(cfg, true);
        // the validation loss at T from the trainer's own evaluation, for the record
        ex = OrderedJson{{"run", rd}, {"variant", cfg.model.position.type}, {"params", r.model->num_params()},
                         {"max_seq_len", cfg.model.max_seq_len}};
        const OrderedJson got = extrapolate(model, *val, e);
        for (auto& [k, val_j] : got.items()) ex[k] = val_j;
        write_text(rd + "/extrapolate.json", ex.dump(2) + "\n");
        write_csvs(ex, rd + "/extrapolate.json");
      }
      runs[v.name][std::to_string(seed)] = ex;
    }
  }
  OrderedJson results{{"schema", "goatlm.study/1"},
                      {"name", s.name},
                      {"description", s.description},
                      {"base", s.base},
                      {"variants", OrderedJson::array()},
                      {"seeds", s.seeds},
                      {"extrapolate", s.extrapolate}};
  for (const auto& v : s.variants) results["variants"].push_back(OrderedJson{{"name", v.name}, {"set", v.sets}});
  results["summary"] = summarize(runs, s);
  results["runs"] = runs;
  write_text(o.out_dir + "/results.json", results.dump(2) + "\n");
  // plots: the script reads results.json and writes PNGs under DIR/plots
  std::vector<std::string> plots;
  const std::string plot_dir = o.out_dir + "/plots";
  if (fs::exists(o.python) && fs::exists(o.plot_script)) {
    fs::create_directories(plot_dir);
    const std::string cmd = "'" + o.python + "' '" + o.plot_script + "' '" + o.out_dir + "/results.json' --out '" + plot_dir + "'";
    if (std::system(cmd.c_str()) == 0) {
      for (const auto& e : fs::directory_iterator(plot_dir))
        if (e.path().extension() == ".png") plots.push_back("plots/" + e.path().filename().string());
      std::sort(plots.begin(), plots.end());
    } else {
      spdlog::warn("plot script failed: {}", cmd);
    }
  } else {
    spdlog::warn("no plots: {} or {} is missing", o.python, o.plot_script);
  }
  write_text(o.out_dir + "/report.md", report_markdown(results, plots));
  spdlog::info("wrote {}/results.json and {}/report.md", o.out_dir, o.out_dir);
  return results;
}

}  // namespace goat::eval
