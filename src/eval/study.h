// A study: train several position variants with the same data, budget and seeds, run the
// extrapolation suite on each, and write DIR/results.json plus DIR/report.md (mean ± std over
// seeds, plots from scripts/plot_extrapolation.py embedded). Resumable: a run directory whose
// config.json matches and that holds model.safetensors is not retrained, and one that holds
// extrapolate.json is not re-evaluated.
//
// Study config (configs/studies/*.json, docs/evaluation.md):
//   {"name": "...", "description": "...", "base": {<a goatlm config>},
//    "variants": [{"name": "goat", "set": ["model.position.type=goat", ...]}, ...],
//    "seeds": [1, 2], "extrapolate": {"lengths": [...], "modes": [...], "windows": 16, ...}}
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "eval/extrapolate.h"

namespace goat::eval {

struct StudyVariant {
  std::string name;
  std::vector<std::string> sets;  // --set overrides applied to the base config
};

struct StudyConfig {
  std::string name, description;
  OrderedJson base;
  std::vector<StudyVariant> variants;
  std::vector<int64_t> seeds;
  OrderedJson extrapolate;  // ExtrapolateOptions keys (lengths, modes, windows, stride, ...)
};

StudyConfig load_study(const std::string& path);
// Applies the JSON keys of `j` onto options (unknown keys are errors naming the key).
void apply_extrapolate_options(const OrderedJson& j, ExtrapolateOptions& o);
// The resolved goatlm config of one (variant, seed).
Config study_run_config(const StudyConfig& s, const StudyVariant& v, int64_t seed);

struct StudyOptions {
  std::string out_dir;
  std::string python = "/usr/bin/python3";
  std::string plot_script = "scripts/plot_extrapolation.py";
  bool progress = true;
};

// Runs (or resumes) the study; returns results.json's content.
OrderedJson run_study(const StudyConfig& s, const StudyOptions& o);

// Mean ± std summaries over seeds (study_report.cpp) and the Markdown report.
OrderedJson summarize(const OrderedJson& runs, const StudyConfig& s);
std::string report_markdown(const OrderedJson& results, const std::vector<std::string>& plots);
// The headline table (NO perplexity per length), as printed at the end of `goatlm study`.
std::string headline_table(const OrderedJson& results);

}  // namespace goat::eval
