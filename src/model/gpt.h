// GPT-2 over the op API, with explicit forward/backward per layer (llm.c style).
//
//   tokens (B, T) → wte[tokens] (+ wpe / sinusoidal table) → n_layer × block → ln_f → logits = · wteᵀ
//   block: x → LN → fused qkv → PositionScheme (RoPE/GOAT lanes) → attention (+ prior hook)
//            → out_proj → + x → LN → c_fc → GELU-tanh → c_proj → + residual
//
// Parameters and gradients live in flat Arenas whose views carry the export names (wte.weight,
// wpe.weight, h.{i}.ln_1.weight, h.{i}.attn.in_proj.weight with fused q, k, v rows in PyTorch
// [out, in] layout, h.{i}.attn.out_proj.*, h.{i}.ln_2.*, h.{i}.mlp.c_fc.*, h.{i}.mlp.c_proj.*,
// ln_f.*), so the optimizer, an all-reduce and a checkpoint are one call each. Activations live
// in an Activations object sized for a (B, T) that forward/backward reuse every step.
// Decoding with a KV cache is in gpt_decode.cpp.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/arena.h"
#include "model/position.h"

namespace goat {

// Saved activations and backward scratch for one (B, T).
class Activations {
 public:
  Activations(const ModelConfig& cfg, int64_t batch, int64_t seq_len);
  int64_t batch() const { return batch_; }
  int64_t seq_len() const { return seq_len_; }
  Tensor layer(int l, const char* name) const;  // e.g. layer(3, "qkv")
  Tensor get(const char* name) const { return arena_.view(name); }
  int64_t numel() const { return arena_.numel(); }  // f32 elements of all activations and scratch
  std::vector<int32_t> inputs, targets;  // (B, T) each

 private:
  int64_t batch_, seq_len_;
  Arena arena_;
};

class Gpt {
 public:
  // train_len: the training sequence length (GOAT's absolute-feature scale D).
  Gpt(const ModelConfig& cfg, int64_t train_len);

  // GPT-2 init from Philox(seed, init): N(0, 0.02), residual projections N(0, 0.02/sqrt(2·L)),
  // biases 0, LayerNorm weight 1; position schemes initialise their own parameters.
  void init(uint64_t seed);

  // Forward over acts.inputs (B, T). With targets, fills per-token losses and returns the mean
  // loss; without, returns 0 and leaves logits in acts.get("logits") (B, T, V).
  double forward(Activations& acts, bool with_targets = true);
  // Accumulates parameter gradients (+=) for loss·loss_scale·(B·T) (i.e. dL/dlogits is
  // scale·(softmax − onehot)); call after forward with targets. Overwrites the logits.
  void backward(Activations& acts, float loss_scale);

  const ModelConfig& config() const { return cfg_; }
  const Arena& params() const { return params_; }
  const Arena& grads() const { return grads_; }
  // True for the arena entries that get weight decay (matrices and embeddings, not biases,
  // LayerNorm or position/prior parameters).
  const std::vector<bool>& decay_mask() const { return decay_; }
  int64_t num_params() const;       // every parameter
  int64_t num_non_embedding() const;  // excluding wte/wpe
  PositionScheme& position(int l) { return *pos_[static_cast<size_t>(l)]; }
  // Evaluation hook (src/eval): when set, forward() takes layer l's attention diagnostics
  // buffers ((B, H, T) each, ops/attention.h) from it; content_dim is filled in by the model.
  using DiagnosticsHook = std::function<ops::AttentionDiagnostics(int layer)>;
  void set_attention_diagnostics(DiagnosticsHook hook) { diag_hook_ = std::move(hook); }

  // Model FLOPs per trained token (forward + backward): 6·N + 6·n_layer·T·d.
  double flops_per_token(int64_t seq_len) const;

  // Absolute-position embedding table for positions [pos0, pos0 + T): learned (checked against
  // its size) or sinusoidal (grown on demand); an empty tensor for the other variants.
  Tensor position_table(int64_t pos0, int64_t T);

  // Decoding: per-layer K/V of a batch of one, up to max_len positions.
  struct KvCache {
    int64_t max_len = 0, len = 0;
    Arena buf;  // h.{i}.k, h.{i}.v: (1, Hkv, max_len, D)
  };
  KvCache make_cache(int64_t max_len) const;
  // Runs n tokens at positions cache.len … cache.len + n − 1, appends their K/V, and writes the
  // logits of the last one to logits (V). gpt_decode.cpp.
  void forward_cached(KvCache& cache, const int32_t* tokens, int64_t n, float* logits);

 private:
  void declare();
  int64_t width_qkv() const;

  ModelConfig cfg_;
  int64_t train_len_;
  Arena params_, grads_;
  std::vector<bool> decay_;
  std::vector<std::unique_ptr<PositionScheme>> pos_;
  std::vector<float> sin_table_;  // (n, C) sinusoidal positions, grown on demand
  int64_t sin_rows_ = 0;
  DiagnosticsHook diag_hook_;
};

// A strided (B, H, T, D) view of heads stored as (B, T, row_width) starting at column col0.
Tensor head_view(float* base, int64_t B, int64_t H, int64_t T, int64_t D, int64_t row_width, int64_t col0);

}  // namespace goat
