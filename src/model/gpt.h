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
//
// Placement (gpt_device.cpp, docs/cuda.md): on CUDA the arenas (fp32 master weights, fp32
// gradients) and the activations live in device memory; with dtype bf16 the forward/backward
// read a bf16 working copy of the weights (refreshed by the fused AdamW kernel) and store the
// activations in bf16 (LayerNorm statistics, lse and losses stay fp32). Token ids are copied up
// per micro-batch; the loss comes back as the op's return value.
// On the CPU with bf16 GEMMs (the trainer's GemmPrecisionScope) the arenas stay fp32; forward()
// rounds a bf16 copy of the weights for the linear layers, and the activations only GEMMs consume
// (ln1, ln2, fch, fch_gelu, lnf, d_fch, d_ln) hold bf16 in their slots, the attention (bf16
// products) writes atty only in bf16 for out_proj and its own backward's D_i = dO_i·O_i, as the CUDA
// bf16 path (Activations::atty_bf16_only; else out_proj reads a bf16 copy of the fp32 atty), the
// backward's LayerNorms round the residual gradient and sum the next linear
// layer's d_bias in their own pass, and (positions without backward_qk) in_proj's forward writes
// qkv in bf16 for an attention that rounds it anyway (Activations::qkv_bf16) and the attention
// backward stores d_qkv in bf16 and sums in_proj's d_bias (Activations::bf16_operands).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/arena.h"
#include "core/device_buffer.h"
#include "model/position.h"

namespace goat {

// Where a model runs: the device of its arenas and activations, and the activation/working-weight
// dtype (bf16 only on CUDA).
struct Placement {
  Device device = Device::cpu;
  DType dtype = DType::f32;
};

// Activation recomputation (config train.recompute; docs/performance.md "Activation memory").
// Per layer and token the forward saves, in elements (W = C + 2·Hkv·D, the fused qkv width):
//   x C, ln1 C, qkv W, atty C, res2 C, ln2 C, fch 4C, fch_gelu 4C (activation dtype)
//   lse H, ln1/ln2 mean and rstd 4 (fp32)
// The attention kernels keep no per-pair (T, T) buffer in any mode (only lse).
//   none       every layer keeps all of them.
//   attention  qkv (after the position scheme), atty and lse are one slot shared by all layers;
//              the backward of layer l re-runs its in_proj GEMM, position scheme and attention
//              forward into it. Saves (L − 1)·(W + C) activation + (L − 1)·H fp32 per token.
//   block      only x is kept per layer, everything else is one shared slot; the backward of
//              layer l re-runs its block forward (up to the GELU) from x. Saves (L − 1)·(12C + W)
//              activation + (L − 1)·(H + 4) fp32 per token: all but x.
// Recomputed values are bitwise the forward's (the same ops on the same inputs), so losses and
// weights do not depend on the mode.
enum class Recompute { none, attention, block };
Recompute parse_recompute(const std::string& name);  // "none" | "attention" | "block"

// Which activations an Activations object holds.
struct ActivationPlan {
  Recompute recompute = Recompute::none;
  // false: forward only (evaluation): block's layout (x per layer, one shared slot for the rest)
  // without the backward scratch (dres, d_ln, d_atty, d_qkv, d_fch).
  bool backward = true;
};
inline constexpr ActivationPlan kForwardOnly{Recompute::none, false};

// Saved activations and backward scratch for one (B, T).
class Activations {
 public:
  Activations(const ModelConfig& cfg, int64_t batch, int64_t seq_len, Placement place = {}, ActivationPlan plan = {});
  int64_t batch() const { return batch_; }
  int64_t seq_len() const { return seq_len_; }
  const ActivationPlan& plan() const { return plan_; }
  Tensor layer(int l, const char* name) const;  // e.g. layer(3, "qkv"); a shared slot when recomputed
  Tensor get(const char* name) const;
  // Elements of all activations and scratch (the activation arena in the run's dtype + fp32 stats).
  int64_t numel() const { return arena_.numel() + stats_.numel(); }
  // Bytes of both arenas (the activation arena in its dtype, the fp32 stats).
  int64_t bytes() const;
  // bytes() of an Activations with these arguments, without allocating it.
  static int64_t planned_bytes(const ModelConfig& cfg, int64_t batch, int64_t seq_len, Placement place,
                               ActivationPlan plan);
  // Which layer's forward values the shared slot holds (-1: none); set by Gpt.
  int slot_layer = -1;
  // CPU bf16 GEMMs (set by Gpt::forward from the thread's GEMM precision): the activations that
  // only GEMMs consume (kGemmOperands) hold bf16 bits in the first half of their fp32 slots,
  // rounded once by their producer, and layer()/get() return them as bf16 views; layer(l,
  // "atty_bf16") is then atty in bf16 (written by the attention, atty_bf16_only, or a copy of the
  // fp32 atty), and
  // get("dres_bf16") the bf16 copy of the residual gradient that each LayerNorm backward writes for
  // the next linear backward (in the upper half of d_fch's slot, which bf16 d_fch leaves free).
  bool bf16_operands = false;
  // CPU fp32 training forward: each layer's fch slot holds gelu'(fch) instead of fch after the
  // forward (ops::linear_forward_gelu's keep_grad), the only value GELU's backward needs from it.
  bool fch_holds_gelu_grad = false;
  // CPU bf16 GEMMs where the attention takes bf16 q, k, v (ops::attention_takes_bf16; positions
  // without backward_qk): in_proj's forward wrote the qkv slot as bf16 bits in its lower half
  // (set by each attention forward, read by the backward's attention).
  bool qkv_bf16 = false;
  // CPU bf16 GEMMs where the attention has bf16 products (ops::attention_takes_bf16): the
  // attention forward writes atty only as bf16, into layer(l, "atty_bf16"), for out_proj's GEMMs
  // and its own backward's D_i = dO_i·O_i (the fp32 atty slot is left unwritten); set by each
  // attention forward, read by the backward's attention.
  bool atty_bf16_only = false;
  std::vector<int32_t> inputs, targets;  // (B, T) each, on the host

  // The ids as the ops read them: the host vectors on the CPU; on CUDA the device copies made by
  // upload_ids() (the model calls it at the start of forward).
  void upload_ids();
  const int32_t* input_ids() const;
  const int32_t* target_ids() const;

 private:
  // name as the ops see it: a bf16 view of the slot when bf16_operands and name is a GEMM operand
  Tensor typed(const char* name, Tensor slot) const;
  // true when layer(l, name) is the one shared slot under this plan
  static bool shared(const ActivationPlan& plan, const char* name);
  static void declare(Arena& arena, Arena& stats, const ModelConfig& cfg, int64_t batch, int64_t seq_len,
                      const ActivationPlan& plan);

  int64_t batch_, seq_len_;
  Placement place_;
  ActivationPlan plan_;
  Arena arena_;   // activations (place_.dtype)
  Arena stats_;   // fp32 side values: LayerNorm mean/rstd, lse, losses
  DeviceBuffer ids_dev_;  // (2, B, T) inputs then targets
};

class Gpt {
 public:
  // train_len: the training sequence length (GOAT's absolute-feature scale D).
  Gpt(const ModelConfig& cfg, int64_t train_len, Placement place = {});

  // GPT-2 init from Philox(seed, init): N(0, 0.02), residual projections N(0, 0.02/sqrt(2·L)),
  // biases 0, LayerNorm weight 1; position schemes initialise their own parameters.
  void init(uint64_t seed);

  // Forward over acts.inputs (B, T). With targets, fills per-token losses and returns the mean
  // loss; without, returns 0 and leaves logits in acts.get("logits") (B, T, V).
  double forward(Activations& acts, bool with_targets = true);
  // Progress of backward(): every gradient element at arena index >= written_from is final for
  // this backward (the arena is in forward order, the backward runs from its end). Called after
  // ln_f, after each layer (from that layer's first parameter) and at the end (0); the
  // data-parallel trainer starts a bucket's all-reduce from it (train/overlapped_allreduce.h).
  using GradReadyHook = std::function<void(int64_t written_from)>;
  // Accumulates parameter gradients (+=) for loss·loss_scale·(B·T) (i.e. dL/dlogits is
  // scale·(softmax − onehot)); call after forward with targets. Overwrites the logits.
  void backward(Activations& acts, float loss_scale, const GradReadyHook& ready = {});

  const ModelConfig& config() const { return cfg_; }
  // Tests: false keeps qkv fp32 under CPU bf16 GEMMs (the attention then rounds q, k, v itself;
  // Activations::qkv_bf16 stays false); the results are bitwise the same either way.
  static void set_bf16_qkv(bool enabled);
  // Tests: false keeps atty fp32 under CPU bf16 GEMMs (the attention writes fp32 atty, a pass
  // rounds the bf16 copy, the backward's D_i reads the fp32 atty; Activations::atty_bf16_only stays
  // false): the same loss, gradients within bf16 rounding of O in D.
  static void set_bf16_atty(bool enabled);
  const Arena& params() const { return params_; }
  const Arena& grads() const { return grads_; }
  const Placement& placement() const { return place_; }
  // The bf16 working copy of the weights (CUDA, dtype bf16): the optimizer refreshes it in the
  // AdamW pass; nullptr in fp32.
  const Arena* bf16_weights() const { return work_.allocated() ? &work_ : nullptr; }
  // Recomputes the working copy from the master weights (after loading weights into params()).
  void refresh_working_copy();
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
  const Arena& weights() const { return work_.allocated() ? work_ : params_; }  // what the ops read
  // What the linear layers read: with CPU bf16 GEMMs (Activations::bf16_operands) the bf16 copy
  // of the weights that forward() rounds once per call, else weights().
  Tensor linear_weight(const Activations& a, const std::string& name) const;
  void init_values(const Arena& dst, uint64_t seed);  // the init into a host arena
  // Layer l's forward pieces, shared by forward() and the recomputation in backward():
  // ln1 → qkv → position scheme → attention → atty (+ lse), with the diagnostics hook if asked;
  // and from atty: out_proj → res2, ln2 → c_fc → GELU.
  void attention_sublayer(Activations& a, int l, bool diagnostics);
  void after_attention(Activations& a, int l);
  // Re-runs what the plan dropped for layer l into the shared slot (backward).
  void recompute_attention(Activations& a, int l);
  void recompute_block(Activations& a, int l);


  ModelConfig cfg_;
  int64_t train_len_;
  Placement place_;
  Arena params_, grads_;
  Arena work_;  // bf16 working copy (CUDA bf16), else unallocated
  Arena cpu_work_;  // bf16 copy of the weights for CPU bf16 GEMMs, allocated on first use
  std::vector<bool> decay_;
  std::vector<std::unique_ptr<PositionScheme>> pos_;
  std::vector<float> sin_table_;  // (n, C) sinusoidal positions, grown on demand
  int64_t sin_rows_ = 0;
  DeviceBuffer sin_dev_;  // the rows of the last position_table() on the device (act dtype)
  DiagnosticsHook diag_hook_;
};

// A strided (B, H, T, D) view of heads stored as (B, T, row_width) starting at column col0.
Tensor head_view(float* base, int64_t B, int64_t H, int64_t T, int64_t D, int64_t row_width, int64_t col0);
// The same over rows (B, T, row_width) of any dtype and device.
Tensor head_view(const Tensor& rows, int64_t H, int64_t D, int64_t col0);
// Rows [r0, r0 + n) of a contiguous (R, C) tensor, on its device.
Tensor row_slice(const Tensor& t, int64_t r0, int64_t n);
// A host f32 (R, C) table as a CUDA tensor of dtype dt held in buf (gpt_device.cpp).
Tensor device_rows(const Tensor& host_rows, DType dt, DeviceBuffer& buf);

}  // namespace goat
