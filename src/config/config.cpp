// Strict config parsing: the default Config serialised to JSON is the schema; user JSON and
// `--set` overrides are merged onto it key by key, and any key the schema lacks or any value of
// another JSON type is an error naming its dotted path and where it came from.
#include "config/config.h"

#include <fstream>
#include <map>
#include <sstream>

#include "backend/cuda/cuda_ops.h"
#include "core/check.h"

namespace goat {

namespace {

template <typename... Args>
[[noreturn]] void config_fail(fmt::format_string<Args...> f, Args&&... args) {
  fail("config", f, std::forward<Args>(args)...);
}

const char* kind_of(const OrderedJson& j) {
  if (j.is_boolean()) return "a boolean";
  if (j.is_number_integer() || j.is_number_unsigned()) return "an integer";
  if (j.is_number_float()) return "a number";
  if (j.is_string()) return "a string";
  if (j.is_object()) return "an object";
  if (j.is_array()) return "an array";
  return "null";
}

bool compatible(const OrderedJson& schema, const OrderedJson& v) {
  if (schema.is_boolean()) return v.is_boolean();
  if (schema.is_number_integer() || schema.is_number_unsigned()) return v.is_number_integer() || v.is_number_unsigned();
  if (schema.is_number_float()) return v.is_number();
  if (schema.is_string()) return v.is_string();
  if (schema.is_object()) return v.is_object();
  return false;
}

std::string known_keys(const OrderedJson& obj) {
  std::string s;
  for (auto it = obj.begin(); it != obj.end(); ++it) s += (s.empty() ? "" : ", ") + it.key();
  return s;
}

// Where each leaf value came from (file name or "--set"), for the messages of validate().
using Origins = std::map<std::string, std::string>;
const Origins* g_origins = nullptr;  // set only while parse_config validates (single-threaded)

std::string from(const std::string& path) {
  if (g_origins == nullptr) return "";
  const auto it = g_origins->find(path);
  return it == g_origins->end() ? "" : " (from " + it->second + ")";
}

// dst (schema-shaped) ← src, checking keys and types; records the origin of every leaf.
void merge(OrderedJson& dst, const OrderedJson& src, const std::string& path, const std::string& origin,
           Origins& origins) {
  if (!src.is_object()) config_fail("{}: expected an object, got {} (from {})", path.empty() ? "<root>" : path, kind_of(src), origin);
  for (auto it = src.begin(); it != src.end(); ++it) {
    const std::string p = path.empty() ? it.key() : path + "." + it.key();
    if (!dst.contains(it.key()))
      config_fail("{}: unknown key (from {}); known keys{}: {}", p, origin, path.empty() ? "" : " of " + path,
                  known_keys(dst));
    OrderedJson& d = dst[it.key()];
    if (!compatible(d, it.value()))
      config_fail("{}: expected {}, got {} {} (from {})", p, kind_of(d), kind_of(it.value()), it.value().dump(), origin);
    if (d.is_object()) {
      merge(d, it.value(), p, origin, origins);
    } else {
      d = it.value();
      origins[p] = origin;
    }
  }
}

// Applies "a.b.c=v" to the merged tree. A string-typed key takes v verbatim (unless v is a JSON
// string literal); other keys parse v as JSON.
void apply_set(OrderedJson& tree, const std::string& set, Origins& origins) {
  const auto eq = set.find('=');
  if (eq == std::string::npos || eq == 0) config_fail("--set '{}': expected key.path=value", set);
  const std::string path = set.substr(0, eq), raw = set.substr(eq + 1);
  OrderedJson* node = &tree;
  std::string walked;
  std::stringstream ss(path);
  std::string part;
  while (std::getline(ss, part, '.')) {
    walked += (walked.empty() ? "" : ".") + part;
    if (!node->is_object() || !node->contains(part))
      config_fail("{}: unknown key (from --set){}", walked,
                  node->is_object() ? "; known keys: " + known_keys(*node) : "");
    node = &(*node)[part];
  }
  OrderedJson v;
  try {
    v = OrderedJson::parse(raw);
  } catch (const nlohmann::json::exception&) {
    v = raw;
  }
  if (node->is_string() && !v.is_string()) v = raw;
  if (!compatible(*node, v)) config_fail("{}: expected {}, got {} {} (from --set)", path, kind_of(*node), kind_of(v), v.dump());
  if (node->is_object()) {
    merge(*node, v, path, "--set", origins);
  } else {
    *node = v;
    origins[path] = "--set";
  }
}

void check_one_of(const std::string& path, const std::string& v, std::initializer_list<const char*> allowed) {
  std::string list;
  for (const char* a : allowed) {
    if (v == a) return;
    if (!list.empty()) list += '|';
    list += a;
  }
  config_fail("{}: expected one of {}, got \"{}\"{}", path, list, v, from(path));
}

void check_min(const std::string& path, double v, double lo) {
  if (!(v >= lo)) config_fail("{}: must be >= {}, got {}{}", path, lo, v, from(path));
}

}  // namespace

OrderedJson to_json(const Config& c) {
  const auto& m = c.model;
  const auto& p = m.position;
  const auto& t = c.train;
  const auto& s = c.data.synthetic;
  OrderedJson j;
  j["model"] = {{"vocab_size", m.vocab_size}, {"n_layer", m.n_layer},       {"n_head", m.n_head},
                {"n_kv_head", m.n_kv_head},   {"d_model", m.d_model},       {"max_seq_len", m.max_seq_len},
                {"position", OrderedJson{{"type", p.type}, {"rope_base", p.rope_base}, {"rope_pairing", p.rope_pairing},
                                         {"pos_rank", p.pos_rank}, {"abs_rank", p.abs_rank}, {"key_bias", p.key_bias},
                                         {"init", p.init}, {"train_len", p.train_len}}}};
  j["train"] = {{"steps", t.steps},         {"batch_size", t.batch_size},     {"seq_len", t.seq_len},
                {"lr", t.lr},               {"min_lr", t.min_lr},             {"warmup_steps", t.warmup_steps},
                {"weight_decay", t.weight_decay}, {"beta1", t.beta1},         {"beta2", t.beta2},
                {"eps", t.eps},             {"grad_clip", t.grad_clip},       {"grad_accum", t.grad_accum},
                {"seed", t.seed},           {"eval_every", t.eval_every},     {"eval_batches", t.eval_batches},
                {"ckpt_every", t.ckpt_every}, {"log_every", t.log_every},     {"keep_last", t.keep_last},
                {"max_bad_steps", t.max_bad_steps}, {"diag_every", t.diag_every},
                {"recompute", t.recompute}};
  j["data"] = {{"source", c.data.source},
               {"synthetic", OrderedJson{{"task", s.task}, {"seed", s.seed}, {"train_tokens", s.train_tokens},
                                         {"val_tokens", s.val_tokens}, {"doc_len", s.doc_len},
                                         {"segment_min", s.segment_min}, {"segment_max", s.segment_max},
                                         {"max_distance", s.max_distance}, {"repeat_prob", s.repeat_prob}}},
               {"train_shards", c.data.train_shards},
               {"val_shards", c.data.val_shards}};
  const auto& ds = c.dist;
  j["dist"] = {{"backend", ds.backend},     {"zero", ds.zero},           {"timeout_s", ds.timeout_s},
               {"deterministic", ds.deterministic}, {"bucket_mb", ds.bucket_mb}};
  j["device"] = c.device;
  j["dtype"] = c.dtype;
  return j;
}

namespace {

Config from_tree(const OrderedJson& j) {
  Config c;
  auto& m = c.model;
  auto& p = m.position;
  const auto& jm = j.at("model");
  const auto& jp = jm.at("position");
  m.vocab_size = jm.at("vocab_size").get<int64_t>();
  m.n_layer = jm.at("n_layer").get<int64_t>();
  m.n_head = jm.at("n_head").get<int64_t>();
  m.n_kv_head = jm.at("n_kv_head").get<int64_t>();
  m.d_model = jm.at("d_model").get<int64_t>();
  m.max_seq_len = jm.at("max_seq_len").get<int64_t>();
  p.type = jp.at("type").get<std::string>();
  p.rope_base = jp.at("rope_base").get<double>();
  p.rope_pairing = jp.at("rope_pairing").get<std::string>();
  p.pos_rank = jp.at("pos_rank").get<int64_t>();
  p.abs_rank = jp.at("abs_rank").get<int64_t>();
  p.key_bias = jp.at("key_bias").get<bool>();
  p.init = jp.at("init").get<std::string>();
  p.train_len = jp.at("train_len").get<int64_t>();
  auto& t = c.train;
  const auto& jt = j.at("train");
  t.steps = jt.at("steps").get<int64_t>();
  t.batch_size = jt.at("batch_size").get<int64_t>();
  t.seq_len = jt.at("seq_len").get<int64_t>();
  t.lr = jt.at("lr").get<double>();
  t.min_lr = jt.at("min_lr").get<double>();
  t.warmup_steps = jt.at("warmup_steps").get<int64_t>();
  t.weight_decay = jt.at("weight_decay").get<double>();
  t.beta1 = jt.at("beta1").get<double>();
  t.beta2 = jt.at("beta2").get<double>();
  t.eps = jt.at("eps").get<double>();
  t.grad_clip = jt.at("grad_clip").get<double>();
  t.grad_accum = jt.at("grad_accum").get<int64_t>();
  t.seed = jt.at("seed").get<int64_t>();
  t.eval_every = jt.at("eval_every").get<int64_t>();
  t.eval_batches = jt.at("eval_batches").get<int64_t>();
  t.ckpt_every = jt.at("ckpt_every").get<int64_t>();
  t.log_every = jt.at("log_every").get<int64_t>();
  t.keep_last = jt.at("keep_last").get<int64_t>();
  t.max_bad_steps = jt.at("max_bad_steps").get<int64_t>();
  t.diag_every = jt.at("diag_every").get<int64_t>();
  t.recompute = jt.at("recompute").get<std::string>();
  const auto& jd = j.at("data");
  const auto& js = jd.at("synthetic");
  auto& s = c.data.synthetic;
  c.data.source = jd.at("source").get<std::string>();
  s.task = js.at("task").get<std::string>();
  s.seed = js.at("seed").get<int64_t>();
  s.train_tokens = js.at("train_tokens").get<int64_t>();
  s.val_tokens = js.at("val_tokens").get<int64_t>();
  s.doc_len = js.at("doc_len").get<int64_t>();
  s.segment_min = js.at("segment_min").get<int64_t>();
  s.segment_max = js.at("segment_max").get<int64_t>();
  s.max_distance = js.at("max_distance").get<int64_t>();
  s.repeat_prob = js.at("repeat_prob").get<double>();
  c.data.train_shards = jd.at("train_shards").get<std::string>();
  c.data.val_shards = jd.at("val_shards").get<std::string>();
  const auto& jdist = j.at("dist");
  c.dist.backend = jdist.at("backend").get<std::string>();
  c.dist.zero = jdist.at("zero").get<int64_t>();
  c.dist.timeout_s = jdist.at("timeout_s").get<double>();
  c.dist.deterministic = jdist.at("deterministic").get<bool>();
  c.dist.bucket_mb = jdist.at("bucket_mb").get<double>();
  c.device = j.at("device").get<std::string>();
  c.dtype = j.at("dtype").get<std::string>();
  return c;
}

}  // namespace

void validate(const Config& c) {
  const auto& m = c.model;
  const auto& p = m.position;
  check_min("model.vocab_size", static_cast<double>(m.vocab_size), 2);
  check_min("model.n_layer", static_cast<double>(m.n_layer), 1);
  check_min("model.n_head", static_cast<double>(m.n_head), 1);
  check_min("model.n_kv_head", static_cast<double>(m.n_kv_head), 0);
  check_min("model.d_model", static_cast<double>(m.d_model), 1);
  check_min("model.max_seq_len", static_cast<double>(m.max_seq_len), 1);
  if (m.d_model % m.n_head != 0)
    config_fail("model.n_head: {} does not divide model.d_model = {}", m.n_head, m.d_model);
  if (m.n_head % m.kv_heads() != 0)
    config_fail("model.n_kv_head: {} does not divide model.n_head = {}", m.kv_heads(), m.n_head);
  check_one_of("model.position.type", p.type, {"learned", "sinusoidal", "rope", "alibi", "none", "goat"});
  check_one_of("model.position.rope_pairing", p.rope_pairing, {"half", "interleaved"});
  if (!(p.rope_base > 1.0)) config_fail("model.position.rope_base: must be > 1, got {}", p.rope_base);
  if (p.type == "rope" && m.head_dim() % 2 != 0)
    config_fail("model.position.type: rope needs an even head dim, got d_model / n_head = {}", m.head_dim());
  if (p.type == "sinusoidal" && m.d_model % 2 != 0)
    config_fail("model.position.type: sinusoidal needs an even model.d_model, got {}", m.d_model);
  check_min("model.position.pos_rank", static_cast<double>(p.pos_rank), 0);
  check_min("model.position.abs_rank", static_cast<double>(p.abs_rank), 1);
  check_min("model.position.train_len", static_cast<double>(p.train_len), 0);
  check_one_of("model.position.init", p.init, {"seeded", "uniform"});
  if (p.type == "goat") {
    const int64_t lanes = 2 * p.pos_rank + (p.key_bias ? 1 : 0);
    if (m.head_dim() - lanes < 1)
      config_fail("model.position.pos_rank: {} prior lanes leave no content dims in a head of {} (d_model / n_head)",
                  lanes, m.head_dim());
  }
  const auto& t = c.train;
  check_min("train.steps", static_cast<double>(t.steps), 1);
  check_min("train.batch_size", static_cast<double>(t.batch_size), 1);
  check_min("train.seq_len", static_cast<double>(t.seq_len), 1);
  if (t.seq_len > m.max_seq_len)
    config_fail("train.seq_len: {} exceeds model.max_seq_len = {}", t.seq_len, m.max_seq_len);
  if (!(t.lr > 0)) config_fail("train.lr: must be > 0, got {}", t.lr);
  check_min("train.min_lr", t.min_lr, 0);
  check_min("train.warmup_steps", static_cast<double>(t.warmup_steps), 0);
  check_min("train.weight_decay", t.weight_decay, 0);
  if (!(t.beta1 >= 0 && t.beta1 < 1)) config_fail("train.beta1: must be in [0, 1), got {}", t.beta1);
  if (!(t.beta2 >= 0 && t.beta2 < 1)) config_fail("train.beta2: must be in [0, 1), got {}", t.beta2);
  if (!(t.eps > 0)) config_fail("train.eps: must be > 0, got {}", t.eps);
  check_min("train.grad_clip", t.grad_clip, 0);
  check_min("train.grad_accum", static_cast<double>(t.grad_accum), 1);
  check_min("train.seed", static_cast<double>(t.seed), 0);
  check_min("train.eval_every", static_cast<double>(t.eval_every), 0);
  check_min("train.eval_batches", static_cast<double>(t.eval_batches), 1);
  check_min("train.ckpt_every", static_cast<double>(t.ckpt_every), 0);
  check_min("train.log_every", static_cast<double>(t.log_every), 1);
  check_min("train.keep_last", static_cast<double>(t.keep_last), 1);
  check_min("train.max_bad_steps", static_cast<double>(t.max_bad_steps), 1);
  check_min("train.diag_every", static_cast<double>(t.diag_every), 0);
  check_one_of("train.recompute", t.recompute, {"none", "attention", "block"});
  const auto& d = c.data;
  check_one_of("data.source", d.source, {"synthetic", "shards"});
  if (d.source == "shards" && d.train_shards.empty())
    config_fail("data.train_shards: required when data.source is \"shards\"");
  const auto& s = d.synthetic;
  check_one_of("data.synthetic.task", s.task, {"repeat", "passkey", "assoc", "copy", "copy-mixture"});
  check_min("data.synthetic.seed", static_cast<double>(s.seed), 0);
  check_min("data.synthetic.train_tokens", static_cast<double>(s.train_tokens), static_cast<double>(t.seq_len + 2));
  check_min("data.synthetic.val_tokens", static_cast<double>(s.val_tokens), static_cast<double>(t.seq_len + 2));
  check_min("data.synthetic.doc_len", static_cast<double>(s.doc_len), 0);
  check_min("data.synthetic.segment_min", static_cast<double>(s.segment_min), 1);
  check_min("data.synthetic.segment_max", static_cast<double>(s.segment_max), static_cast<double>(s.segment_min));
  check_min("data.synthetic.max_distance", static_cast<double>(s.max_distance), 0);
  if (!(s.repeat_prob >= 0 && s.repeat_prob <= 1))
    config_fail("data.synthetic.repeat_prob: must be in [0, 1], got {}", s.repeat_prob);
  if (d.source == "synthetic" && m.vocab_size < 128)
    config_fail("model.vocab_size: the synthetic corpus emits byte tokens below 128, got vocab_size {}", m.vocab_size);
  check_one_of("dist.backend", c.dist.backend, {"auto", "local", "mpi", "nccl"});
  if (c.dist.zero != 0 && c.dist.zero != 1) config_fail("dist.zero: expected 0 or 1, got {}{}", c.dist.zero, from("dist.zero"));
  check_min("dist.timeout_s", c.dist.timeout_s, 0);
  if (!(c.dist.bucket_mb > 0)) config_fail("dist.bucket_mb: must be > 0, got {}{}", c.dist.bucket_mb, from("dist.bucket_mb"));
  check_one_of("device", c.device, {"cpu", "cuda"});
  check_one_of("dtype", c.dtype, {"fp32", "bf16"});
  if (c.device == "cuda" && !cuda::built())
    config_fail("device: \"cuda\" is not available: built without CUDA (configure with nvcc present or "
                "-DGOATLM_CUDA=EMU)");
}

Config parse_config(const std::string& json_text, const std::string& origin, const std::vector<std::string>& sets) {
  const Config defaults;
  OrderedJson tree = to_json(defaults);
  OrderedJson user;
  try {
    user = OrderedJson::parse(json_text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number like 2e522
    config_fail("{}: invalid JSON: {}", origin, e.what());
  }
  Origins origins;
  merge(tree, user, "", origin, origins);
  for (const auto& s : sets) apply_set(tree, s, origins);
  Config c = from_tree(tree);
  g_origins = &origins;
  try {
    validate(c);
  } catch (...) {
    g_origins = nullptr;
    throw;
  }
  g_origins = nullptr;
  return c;
}

Config load_config(const std::string& path, const std::vector<std::string>& sets) {
  std::ifstream f(path);
  GOAT_CHECK(f.good(), "config", "cannot open config file '{}'", path);
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_config(ss.str(), path, sets);
}

}  // namespace goat
