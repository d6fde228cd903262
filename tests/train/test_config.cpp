// The strict config: defaults, overrides, and errors that name the JSON path and origin; every
// key of the schema documented in docs/config.md.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "config/config.h"
#include "core/check.h"

using namespace goat;

namespace {

std::string error_of(const std::string& json, const std::vector<std::string>& sets = {}) {
  try {
    parse_config(json, "test.json", sets);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Config, EmptyObjectGivesDefaults) {
  const Config c = parse_config("{}", "test.json", {});
  const Config d;
  EXPECT_EQ(to_json(c).dump(), to_json(d).dump());
  EXPECT_EQ(c.model.position.type, "learned");
  EXPECT_EQ(c.data.source, "synthetic");
}

TEST(Config, UnknownKeyNamesPathAndFile) {
  const std::string e = error_of(R"({"model": {"n_layers": 2}})");
  EXPECT_NE(e.find("[config] model.n_layers: unknown key (from test.json)"), std::string::npos) << e;
  EXPECT_NE(e.find("n_layer"), std::string::npos) << e;  // lists the known keys
  EXPECT_NE(error_of(R"({"trian": {}})").find("trian: unknown key"), std::string::npos);
}

TEST(Config, WrongTypesNamePath) {
  EXPECT_NE(error_of(R"({"train": {"steps": "10"}})").find("train.steps: expected an integer, got a string \"10\""),
            std::string::npos);
  EXPECT_NE(error_of(R"({"train": {"steps": 1.5}})").find("train.steps: expected an integer"), std::string::npos);
  EXPECT_NE(error_of(R"({"model": {"position": "rope"}})").find("model.position: expected an object"), std::string::npos);
  EXPECT_NE(error_of(R"({"model": {"position": {"key_bias": 1}}})").find("model.position.key_bias: expected a boolean"),
            std::string::npos);
  EXPECT_EQ(parse_config(R"({"train": {"lr": 1}})", "t", {}).train.lr, 1.0);  // integers are numbers
  EXPECT_NE(error_of("{\"train\": ").find("invalid JSON"), std::string::npos);
}

TEST(Config, SetOverridesByDottedPath) {
  const Config c = parse_config("{}", "t", {"train.steps=50", "model.position.type=alibi", "train.lr=3e-4",
                                            "model.position.key_bias=false", "data.train_shards=a/b_*.bin"});
  EXPECT_EQ(c.train.steps, 50);
  EXPECT_EQ(c.model.position.type, "alibi");
  EXPECT_DOUBLE_EQ(c.train.lr, 3e-4);
  EXPECT_FALSE(c.model.position.key_bias);
  EXPECT_EQ(c.data.train_shards, "a/b_*.bin");
  // --set wins over the file
  EXPECT_EQ(parse_config(R"({"train": {"steps": 7}})", "t", {"train.steps=9"}).train.steps, 9);
}

TEST(Config, SetErrorsNamePathAndOrigin) {
  EXPECT_EQ(error_of("{}", {"model.position.type=rop"}),
            "[config] model.position.type: expected one of learned|sinusoidal|rope|alibi|none|goat, got \"rop\" (from --set)");
  EXPECT_NE(error_of("{}", {"train.stepz=5"}).find("train.stepz: unknown key (from --set)"), std::string::npos);
  EXPECT_NE(error_of("{}", {"train.steps=abc"}).find("train.steps: expected an integer, got a string"), std::string::npos);
  EXPECT_NE(error_of("{}", {"train.steps"}).find("expected key.path=value"), std::string::npos);
  // the same bad value from the file names the file
  EXPECT_NE(error_of(R"({"model": {"position": {"type": "rop"}}})").find("got \"rop\" (from test.json)"), std::string::npos);
}

TEST(Config, ValuesAreValidated) {
  EXPECT_NE(error_of(R"({"model": {"d_model": 100, "n_head": 3}})").find("model.n_head: 3 does not divide model.d_model"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"train": {"batch_size": 0}})").find("train.batch_size: must be >= 1"), std::string::npos);
  EXPECT_NE(error_of(R"({"train": {"seq_len": 512}})").find("train.seq_len: 512 exceeds model.max_seq_len"), std::string::npos);
  EXPECT_NE(error_of(R"({"device": "cuda"})").find("device: \"cuda\" is not available: built without CUDA"), std::string::npos);
  EXPECT_NE(error_of(R"({"device": "tpu"})").find("device: expected one of cpu|cuda"), std::string::npos);
  EXPECT_NE(error_of(R"({"dtype": "fp16"})").find("dtype: expected one of fp32|bf16"), std::string::npos);
  EXPECT_NE(error_of(R"({"data": {"source": "shards"}})").find("data.train_shards: required"), std::string::npos);
  EXPECT_NE(error_of(R"({"model": {"position": {"type": "goat", "pos_rank": 20}}})").find("model.position.pos_rank"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"data": {"synthetic": {"task": "passkee"}}})").find("data.synthetic.task: expected one of"),
            std::string::npos);
}

TEST(Config, ResolvedConfigRoundTrips) {
  const Config c = parse_config(R"({"model": {"n_layer": 3}})", "t", {"model.position.type=goat"});
  const Config back = parse_config(to_json(c).dump(), "resolved", {});
  EXPECT_EQ(to_json(back).dump(), to_json(c).dump());
}

void leaves(const OrderedJson& j, const std::string& prefix, std::vector<std::string>& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string p = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it.value().is_object())
      leaves(it.value(), p, out);
    else
      out.push_back(p);
  }
}

TEST(Config, EveryKeyIsDocumented) {
  const char* src = std::getenv("GOATLM_SOURCE_DIR");
  ASSERT_NE(src, nullptr) << "GOATLM_SOURCE_DIR is set by ctest";
  std::ifstream f(std::string(src) + "/docs/config.md");
  ASSERT_TRUE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string doc = ss.str();
  std::vector<std::string> keys;
  const Config d;
  leaves(to_json(d), "", keys);
  EXPECT_GT(keys.size(), 40u);
  for (const auto& k : keys) EXPECT_NE(doc.find("`" + k + "`"), std::string::npos) << k << " is not in docs/config.md";
}

}  // namespace
