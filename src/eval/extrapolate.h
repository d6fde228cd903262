// The length-extrapolation suite (docs/evaluation.md, ../shared/docs/extrapolation.md): train at
// T, evaluate at lengths L ≫ T in seven modes, every number plus the protocol in one JSON.
//
//   no       non-overlapping blocks of L; the same n·Lmax-token prefix of the validation stream
//            at every L, every token scored; ppl and ratio ppl(L)/ppl(T)
//   sw       sliding windows of L with stride S, each scoring its last S tokens (S = L is NO)
//   ft       the same final F target tokens after windows of L (context L − F)
//   pp       per-position loss over windows of Lmax in log-spaced bins; blow-up position
//   passkey  marker+key hidden at a depth of filler, marker repeated at the end; greedy exact
//            match of the key (= every teacher-forced argmax right), length × depth grid
//   recall   k key→value pairs spread through filler, queried at the end; exact-match accuracy
//            vs query-to-pair distance
//   sinks    per layer/head attention to token 0 (excess over a uniform row), Sink^0.3, p_max,
//            entropy, max|activation|/median per layer, window-eviction PPL ratio
//
// Lengths past a learned table give {"length": L, "undefined": "not defined beyond N"}.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "data/loader.h"
#include "eval/eval_model.h"

namespace goat::eval {

struct ExtrapolateOptions {
  std::vector<int64_t> lengths;  // empty: T · {1, 2, 4, 8, 16}
  std::vector<std::string> modes = {"no", "sw", "ft", "pp", "passkey", "recall", "sinks"};
  int64_t train_len = 0;      // T (required)
  int64_t windows = 32;       // NO/PP: the scored prefix is windows · Lmax tokens
  int64_t stride = 0;         // SW stride S; 0 = T/4
  int64_t sw_tokens = 0;      // SW: tokens scored per length; 0 = 4 · Lmax
  int64_t ft_targets = 0;     // FT: F; 0 = min(64, T/2)
  int64_t ft_samples = 16;    // FT: target spans
  int64_t pp_bins_per_octave = 4;
  std::vector<double> depths = {0.0, 0.25, 0.5, 0.75, 1.0};
  int64_t passkey_trials = 8;  // per (length, depth)
  int64_t marker_len = 12, key_len = 5;
  int64_t recall_trials = 4, recall_pairs = 8, recall_key_len = 6, recall_value_len = 3;
  int64_t sinks_windows = 2;  // windows per length for the attention diagnostics
  int64_t batch_tokens = 8192;  // B·L per forward
  uint64_t seed = 7;           // probe construction (filler offsets, keys)
  bool progress = false;
};

// Runs the modes and returns the JSON (schema "goatlm.extrapolate/1"). `val` is the validation
// stream; it must hold enough tokens for the protocol (checked, with the count needed).
OrderedJson extrapolate(EvalModel& model, const data::TokenSource& val, ExtrapolateOptions opts);

// Writes FILE's CSVs beside it: FILE minus ".json" + ".<mode>.csv" for each mode present.
std::vector<std::string> write_csvs(const OrderedJson& result, const std::string& json_path);

// Per-mode implementations (extrapolate_ppl.cpp, extrapolate_retrieval.cpp, extrapolate_sinks.cpp).
class Progress;
struct ModeContext {
  EvalModel& model;
  const data::TokenSource& val;
  const ExtrapolateOptions& opts;
  Progress& progress;
  int64_t lmax;
};
OrderedJson mode_no_pp(ModeContext& c, bool want_no, bool want_pp);
OrderedJson mode_sw(ModeContext& c);
OrderedJson mode_ft(ModeContext& c);
OrderedJson mode_passkey(ModeContext& c);
OrderedJson mode_recall(ModeContext& c);
OrderedJson mode_sinks(ModeContext& c);

// Token units each mode forwards (for the progress total).
int64_t mode_cost(const std::string& mode, const ExtrapolateOptions& o, int64_t lmax);

// "not defined beyond N" entry for a length past the model's table.
OrderedJson undefined_entry(int64_t length, int64_t max_len);

}  // namespace goat::eval
