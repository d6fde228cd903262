// `goatlm study` end to end on a two-variant, one-seed, few-step study: results.json and
// report.md are written, learned is "not defined" past its table, a second run resumes without
// retraining or re-evaluating, and the plot script draws its PNGs headless (skipped when
// /usr/bin/python3 has no matplotlib).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>  // getpid: a directory of this process's own

#include "eval/study.h"

namespace goat {
namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string write_study(const std::string& dir) {
  const std::string path = dir + "/study.json";
  std::ofstream f(path);
  f << R"({"name": "unit", "description": "test study",
    "base": {"model": {"vocab_size": 256, "n_layer": 1, "n_head": 2, "d_model": 16, "max_seq_len": 16},
             "train": {"steps": 3, "batch_size": 2, "seq_len": 16, "warmup_steps": 1, "eval_every": 0, "eval_batches": 1,
                       "log_every": 1000},
             "data": {"source": "synthetic", "synthetic": {"task": "repeat", "train_tokens": 4096, "val_tokens": 4096}}},
    "variants": [{"name": "alibi", "set": ["model.position.type=alibi"]},
                 {"name": "learned", "set": ["model.position.type=learned"]}],
    "seeds": [1, 2],
    "extrapolate": {"lengths": [16, 32], "windows": 2, "sw_tokens": 32, "ft_samples": 2, "passkey_trials": 1,
                    "marker_len": 4, "key_len": 3, "recall_trials": 1, "recall_key_len": 3, "recall_value_len": 1,
                    "sinks_windows": 1, "batch_tokens": 64}})";
  return path;
}

bool have_matplotlib() { return std::system("/usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1") == 0; }

TEST(Study, RunsReportsAndResumes) {
  const std::string dir = testing::TempDir() + "goat_study_test_" + std::to_string(::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  const eval::StudyConfig s = eval::load_study(write_study(dir));
  eval::StudyOptions o;
  o.out_dir = dir + "/out";
  o.python = "/nonexistent/python";  // plots tested separately below
  o.progress = false;
  const OrderedJson r = eval::run_study(s, o);
  EXPECT_EQ(r["schema"], "goatlm.study/1");
  ASSERT_TRUE(r["runs"]["alibi"].contains("1"));
  ASSERT_TRUE(r["runs"]["learned"].contains("2"));
  const auto& no = r["summary"]["alibi"]["no_ppl"];
  ASSERT_EQ(no.size(), 2u);
  EXPECT_EQ(no[0]["n"], 2);
  const auto& v = no[0]["values"];
  const double mean = (v[0].get<double>() + v[1].get<double>()) / 2;
  EXPECT_NEAR(no[0]["mean"].get<double>(), mean, 1e-12);
  EXPECT_NEAR(no[0]["std"].get<double>(), std::fabs(v[0].get<double>() - v[1].get<double>()) / std::sqrt(2.0), 1e-12);
  EXPECT_EQ(r["summary"]["learned"]["no_ppl"][1]["undefined"], "not defined beyond 16");
  const std::string md = slurp(o.out_dir + "/report.md");
  EXPECT_NE(md.find("| alibi |"), std::string::npos);
  EXPECT_NE(md.find("not defined beyond 16"), std::string::npos);
  EXPECT_TRUE(fs::exists(o.out_dir + "/results.json"));

  // resume: nothing is retrained or re-evaluated
  const auto w0 = fs::last_write_time(o.out_dir + "/runs/alibi-s1/model.safetensors");
  const auto e0 = fs::last_write_time(o.out_dir + "/runs/alibi-s1/extrapolate.json");
  const OrderedJson r2 = eval::run_study(s, o);
  EXPECT_EQ(fs::last_write_time(o.out_dir + "/runs/alibi-s1/model.safetensors"), w0);
  EXPECT_EQ(fs::last_write_time(o.out_dir + "/runs/alibi-s1/extrapolate.json"), e0);
  EXPECT_EQ(r2["summary"], r["summary"]);

  // plots, headless
  if (!have_matplotlib()) GTEST_SKIP() << "/usr/bin/python3 has no matplotlib";
  const char* src = std::getenv("GOATLM_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  const std::string cmd = std::string("/usr/bin/python3 ") + src + "/scripts/plot_extrapolation.py " + o.out_dir +
                          "/results.json --out " + dir + "/plots >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  for (const char* png : {"ppl_vs_length.png", "per_position.png", "passkey.png", "sinks.png"})
    EXPECT_GT(fs::file_size(dir + "/plots/" + png), 1000u) << png;
}

TEST(Study, BadConfigsAreErrors) {
  const std::string dir = testing::TempDir() + "goat_study_bad_" + std::to_string(::getpid());
  fs::create_directories(dir);
  std::ofstream(dir + "/a.json") << R"({"base": {}, "variants": [{"name": "x"}], "seeds": [1], "extrapolate": {"lenghts": [1]}})";
  EXPECT_THROW(eval::load_study(dir + "/a.json"), Error);
  std::ofstream(dir + "/b.json") << R"({"base": {}, "variants": [{"name": "x", "set": ["model.position.type=rop"]}], "seeds": [1]})";
  EXPECT_THROW(eval::load_study(dir + "/b.json"), Error);
}

// The shipped studies parse: every variant's resolved config validates, extrapolate keys are known.
TEST(Study, ShippedConfigsParse) {
  const char* src = std::getenv("GOATLM_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  for (const char* name : {"quick", "tiny-cpu", "gpt2-124m"}) {
    try {
      const eval::StudyConfig s = eval::load_study(std::string(src) + "/configs/studies/" + name + ".json");
      EXPECT_EQ(s.variants.size(), 6u) << name;
      EXPECT_EQ(s.name, name);
    } catch (const Error& e) {  // the GPU study validates only in a CUDA build
      EXPECT_EQ(std::string(name), "gpt2-124m") << e.what();
      EXPECT_NE(std::string(e.what()).find("cuda"), std::string::npos) << e.what();
    }
  }
  const eval::StudyConfig tiny = eval::load_study(std::string(src) + "/configs/studies/tiny-cpu.json");
  EXPECT_GE(tiny.seeds.size(), 2u);
  const Config c = eval::study_run_config(tiny, tiny.variants[0], tiny.seeds[0]);
  EXPECT_EQ(c.train.seq_len, 64);
  EXPECT_EQ(tiny.extrapolate["lengths"].back().get<int64_t>(), 16 * 64);
}

}  // namespace
}  // namespace goat
