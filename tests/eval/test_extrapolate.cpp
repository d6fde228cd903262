// The extrapolation suite on tiny models: finite numbers and the JSON schema; NO at L = T equals
// the trainer's evaluation (`goatlm eval`'s mean_loss) on the same blocks; SW with S = L equals
// NO; PP bins average back to NO at Lmax; passkey/recall are exact (1.0) for an induction oracle
// and at chance for a random model; learned positions past the table are "not defined".
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <unistd.h>  // getpid: a directory of this process's own

#include "eval/eval_fixture.h"
#include "eval/extrapolate.h"

namespace goat {
namespace {

using eval::ExtrapolateOptions;

ExtrapolateOptions small_opts(std::vector<std::string> modes) {
  ExtrapolateOptions o;
  o.train_len = 16;
  o.lengths = {16, 32, 64};
  o.modes = std::move(modes);
  o.windows = 4;
  o.stride = 4;
  o.sw_tokens = 64;
  o.ft_samples = 4;
  o.passkey_trials = 2;
  o.marker_len = 4;
  o.key_len = 3;
  o.recall_trials = 2;
  o.recall_key_len = 3;
  o.recall_value_len = 1;
  o.sinks_windows = 2;
  o.batch_tokens = 128;
  return o;
}

// Every number in the tree is finite.
void expect_finite(const OrderedJson& j, const std::string& path) {
  if (j.is_number()) {
    EXPECT_TRUE(std::isfinite(j.get<double>())) << path;
  } else if (j.is_structured()) {
    for (auto& [k, v] : j.items()) expect_finite(v, path + "." + k);
  }
}

TEST(Extrapolate, AllModesFiniteAndSchema) {
  test::TinyRun run("rope", 20);
  const auto val = data::make_source(run.cfg, true);
  eval::GptEvalModel m(run.model());
  const OrderedJson r = eval::extrapolate(m, *val, small_opts({"no", "sw", "ft", "pp", "passkey", "recall", "sinks"}));
  expect_finite(r, "");
  EXPECT_EQ(r["schema"], "goatlm.extrapolate/1");
  ASSERT_TRUE(r.contains("protocol"));
  EXPECT_EQ(r["protocol"]["train_len"], 16);
  for (const char* k : {"no", "sw", "ft"}) {
    ASSERT_TRUE(r[k].is_array()) << k;
    ASSERT_EQ(r[k].size(), 3u) << k;
    for (const auto& row : r[k])
      for (const char* f : {"length", "loss", "ppl"}) EXPECT_TRUE(row.contains(f)) << k << " " << f;
  }
  EXPECT_DOUBLE_EQ(r["no"][0]["ratio_to_T"].get<double>(), 1.0);
  for (const char* f : {"length", "windows", "bins", "blowup_position", "baseline_T/2_to_T"}) EXPECT_TRUE(r["pp"].contains(f)) << f;
  for (const char* k : {"passkey", "recall"}) {
    ASSERT_TRUE(r[k]["cells"].is_array()) << k;
    for (const auto& c : r[k]["cells"]) {
      EXPECT_GE(c["accuracy"].get<double>(), 0.0);
      EXPECT_LE(c["accuracy"].get<double>(), 1.0);
    }
    EXPECT_EQ(r[k]["by_length"].size(), 3u);
  }
  ASSERT_EQ(r["passkey"]["cells"].size(), 3u * 5u);  // lengths × depths
  ASSERT_EQ(r["sinks"].size(), 3u);
  for (const auto& s : r["sinks"]) {
    const int64_t L = s["length"].get<int64_t>();
    double uniform = 0;
    for (int64_t i = 4; i < L; ++i) uniform += 1.0 / static_cast<double>(i + 1);
    EXPECT_NEAR(s["uniform_mass"].get<double>(), uniform / static_cast<double>(L - 4), 1e-12);
    ASSERT_EQ(s["layers"].size(), 1u);
    ASSERT_EQ(s["layers"][0]["heads"].size(), 2u);
    for (const auto& h : s["layers"][0]["heads"]) {
      EXPECT_GE(h["sink_mass"].get<double>(), 0.0);
      EXPECT_LE(h["sink_mass"].get<double>(), 1.0);
      EXPECT_GE(h["p_max"].get<double>(), h["sink_mass"].get<double>() - 1e-6);  // p_max ≥ p_i0
      EXPECT_LE(h["entropy"].get<double>(), std::log(static_cast<double>(L)) + 1e-5);
    }
    if (L > 16) {
      EXPECT_TRUE(s["eviction"].contains("ratio"));
    }
  }
  // CSVs beside the JSON
  const std::string dir = testing::TempDir() + "extrap_csv_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const auto files = eval::write_csvs(r, dir + "/out.json");
  EXPECT_EQ(files.size(), 7u);
  std::ifstream f(dir + "/out.no.csv");
  std::string header;
  std::getline(f, header);
  EXPECT_EQ(header.rfind("length,", 0), 0u) << header;
}

// NO at L = T scores the same blocks `goatlm eval` (mean_loss over a Loader) scores: a source of
// exactly T + 1 tokens has one window, so the loader's batch is that block.
TEST(Extrapolate, NoAtTrainLenEqualsEval) {
  test::TinyRun run("alibi", 20);
  const auto val = data::make_source(run.cfg, true);
  const int64_t T = 16, blocks = 6;
  double expect = 0;
  for (int64_t k = 0; k < blocks; ++k) {
    std::vector<int32_t> tok(static_cast<size_t>(T + 1));
    val->read(k * T, T + 1, tok.data());
    auto src = std::make_shared<data::MemorySource>(std::vector<uint16_t>(tok.begin(), tok.end()), "block");
    data::Loader loader(src, 1, T, 3, RngPurpose::eval);
    Activations acts(run.cfg.model, 1, T);
    expect += mean_loss(run.model(), acts, loader, 1) / static_cast<double>(blocks);
  }
  eval::GptEvalModel m(run.model());
  ExtrapolateOptions o = small_opts({"no"});
  o.lengths = {T};
  o.windows = blocks;
  o.batch_tokens = 3 * T;  // batches of 3 blocks: a different batching than the reference
  const OrderedJson r = eval::extrapolate(m, *val, o);
  EXPECT_EQ(r["no"][0]["tokens"], blocks * T);
  EXPECT_NEAR(r["no"][0]["loss"].get<double>(), expect, 1e-5 * expect);
}

TEST(Extrapolate, SlidingWindowWithStrideLEqualsNo) {
  test::TinyRun run("goat", 10, {"model.n_head=1"});
  const auto val = data::make_source(run.cfg, true);
  eval::GptEvalModel m(run.model());
  for (const int64_t L : {16, 32, 64}) {
    ExtrapolateOptions o = small_opts({"no", "sw"});
    o.lengths = {16, L};
    o.windows = 4;  // NO prefix: 4 · Lmax tokens
    o.stride = L;
    o.sw_tokens = 4 * L;
    const OrderedJson r = eval::extrapolate(m, *val, o);
    const auto& no = r["no"].back();
    const auto& sw = r["sw"].back();
    ASSERT_EQ(no["length"], L);
    EXPECT_EQ(sw["tokens"], no["tokens"]) << L;
    EXPECT_NEAR(sw["loss"].get<double>(), no["loss"].get<double>(), 1e-6 * no["loss"].get<double>()) << L;
  }
}

// The bins partition [0, Lmax): their width-weighted mean is NO's loss at Lmax.
TEST(Extrapolate, PerPositionBinsAverageToNo) {
  test::TinyRun run("none", 10);
  const auto val = data::make_source(run.cfg, true);
  eval::GptEvalModel m(run.model());
  const OrderedJson r = eval::extrapolate(m, *val, small_opts({"no", "pp"}));
  double sum = 0;
  int64_t covered = 0;
  for (const auto& b : r["pp"]["bins"]) {
    EXPECT_EQ(b["lo"].get<int64_t>(), covered);
    const int64_t w = b["hi"].get<int64_t>() - b["lo"].get<int64_t>();
    sum += b["loss"].get<double>() * static_cast<double>(w);
    covered += w;
  }
  EXPECT_EQ(covered, 64);
  EXPECT_NEAR(sum / 64.0, r["no"].back()["loss"].get<double>(), 1e-9);
}

TEST(Extrapolate, RetrievalExactForInductionOracle) {
  const Config cfg = test::tiny_config("none", 1);
  const auto val = data::make_source(cfg, true);
  test::InductionOracle oracle(256, 6);
  ExtrapolateOptions o = small_opts({"passkey", "recall"});
  o.marker_len = 12;
  o.key_len = 5;
  o.recall_key_len = 6;
  o.recall_value_len = 3;
  o.lengths = {128, 256};
  o.train_len = 64;
  const OrderedJson r = eval::extrapolate(oracle, *val, o);
  for (const auto& c : r["passkey"]["cells"]) EXPECT_EQ(c["accuracy"].get<double>(), 1.0) << c.dump();
  for (const auto& c : r["recall"]["by_length"]) EXPECT_EQ(c["accuracy"].get<double>(), 1.0) << c.dump();
  // and a copier that looks at too short a suffix (m = 1) is not exact: the probes can fail
  test::InductionOracle weak(256, 1);
  const OrderedJson w = eval::extrapolate(weak, *val, o);
  EXPECT_LT(w["passkey"]["by_length"][0]["accuracy"].get<double>(), 0.5);
}

TEST(Extrapolate, RetrievalAtChanceForRandomModel) {
  test::TinyRun run("rope", 0);
  const auto val = data::make_source(run.cfg, true);
  eval::GptEvalModel m(run.model());
  ExtrapolateOptions o = small_opts({"passkey", "recall"});
  o.passkey_trials = 8;
  o.recall_trials = 8;
  const OrderedJson r = eval::extrapolate(m, *val, o);
  // exact-match chance is 26^-3 per passkey and 1/26 per recall value; 40 + ~16 trials per length
  for (const auto& c : r["passkey"]["by_length"]) EXPECT_LE(c["accuracy"].get<double>(), 0.1) << c.dump();
  for (const auto& c : r["recall"]["by_length"]) EXPECT_LE(c["accuracy"].get<double>(), 0.25) << c.dump();
}

TEST(Extrapolate, LearnedIsNotDefinedPastItsTable) {
  test::TinyRun run("learned", 5);
  const auto val = data::make_source(run.cfg, true);
  eval::GptEvalModel m(run.model());
  const OrderedJson r = eval::extrapolate(m, *val, small_opts({"no", "sw", "ft", "pp", "passkey", "sinks"}));
  EXPECT_TRUE(r["no"][0].contains("ppl"));
  EXPECT_EQ(r["no"][1]["undefined"], "not defined beyond 16");
  EXPECT_EQ(r["no"][2]["undefined"], "not defined beyond 16");
  EXPECT_EQ(r["sw"][2]["undefined"], "not defined beyond 16");
  EXPECT_EQ(r["pp"]["undefined"], "not defined beyond 16");
  EXPECT_EQ(r["passkey"]["by_length"][1]["undefined"], "not defined beyond 16");
  EXPECT_EQ(r["sinks"][1]["undefined"], "not defined beyond 16");
}

TEST(Extrapolate, BadModeIsAnError) {
  test::InductionOracle oracle(256, 2);
  const Config cfg = test::tiny_config("none", 1);
  const auto val = data::make_source(cfg, true);
  EXPECT_THROW(eval::extrapolate(oracle, *val, small_opts({"nope"})), Error);
}

}  // namespace
}  // namespace goat
