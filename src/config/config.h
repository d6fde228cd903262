// The run configuration: typed structs with defaults, read from strict JSON.
//
// Strictness is the point: a typo in a key or a wrong type is an error that names the JSON path
// ("[config] model.position.type: expected one of learned|..., got \"rop\" (from --set)"), never
// a silently ignored setting. The defaults are the structs' member initialisers; to_json() of a
// default Config is the schema that user JSON and `--set a.b=v` overrides are checked against.
// Every key is documented with its default in docs/config.md.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace goat {

using OrderedJson = nlohmann::ordered_json;

struct PositionConfig {
  std::string type = "learned";  // learned | sinusoidal | rope | alibi | none | goat
  double rope_base = 10000.0;
  std::string rope_pairing = "half";  // half (GPT-NeoX, i ↔ i + d/2) | interleaved (GPT-J, 2i ↔ 2i+1)
  // GOAT (goat.md §2)
  int64_t pos_rank = 4;
  int64_t abs_rank = 4;
  bool key_bias = true;
  std::string init = "seeded";  // seeded | uniform
  int64_t train_len = 0;        // D of the absolute features; 0 = train.seq_len
};

struct ModelConfig {
  int64_t vocab_size = 256;
  int64_t n_layer = 4;
  int64_t n_head = 4;
  int64_t n_kv_head = 0;  // 0 = n_head (multi-head); must divide n_head
  int64_t d_model = 128;
  int64_t max_seq_len = 256;  // learned table size; the largest T `train` and `sample` use
  PositionConfig position;

  int64_t kv_heads() const { return n_kv_head > 0 ? n_kv_head : n_head; }
  int64_t head_dim() const { return d_model / n_head; }
};

struct TrainConfig {
  int64_t steps = 1000;
  int64_t batch_size = 16;  // sequences per micro-batch
  int64_t seq_len = 128;
  double lr = 1e-3;
  double min_lr = 1e-4;
  int64_t warmup_steps = 100;
  double weight_decay = 0.1;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double grad_clip = 1.0;  // global L2 norm; 0 = off
  int64_t grad_accum = 1;  // micro-batches per optimizer step
  int64_t seed = 1337;
  int64_t eval_every = 100;  // 0 = only at the end
  int64_t eval_batches = 8;
  int64_t ckpt_every = 0;     // checkpoint (RUN/checkpoints/step_N) every N steps; 0 = only at the end
  int64_t log_every = 10;     // console line cadence (metrics.jsonl gets every step)
  int64_t keep_last = 2;      // checkpoints kept; older ones are pruned after a new one is complete
  int64_t max_bad_steps = 10; // non-finite steps in a row (update skipped) before training stops
  int64_t diag_every = 0;     // attention diagnostics to metrics.jsonl every N steps and at each eval; 0 = off
  std::string recompute = "none";  // activation recomputation: none | attention | block (model/gpt.h)
};

struct SyntheticConfig {
  std::string task = "repeat";  // repeat | passkey | assoc | copy | copy-mixture
  int64_t seed = 1234;
  int64_t train_tokens = 1 << 21;
  int64_t val_tokens = 1 << 17;
  int64_t doc_len = 0;       // document length for passkey/assoc/copy/copy-mixture; 0 = train.seq_len
  int64_t segment_min = 16;  // repeat: segment lengths in [segment_min, segment_max]
  int64_t segment_max = 32;
  int64_t max_distance = 0;  // repeat: furthest a segment recurs from; 0 = 16 · train.seq_len
  double repeat_prob = 0.5;  // repeat: fraction of segments that copy an earlier one
};

struct DataConfig {
  std::string source = "synthetic";  // synthetic | shards
  SyntheticConfig synthetic;
  std::string train_shards;  // glob, e.g. "data/tiny/train_*.bin"
  std::string val_shards;
};

// Data-parallel training over ranks (docs/distributed.md).
struct DistConfig {
  std::string backend = "auto";  // auto | local | mpi | nccl
  int64_t zero = 0;              // 1 = ZeRO-1: AdamW state sharded over ranks
  double timeout_s = 300.0;      // a collective waiting longer ends the job; 0 = never
  bool deterministic = true;     // mpi: rank-ordered sums (bitwise reproducible)
  double bucket_mb = 25.0;       // gradient all-reduce bucket size (MiB)
};

struct Config {
  ModelConfig model;
  TrainConfig train;
  DataConfig data;
  DistConfig dist;
  std::string device = "cpu";  // cpu | cuda (needs a build with the CUDA backend: real or EMU)
  // fp32 | bf16. CPU: bf16 GEMM operands, fp32 everything else. CUDA: bf16 activations and a bf16
  // working copy of the weights (fp32 master weights, gradients, moments, statistics).
  std::string dtype = "fp32";
};

OrderedJson to_json(const Config& c);

// Parses a config: defaults ← JSON text (from `origin`, used in messages) ← `--set` overrides
// ("a.b=v"; v parsed as JSON when it is valid JSON, else taken as a string). Validates values.
Config parse_config(const std::string& json_text, const std::string& origin, const std::vector<std::string>& sets);
Config load_config(const std::string& path, const std::vector<std::string>& sets);
// Value checks with JSON paths (sizes positive, n_head | d_model, enums, ...).
void validate(const Config& c);

}  // namespace goat
