// GPT-2 parameters, init, and the training forward/backward over preallocated activations.
#include "model/gpt.h"

#include <cmath>
#include <cstring>

#include "backend/cpu/gemm_bf16.h"
#include "core/philox.h"
#include "model/position_factory.h"
#include "ops/attention.h"
#include "ops/cross_entropy.h"
#include "ops/elementwise.h"
#include "ops/embedding.h"
#include "ops/layernorm.h"
#include "ops/linear.h"

namespace goat {

namespace {

std::string hname(int l, const char* suffix) { return "h." + std::to_string(l) + "." + suffix; }

bool g_bf16_qkv = true;   // Gpt::set_bf16_qkv
bool g_bf16_atty = true;  // Gpt::set_bf16_atty

void fill(const Tensor& t, float v) {
  float* p = t.f32();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = v;
}

}  // namespace

Tensor head_view(float* base, int64_t B, int64_t H, int64_t T, int64_t D, int64_t row_width, int64_t col0) {
  Tensor t(base + col0, Shape{B, H, T, D});
  t.strides = {T * row_width, D, row_width, 1, 0, 0};
  return t;
}

Tensor head_view(const Tensor& rows, int64_t H, int64_t D, int64_t col0) {
  GOAT_CHECK(rows.ndim() == 3 && rows.contiguous(), "gpt", "head_view: expected contiguous (B, T, W), got {}",
             rows.shape.str());
  const int64_t B = rows.size(0), T = rows.size(1), W = rows.size(2);
  Tensor t(static_cast<char*>(rows.data) + col0 * static_cast<int64_t>(dtype_size(rows.dtype)), Shape{B, H, T, D},
           rows.dtype, rows.device);
  t.strides = {T * W, D, W, 1, 0, 0};
  return t;
}

Tensor row_slice(const Tensor& t, int64_t r0, int64_t n) {
  GOAT_CHECK(t.ndim() == 2 && t.contiguous() && r0 >= 0 && r0 + n <= t.size(0), "gpt",
             "row_slice: rows [{}, {}) of {}", r0, r0 + n, t.shape.str());
  const int64_t C = t.size(1);
  return Tensor(static_cast<char*>(t.data) + r0 * C * static_cast<int64_t>(dtype_size(t.dtype)), Shape{n, C}, t.dtype,
                t.device);
}

namespace {

// Layer l's fused qkv rows (B, T, W): fp32, or bf16 in the lower half of the slot (qkv_bf16).
Tensor qkv_rows(const Activations& a, int l) {
  const Tensor slot = a.layer(l, "qkv");
  return a.qkv_bf16 ? Tensor(slot.data, slot.shape, DType::bf16, slot.device) : slot;
}

// Layer l's attention operands as views into its activations: q (B, H, T, D), k and v
// (B, Hkv, T, D) inside the fused qkv rows, o (B, H, T, D) inside atty (or atty_bf16:
// Activations::atty_bf16_only), and lse; the scale comes
// from the position scheme. Forward and backward both start from this.
ops::AttentionArgs attention_views(const Activations& a, int l, const ModelConfig& cfg, const PositionScheme& pos) {
  const int64_t C = cfg.d_model, H = cfg.n_head, Hkv = cfg.kv_heads(), D = cfg.head_dim();
  const Tensor qkv = qkv_rows(a, l);  // (B, T, W)
  ops::AttentionArgs args;
  args.q = head_view(qkv, H, D, 0);
  args.k = head_view(qkv, Hkv, D, C);
  args.v = head_view(qkv, Hkv, D, C + Hkv * D);
  args.o = head_view(a.layer(l, a.atty_bf16_only ? "atty_bf16" : "atty"), H, D, 0);
  args.lse = a.layer(l, "lse");
  args.scale = pos.score_scale();
  args.causal = true;
  return args;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Activations

Recompute parse_recompute(const std::string& name) {
  if (name == "none") return Recompute::none;
  if (name == "attention") return Recompute::attention;
  if (name == "block") return Recompute::block;
  fail("gpt", "recompute: expected none, attention or block, got \"{}\"", name);
}

namespace {

// The per-layer activations the attention recomputation re-runs (the rest of the block's are
// added to these under block, and under forward-only plans).
bool attention_slot(const std::string& n) { return n == "qkv" || n == "atty" || n == "lse"; }

}  // namespace

bool Activations::shared(const ActivationPlan& plan, const char* name) {
  const std::string n = name;
  if (n == "x") return false;
  if (!plan.backward || plan.recompute == Recompute::block) return true;
  return plan.recompute == Recompute::attention && attention_slot(n);
}

void Activations::declare(Arena& arena, Arena& stats, const ModelConfig& cfg, int64_t B, int64_t T,
                          const ActivationPlan& plan) {
  const int64_t C = cfg.d_model, H = cfg.n_head, V = cfg.vocab_size;
  const int64_t W = C + 2 * cfg.kv_heads() * cfg.head_dim();
  // Layer l's entry, or the one shared slot "h.shared.*" (declared once).
  const auto add = [&](Arena& ar, int l, const char* name, Shape s) {
    if (!shared(plan, name)) return (void)ar.add(hname(l, name), s);
    if (l == 0) ar.add(std::string("h.shared.") + name, s);
  };
  for (int l = 0; l < cfg.n_layer; ++l) {
    add(arena, l, "x", Shape{B, T, C});
    add(arena, l, "ln1", Shape{B, T, C});
    add(stats, l, "ln1_mean", Shape{B, T});
    add(stats, l, "ln1_rstd", Shape{B, T});
    add(arena, l, "qkv", Shape{B, T, W});
    add(arena, l, "atty", Shape{B, T, C});
    add(stats, l, "lse", Shape{B, H, T});
    add(arena, l, "res2", Shape{B, T, C});
    add(arena, l, "ln2", Shape{B, T, C});
    add(stats, l, "ln2_mean", Shape{B, T});
    add(stats, l, "ln2_rstd", Shape{B, T});
    add(arena, l, "fch", Shape{B, T, 4 * C});
    add(arena, l, "fch_gelu", Shape{B, T, 4 * C});
  }
  for (const char* n : {"x_final", "lnf", "attproj", "fcproj"}) arena.add(n, Shape{B, T, C});
  for (const char* n : {"lnf_mean", "lnf_rstd", "losses"}) stats.add(n, Shape{B, T});
  if (plan.backward) {
    for (const char* n : {"dres", "d_ln", "d_atty"}) arena.add(n, Shape{B, T, C});
    arena.add("d_qkv", Shape{B, T, W});
    arena.add("d_fch", Shape{B, T, 4 * C});
  }
  arena.add("logits", Shape{B, T, V});
}

Activations::Activations(const ModelConfig& cfg, int64_t B, int64_t T, Placement place, ActivationPlan plan)
    : batch_(B), seq_len_(T), place_(place), plan_(plan), arena_(place.dtype, place.device),
      stats_(DType::f32, place.device) {
  declare(arena_, stats_, cfg, B, T, plan);
  arena_.allocate();
  stats_.allocate();
  inputs.assign(static_cast<size_t>(B * T), 0);
  targets.assign(static_cast<size_t>(B * T), 0);
}

int64_t Activations::planned_bytes(const ModelConfig& cfg, int64_t B, int64_t T, Placement place,
                                   ActivationPlan plan) {
  Arena arena(place.dtype, place.device), stats(DType::f32, place.device);
  declare(arena, stats, cfg, B, T, plan);
  return arena.numel() * static_cast<int64_t>(dtype_size(place.dtype)) + stats.numel() * 4;
}

int64_t Activations::bytes() const {
  return arena_.numel() * static_cast<int64_t>(dtype_size(arena_.dtype())) + stats_.numel() * 4;
}

namespace {
// The activations that only linear layers consume (or, for fch and d_fch, GELU's forward and
// c_proj's backward into GELU; for d_ln, the gradient at a LayerNorm's output written by a linear
// layer's d_in GEMM, the LayerNorm backward): kept in bf16 under CPU bf16 GEMMs.
bool gemm_operand(const char* name) {
  for (const char* n : {"ln1", "ln2", "fch", "fch_gelu", "lnf", "d_fch", "d_ln"})
    if (std::strcmp(n, name) == 0) return true;
  return false;
}
}  // namespace

Tensor Activations::typed(const char* name, Tensor slot) const {
  if (!bf16_operands || !gemm_operand(name)) return slot;
  return Tensor(slot.data, slot.shape, DType::bf16, slot.device);  // the first half of the fp32 slot
}

Tensor Activations::layer(int l, const char* name) const {
  if (std::strcmp(name, "atty_bf16") == 0) {
    // bf16 atty lives in the upper half of ln2's slot (bf16 ln2 fills the lower half): per layer
    // whenever ln2 is (shared under block, where both are recomputed; under attention it survives
    // until the backward's recomputation rewrites it, bitwise the same).
    GOAT_CHECK(bf16_operands, "gpt", "atty_bf16 exists only with CPU bf16 GEMMs");
    const Tensor ln2 = layer(l, "ln2");
    return Tensor(static_cast<uint16_t*>(ln2.data) + ln2.numel(), ln2.shape, DType::bf16, ln2.device);
  }
  const std::string n = shared(plan_, name) ? std::string("h.shared.") + name : hname(l, name);
  return typed(name, arena_.index_of(n) >= 0 ? arena_.view(n) : stats_.view(n));
}

Tensor Activations::get(const char* name) const {
  if (std::strcmp(name, "dres_bf16") == 0) {
    // (B, T, C) bf16 in the upper half of d_fch's slot (bf16 d_fch, (B, T, 4C), fills the lower half)
    GOAT_CHECK(bf16_operands && plan_.backward, "gpt", "dres_bf16 exists only in a CPU bf16 GEMM backward");
    const Tensor d_fch = get("d_fch"), dres = get("dres");
    return Tensor(static_cast<uint16_t*>(d_fch.data) + d_fch.numel(), dres.shape, DType::bf16, dres.device);
  }
  return typed(name, arena_.index_of(name) >= 0 ? arena_.view(name) : stats_.view(name));
}

// ---------------------------------------------------------------------------------------------
// Parameters

Gpt::Gpt(const ModelConfig& cfg, int64_t train_len, Placement place)
    : cfg_(cfg), train_len_(train_len), place_(place), params_(DType::f32, place.device) {
  GOAT_CHECK(place.dtype == DType::f32 || place.device == Device::cuda, "gpt",
             "dtype bf16 needs device cuda (the CPU model runs in fp32)");
  GOAT_CHECK(cfg.d_model % cfg.n_head == 0, "gpt", "n_head {} does not divide d_model {}", cfg.n_head, cfg.d_model);
  declare();
}

int64_t Gpt::width_qkv() const { return cfg_.d_model + 2 * cfg_.kv_heads() * cfg_.head_dim(); }

void Gpt::declare() {
  const int64_t C = cfg_.d_model, V = cfg_.vocab_size;
  const auto add = [&](const std::string& name, Shape s, bool decay) {
    params_.add(name, s);
    decay_.push_back(decay);
  };
  add("wte.weight", Shape{V, C}, true);
  if (cfg_.position.type == "learned") add("wpe.weight", Shape{cfg_.max_seq_len, C}, true);
  const AttentionShape ashape{cfg_.n_head, cfg_.kv_heads(), cfg_.head_dim(), 0, cfg_.max_seq_len};
  for (int l = 0; l < cfg_.n_layer; ++l) {
    add(hname(l, "ln_1.weight"), Shape{C}, false);
    add(hname(l, "ln_1.bias"), Shape{C}, false);
    add(hname(l, "attn.in_proj.weight"), Shape{width_qkv(), C}, true);
    add(hname(l, "attn.in_proj.bias"), Shape{width_qkv()}, false);
    add(hname(l, "attn.out_proj.weight"), Shape{C, C}, true);
    add(hname(l, "attn.out_proj.bias"), Shape{C}, false);
    pos_.push_back(make_position(cfg_, ashape, train_len_));
    pos_.back()->set_device(place_.device, place_.dtype);
    const size_t before = params_.entries().size();
    pos_.back()->declare(params_, "h." + std::to_string(l) + ".attn.");
    decay_.resize(params_.entries().size(), false);  // position/prior parameters: no decay
    (void)before;
    add(hname(l, "ln_2.weight"), Shape{C}, false);
    add(hname(l, "ln_2.bias"), Shape{C}, false);
    add(hname(l, "mlp.c_fc.weight"), Shape{4 * C, C}, true);
    add(hname(l, "mlp.c_fc.bias"), Shape{4 * C}, false);
    add(hname(l, "mlp.c_proj.weight"), Shape{C, 4 * C}, true);
    add(hname(l, "mlp.c_proj.bias"), Shape{C}, false);
  }
  add("ln_f.weight", Shape{C}, false);
  add("ln_f.bias", Shape{C}, false);
  params_.allocate();
  grads_ = params_.clone_layout();
  if (place_.dtype == DType::bf16) work_ = params_.clone_layout(DType::bf16, place_.device);
}

void Gpt::init(uint64_t seed) {
  if (place_.device == Device::cpu) return init_values(params_, seed);
  const Arena host = params_.clone_layout(DType::f32, Device::cpu);  // init on the host, then copy up
  init_values(host, seed);
  params_.copy_from(host);
  refresh_working_copy();
}

void Gpt::init_values(const Arena& dst, uint64_t seed) {
  const double resid_std = 0.02 / std::sqrt(2.0 * static_cast<double>(cfg_.n_layer));
  const auto& es = params_.entries();
  for (size_t i = 0; i < es.size(); ++i) {
    const std::string& n = es[i].name;
    const Tensor t = dst.view(static_cast<int>(i));
    const bool is_bias = n.ends_with(".bias");
    const bool is_ln = n.find("ln_") != std::string::npos;
    if (is_ln && !is_bias) {
      fill(t, 1.f);
    } else if (is_bias) {
      fill(t, 0.f);
    } else if (decay_[i]) {  // matrices and embeddings
      const bool resid = n.ends_with("out_proj.weight") || n.ends_with("c_proj.weight");
      const float std = static_cast<float>(resid ? resid_std : 0.02);
      const Rng rng(seed, RngPurpose::init, i);
      float* p = t.f32();
      for (int64_t j = 0; j < t.numel(); ++j) p[j] = std * rng.normal(static_cast<uint64_t>(j));
    }
  }
  for (int l = 0; l < cfg_.n_layer; ++l) pos_[static_cast<size_t>(l)]->init(dst, Rng(seed, RngPurpose::init, 1000000 + static_cast<uint64_t>(l)));
}

int64_t Gpt::num_params() const {
  int64_t n = 0;
  for (const auto& e : params_.entries()) n += e.shape.numel();
  return n;
}

int64_t Gpt::num_non_embedding() const {
  int64_t n = num_params();
  for (const auto& e : params_.entries())
    if (e.name == "wte.weight" || e.name == "wpe.weight") n -= e.shape.numel();
  return n;
}

double Gpt::flops_per_token(int64_t T) const {
  return 6.0 * static_cast<double>(num_params()) +
         6.0 * static_cast<double>(cfg_.n_layer) * static_cast<double>(T) * static_cast<double>(cfg_.d_model);
}

Tensor Gpt::linear_weight(const Activations& a, const std::string& name) const {
  return a.bf16_operands ? cpu_work_.view(name) : weights().view(name);
}

Tensor Gpt::position_table(int64_t pos0, int64_t T) {
  const int64_t C = cfg_.d_model;
  if (cfg_.position.type == "learned") {
    GOAT_CHECK(pos0 + T <= cfg_.max_seq_len, "gpt",
               "learned positions: positions [{}, {}) need a table of {} rows, but model.max_seq_len = {}; learned "
               "position embeddings are undefined past their table (use rope, alibi, goat or none to extrapolate)",
               pos0, pos0 + T, pos0 + T, cfg_.max_seq_len);
    return row_slice(weights().view("wpe.weight"), pos0, T);
  }
  if (cfg_.position.type == "sinusoidal") {
    if (pos0 + T > sin_rows_) {
      sin_rows_ = std::max(pos0 + T, std::max<int64_t>(cfg_.max_seq_len, 2 * sin_rows_));
      sin_table_.resize(static_cast<size_t>(sin_rows_ * C));
      sinusoidal_table(sin_table_.data(), sin_rows_, C);
    }
    const Tensor rows(sin_table_.data() + pos0 * C, Shape{T, C});
    return place_.device == Device::cpu ? rows : device_rows(rows, place_.dtype, sin_dev_);
  }
  return Tensor();
}

// ---------------------------------------------------------------------------------------------
// Forward / backward

void Gpt::set_bf16_qkv(bool enabled) { g_bf16_qkv = enabled; }
void Gpt::set_bf16_atty(bool enabled) { g_bf16_atty = enabled; }

void Gpt::attention_sublayer(Activations& a, int l, bool diagnostics) {
  const Arena& wts = weights();
  const int64_t B = a.batch(), T = a.seq_len();
  PositionScheme& pos = *pos_[static_cast<size_t>(l)];
  a.qkv_bf16 = a.atty_bf16_only = false;
  ops::AttentionArgs args = attention_views(a, l, cfg_, pos);
  if (diagnostics && diag_hook_) {
    args.diag = diag_hook_(l);
    args.diag.content_dim = pos.content_dim();
  }
  // CPU bf16 GEMMs and an attention with bf16 products (its short AMX path): it writes atty only in
  // bf16, the operand of out_proj's GEMMs, and its backward reads that for D_i = dO_i·O_i (the
  // CUDA bf16 recipe); no fp32 atty, no rounding pass.
  const bool bf16_attention = a.bf16_operands && ops::attention_takes_bf16(args);
  a.atty_bf16_only = g_bf16_atty && bf16_attention;
  // Positions that leave q and k as in_proj made them, and an attention that rounds q, k, v to bf16
  // for its products anyway: in_proj rounds them in its GEMM epilogue instead.
  a.qkv_bf16 = g_bf16_qkv && bf16_attention && !pos.has_backward_qk();
  if (a.qkv_bf16 || a.atty_bf16_only) {
    const ops::AttentionDiagnostics diag = args.diag;
    args = attention_views(a, l, cfg_, pos);
    args.diag = diag;
  }
  // (B, T, C) → qkv (B, T, C + 2·Hkv·D)
  ops::linear_forward(qkv_rows(a, l), a.layer(l, "ln1"), linear_weight(a, hname(l, "attn.in_proj.weight")),
                      wts.view(hname(l, "attn.in_proj.bias")));
  pos.forward_qk(args.q, args.k, 0, 0);
  args.prior = pos.prior(B, T, 0);
  ops::attention_forward(args);
}

void Gpt::after_attention(Activations& a, int l) {
  const Arena& wts = weights();
  const auto P = [&](const char* s) { return wts.view(hname(l, s)); };
  const auto W = [&](const char* s) { return linear_weight(a, hname(l, s)); };
  const auto A = [&](const char* s) { return a.layer(l, s); };
  const Tensor attproj = a.get("attproj");
  // CPU bf16 where the attention wrote fp32 atty (diagnostics, fp32 attention products): rounded
  // once for out_proj's forward and backward
  if (a.bf16_operands && !a.atty_bf16_only) ops::round_to_bf16(A("atty_bf16"), A("atty"));
  ops::linear_forward(attproj, A(a.bf16_operands ? "atty_bf16" : "atty"), W("attn.out_proj.weight"),
                      P("attn.out_proj.bias"));
  ops::residual_layernorm_forward(A("res2"), A("ln2"), A("ln2_mean"), A("ln2_rstd"), A("x"), attproj,
                                  P("ln_2.weight"), P("ln_2.bias"));
  // CPU bf16: GELU in c_fc's GEMM epilogue (fch kept for the backward, fch_gelu for c_proj); CPU
  // fp32 with a backward: gelu'(fch) over fch
  a.fch_holds_gelu_grad = ops::linear_forward_gelu(A("fch"), A("fch_gelu"), A("ln2"), W("mlp.c_fc.weight"),
                                                   P("mlp.c_fc.bias"), a.plan().backward);
}

void Gpt::recompute_attention(Activations& a, int l) {
  if (a.slot_layer == l) return;
  attention_sublayer(a, l, false);
  a.slot_layer = l;
}

void Gpt::recompute_block(Activations& a, int l) {
  if (a.slot_layer == l) return;
  const Arena& wts = weights();
  // ln1 from the kept x: the same row normalisation the fused residual LayerNorm applied to it.
  ops::layernorm_forward(a.layer(l, "ln1"), a.layer(l, "ln1_mean"), a.layer(l, "ln1_rstd"), a.layer(l, "x"),
                         wts.view(hname(l, "ln_1.weight")), wts.view(hname(l, "ln_1.bias")));
  attention_sublayer(a, l, false);
  after_attention(a, l);
  a.slot_layer = l;
}

double Gpt::forward(Activations& a, bool with_targets) {
  const int64_t B = a.batch(), T = a.seq_len();
  const Tensor none;
  const Arena& wts = weights();
  a.slot_layer = -1;
  a.bf16_operands = place_.device == Device::cpu && cpu::gemm_precision() == cpu::GemmPrecision::bf16;
  if (a.bf16_operands) {  // the linear layers' bf16 weights, rounded once per forward
    if (!cpu_work_.allocated()) cpu_work_ = params_.clone_layout(DType::bf16, Device::cpu);
    ops::round_to_bf16(cpu_work_.flat(), params_.flat());
  }
  a.upload_ids();
  ops::embedding_forward(a.layer(0, "x"), a.input_ids(), wts.view("wte.weight"), position_table(0, T), 0);
  const Tensor fcproj = a.get("fcproj");
  for (int l = 0; l < cfg_.n_layer; ++l) {
    const auto P = [&](const char* s) { return wts.view(hname(l, s)); };
    const auto A = [&](const char* s) { return a.layer(l, s); };
    const auto W = [&](const char* s) { return linear_weight(a, hname(l, s)); };
    if (l == 0)
      ops::layernorm_forward(A("ln1"), A("ln1_mean"), A("ln1_rstd"), A("x"), P("ln_1.weight"), P("ln_1.bias"));
    else
      ops::residual_layernorm_forward(A("x"), A("ln1"), A("ln1_mean"), A("ln1_rstd"), a.layer(l - 1, "res2"), fcproj,
                                      P("ln_1.weight"), P("ln_1.bias"));
    attention_sublayer(a, l, true);
    after_attention(a, l);
    ops::linear_forward(fcproj, A("fch_gelu"), W("mlp.c_proj.weight"), P("mlp.c_proj.bias"));
  }
  a.slot_layer = static_cast<int>(cfg_.n_layer) - 1;
  ops::residual_layernorm_forward(a.get("x_final"), a.get("lnf"), a.get("lnf_mean"), a.get("lnf_rstd"),
                                  a.layer(static_cast<int>(cfg_.n_layer) - 1, "res2"), fcproj,
                                  wts.view("ln_f.weight"), wts.view("ln_f.bias"));
  // (B, T, C) → logits (B, T, V), tied to wte
  ops::linear_forward(a.get("logits"), a.get("lnf"), linear_weight(a, "wte.weight"), none);
  if (!with_targets) return 0.0;
  const Tensor logits = a.get("logits");
  return ops::cross_entropy_forward(a.get("losses"), logits.reshape(Shape{B * T, cfg_.vocab_size}), a.target_ids());
}

void Gpt::backward(Activations& a, float loss_scale, const GradReadyHook& ready) {
  GOAT_CHECK(a.plan().backward, "gpt", "backward: these activations are forward-only (an evaluation plan)");
  const Recompute rc = a.plan().recompute;
  const int64_t B = a.batch(), T = a.seq_len(), C = cfg_.d_model, H = cfg_.n_head, Hkv = cfg_.kv_heads(),
                D = cfg_.head_dim();
  const Tensor none;
  const Arena& wts = weights();
  const Tensor logits = a.get("logits").reshape(Shape{B * T, cfg_.vocab_size});
  ops::cross_entropy_backward(logits, logits, a.target_ids(), loss_scale);
  const Tensor dres = a.get("dres"), d_ln = a.get("d_ln"), d_atty = a.get("d_atty"), d_qkv = a.get("d_qkv"),
               d_fch = a.get("d_fch");
  ops::linear_backward(d_ln, grads_.view("wte.weight"), none, a.get("logits"), a.get("lnf"),
                       linear_weight(a, "wte.weight"));
  ops::fill_zero(dres);
  // CPU bf16: each LayerNorm backward also writes dres in bf16 and sums the d_bias of the linear
  // layer that reads dres next (c_proj of the layer below, or out_proj), so those linear backwards
  // get a ready bf16 d_out and no bias gradient to sum.
  const bool fused_dres = a.bf16_operands;
  const Tensor dres_bf16 = fused_dres ? a.get("dres_bf16") : none, dres_next = fused_dres ? dres_bf16 : dres;
  const auto bias_of_next = [&](int l, const char* s) { return fused_dres ? grads_.view(hname(l, s)) : none; };
  const int last = static_cast<int>(cfg_.n_layer) - 1;
  ops::layernorm_backward(dres, grads_.view("ln_f.weight"), grads_.view("ln_f.bias"), d_ln, a.get("x_final"),
                          wts.view("ln_f.weight"), a.get("lnf_mean"), a.get("lnf_rstd"), dres_bf16,
                          bias_of_next(last, "mlp.c_proj.bias"));
  const auto written_from = [&](const std::string& first) {
    if (ready) ready(params_.entries()[static_cast<size_t>(params_.index_of(first))].offset);
  };
  written_from("ln_f.weight");
  for (int l = static_cast<int>(cfg_.n_layer) - 1; l >= 0; --l) {
    const auto P = [&](const char* s) { return wts.view(hname(l, s)); };
    const auto G = [&](const char* s) { return grads_.view(hname(l, s)); };
    const auto A = [&](const char* s) { return a.layer(l, s); };
    const auto W = [&](const char* s) { return linear_weight(a, hname(l, s)); };
    if (rc == Recompute::block) recompute_block(a, l);
    // dres = ∂L/∂x_{l+1} = ∂L/∂(res2 + c_proj(...))
    const auto G_unless_fused = [&](const char* s) { return fused_dres ? none : G(s); };
    if (a.bf16_operands) {  // GELU's backward and c_fc's d_bias fused into c_proj's d_in GEMM (d_fch: at fch)
      ops::linear_backward_into_gelu(d_fch, G("mlp.c_proj.weight"), G_unless_fused("mlp.c_proj.bias"), dres_next,
                                     A("fch_gelu"), W("mlp.c_proj.weight"), A("fch"), G("mlp.c_fc.bias"));
      ops::linear_backward(d_ln, G("mlp.c_fc.weight"), none, d_fch, A("ln2"), W("mlp.c_fc.weight"));
    } else {
      ops::linear_backward(d_fch, G("mlp.c_proj.weight"), G_unless_fused("mlp.c_proj.bias"), dres_next, A("fch_gelu"),
                           W("mlp.c_proj.weight"));
      // GELU's backward fused into c_fc's (d_fch: gradient at the GELU output)
      ops::linear_backward_gelu(d_ln, G("mlp.c_fc.weight"), G("mlp.c_fc.bias"), d_fch, A("fch"), A("ln2"),
                                W("mlp.c_fc.weight"), a.fch_holds_gelu_grad);
    }
    ops::layernorm_backward(dres, G("ln_2.weight"), G("ln_2.bias"), d_ln, A("res2"), P("ln_2.weight"), A("ln2_mean"),
                            A("ln2_rstd"), dres_bf16, bias_of_next(l, "attn.out_proj.bias"));
    if (rc == Recompute::attention) recompute_attention(a, l);
    // dres = ∂L/∂res2 = ∂L/∂(x + out_proj(attention))
    ops::linear_backward(d_atty, G("attn.out_proj.weight"), G_unless_fused("attn.out_proj.bias"), dres_next,
                         A(a.bf16_operands ? "atty_bf16" : "atty"), W("attn.out_proj.weight"));
    PositionScheme& pos = *pos_[static_cast<size_t>(l)];
    ops::AttentionArgs args = attention_views(a, l, cfg_, pos);
    args.prior = pos.prior(B, T, 0);
    ops::AttentionGrads g = pos.prior_grad_buffers();
    // CPU bf16 with nothing between the attention and in_proj's backward: the attention stores
    // d_qkv in bf16 (the lower half of its fp32 slot) and sums in_proj's d_bias itself.
    const bool fused_dqkv = a.bf16_operands && !pos.has_backward_qk();
    const Tensor dqkv = fused_dqkv ? Tensor(d_qkv.data, d_qkv.shape, DType::bf16, d_qkv.device) : d_qkv;
    g.dq = head_view(dqkv, H, D, 0);
    g.dk = head_view(dqkv, Hkv, D, C);
    g.dv = head_view(dqkv, Hkv, D, C + Hkv * D);
    if (fused_dqkv) {
      float* d_bias = G("attn.in_proj.bias").f32();
      g.dq_sum = d_bias, g.dk_sum = d_bias + C, g.dv_sum = d_bias + C + Hkv * D;
    }
    ops::attention_backward(args, head_view(d_atty, H, D, 0), g);
    pos.backward_prior(params_, grads_, B, T, 0);
    pos.backward_qk(g.dq, g.dk, 0, 0, grads_);
    ops::linear_backward(d_ln, G("attn.in_proj.weight"), fused_dqkv ? none : G("attn.in_proj.bias"), dqkv, A("ln1"),
                         W("attn.in_proj.weight"));
    // below layer 0 dres goes to the embedding backward (fp32): nothing to round
    ops::layernorm_backward(dres, G("ln_1.weight"), G("ln_1.bias"), d_ln, A("x"), P("ln_1.weight"), A("ln1_mean"),
                            A("ln1_rstd"), l > 0 ? dres_bf16 : none, l > 0 ? bias_of_next(l - 1, "mlp.c_proj.bias") : none);
    written_from(hname(l, "ln_1.weight"));  // layer l's parameters start with ln_1
  }
  Tensor d_wpe;
  if (cfg_.position.type == "learned") d_wpe = row_slice(grads_.view("wpe.weight"), 0, T);
  ops::embedding_backward(grads_.view("wte.weight"), d_wpe, dres, a.input_ids(), 0);
  if (ready) ready(0);
}

}  // namespace goat
