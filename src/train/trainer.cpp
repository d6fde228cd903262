// Trainer implementation.
#include "train/trainer.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "backend/cpu/gemm.h"
#include "backend/cpu/gemm_bf16.h"
#include "core/cpu_info.h"
#include "data/safetensors.h"
#include "ops/op_profile.h"

namespace goat {

void save_config(const Config& cfg, const std::string& path) {
  std::ofstream f(path, std::ios::trunc);
  GOAT_CHECK(f.good(), "train", "cannot write '{}'", path);
  f << to_json(cfg).dump(2) << "\n";
}

namespace {

// dtype "bf16" on the CPU: true when bf16 GEMMs have hardware (AMX, or AVX-512-BF16, said so);
// false (fp32 GEMMs, said so) when the CPU has neither.
bool cpu_bf16_gemm_note() {
  const CpuInfo& ci = cpu_info();
  if (ci.amx_bf16 && ci.amx_tile) {
    spdlog::info("dtype bf16: bf16 GEMMs on AMX ({})", cpu::bf16_gemm_impl());
    return true;
  }
  if (ci.avx512_bf16) {
    spdlog::warn("dtype bf16: this CPU has no AMX; bf16 GEMMs run on AVX-512-BF16 ({})", cpu::bf16_gemm_impl());
    return true;
  }
  spdlog::warn("dtype bf16: this CPU has neither AMX nor AVX-512-BF16; GEMMs stay fp32");
  return false;
}

}  // namespace

Trainer::Trainer(const Config& cfg, std::string run_dir, bool measure_peak) : cfg_(cfg), run_dir_(std::move(run_dir)) {
  validate(cfg_);
  dp_ = std::make_unique<DataParallel>(cfg_);  // first: NCCL picks this rank's device
  const auto& t = cfg_.train;
  const int64_t local_batch = dp_->local_batch(t.batch_size);
  model_ = std::make_unique<Gpt>(cfg_.model, t.seq_len);
  model_->init(static_cast<uint64_t>(t.seed));
  dp_->broadcast_params(model_->params());
  acts_ = std::make_unique<Activations>(cfg_.model, local_batch, t.seq_len);
  diag_ = DiagnosticsLog(cfg_.model, t.diag_every, local_batch, t.seq_len);  // this rank's rows
  const int64_t numel = model_->params().numel();
  opt_ = std::make_unique<AdamW>(model_->params(), model_->decay_mask(), t, dp_->owned_begin(numel),
                                 dp_->owned_end(numel));
  train_loader_ = std::make_unique<data::Loader>(data::make_source(cfg_, false), local_batch, t.seq_len,
                                                 static_cast<uint64_t>(t.seed), RngPurpose::data, dp_->rows(t.batch_size));
  val_loader_ = std::make_unique<data::Loader>(data::make_source(cfg_, true), local_batch, t.seq_len,
                                               static_cast<uint64_t>(t.seed), RngPurpose::eval, dp_->rows(t.batch_size));
  if (cfg_.dtype == "bf16" && cfg_.device == "cpu") bf16_gemm_ = cpu_bf16_gemm_note();
  if (measure_peak) peak_gflops_ = cpu::measure_sgemm_gflops(1024, 5);
  if (!run_dir_.empty() && dp_->is_root()) {
    std::filesystem::create_directories(run_dir_);
    save_config(cfg_, run_dir_ + "/config.json");
    metrics_.open(run_dir_ + "/metrics.jsonl", std::ios::trunc);
    GOAT_CHECK(metrics_.good(), "train", "cannot write '{}/metrics.jsonl'", run_dir_);
  }
}

int64_t Trainer::tokens_per_step() const { return cfg_.train.batch_size * cfg_.train.seq_len * cfg_.train.grad_accum; }

cpu::GemmPrecision Trainer::gemm_precision() const {
  return cfg_.dtype == "bf16" && bf16_gemm_ ? cpu::GemmPrecision::bf16 : cpu::GemmPrecision::fp32;
}

StepStats Trainer::step(int64_t step) {
  const auto t0 = std::chrono::steady_clock::now();
  const cpu::GemmPrecisionScope precision(gemm_precision());
  const auto& t = cfg_.train;
  const Arena& grads = model_->grads();
  const float scale = 1.f / static_cast<float>(acts_->batch() * t.seq_len * t.grad_accum);
  double loss = 0;
  const bool diag = diag_.due(step + 1);
  if (diag) diag_.begin(*model_);
  for (int64_t micro = 0; micro < t.grad_accum; ++micro) {
    {
      const ops::OpTimer timer("step.data");
      train_loader_->batch(step, micro, acts_->inputs.data(), acts_->targets.data());
    }
    {
      const ops::OpTimer timer("step.forward");
      loss += model_->forward(*acts_, true);
    }
    accum_.before_backward(grads, micro);
    const ops::OpTimer timer("step.backward");
    model_->backward(*acts_, scale);
    accum_.after_backward(grads, micro);
  }
  dp_->maybe_inject_fault(step + 1);
  {
    const ops::OpTimer timer("step.allreduce");
    dp_->reduce_gradients(grads);  // rank mean of the per-rank mean gradients = the global mean
  }
  if (diag) diag_.end(*model_, metrics_, step + 1, "diag");
  const ops::OpTimer timer("step.optimizer");
  StepStats s;
  s.loss = dp_->mean(loss / static_cast<double>(t.grad_accum));
  s.grad_norm = dp_->grad_norm(grads);
  s.lr = lr_at(t, step);
  opt_->step(model_->params(), grads, step, s.lr, s.grad_norm);
  dp_->gather_params(model_->params());
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

double mean_loss(Gpt& model, Activations& acts, const data::Loader& loader, int64_t batches) {
  GOAT_CHECK(acts.batch() == loader.batch_size() && acts.seq_len() == loader.seq_len(), "eval",
             "activations ({}, {}) do not match the loader ({}, {})", acts.batch(), acts.seq_len(), loader.batch_size(),
             loader.seq_len());
  double total = 0;
  for (int64_t i = 0; i < batches; ++i) {
    loader.batch(i, 0, acts.inputs.data(), acts.targets.data());
    total += model.forward(acts, true);
  }
  return total / static_cast<double>(batches);
}

double Trainer::evaluate() {
  const cpu::GemmPrecisionScope precision(gemm_precision());
  return dp_->mean(mean_loss(*model_, *acts_, *val_loader_, cfg_.train.eval_batches));
}

void Trainer::save_weights(int64_t step) const {
  if (run_dir_.empty() || !dp_->is_root()) return;
  data::save_safetensors(run_dir_ + "/model.safetensors", model_->params(),
                         {{"format", "goatlm"}, {"step", std::to_string(step)}, {"config", to_json(cfg_).dump()}});
}

void Trainer::log_step(int64_t step, const StepStats& s) {
  const double tps = static_cast<double>(tokens_per_step()) / s.seconds;
  const double mfu = peak_gflops_ > 0 ? model_->flops_per_token(cfg_.train.seq_len) * tps / (peak_gflops_ * 1e9) : 0.0;
  if (metrics_.is_open()) {
    OrderedJson j{{"step", step},           {"loss", s.loss},   {"lr", s.lr},  {"grad_norm", s.grad_norm},
                  {"tokens_per_s", tps}, {"step_ms", s.seconds * 1e3}, {"mfu", mfu}};
    metrics_ << j.dump() << "\n";
    metrics_.flush();
  }
  if (step % cfg_.train.log_every == 0 || step == cfg_.train.steps || step == 1)
    spdlog::info("step {:>6}/{} | loss {:.4f} | lr {:.2e} | norm {:.3f} | {:.1f}k tok/s | MFU {:.1f}%", step,
                 cfg_.train.steps, s.loss, s.lr, s.grad_norm, tps * 1e-3, mfu * 100);
}

StepStats Trainer::run() {
  StepStats last;
  dp_->run_or_abort([&] { last = train_loop(); });
  return last;
}

StepStats Trainer::train_loop() {
  const auto& t = cfg_.train;
  spdlog::info("model: {} params ({} non-embedding), {} layers, d_model {}, {} heads, position {}", model_->num_params(),
               model_->num_non_embedding(), cfg_.model.n_layer, cfg_.model.d_model, cfg_.model.n_head,
               cfg_.model.position.type);
  spdlog::info("data: {}", train_loader_->source().describe());
  if (peak_gflops_ > 0) spdlog::info("measured sgemm peak {:.0f} GFLOP/s (MFU reference)", peak_gflops_);
  StepStats last;
  for (int64_t s = 0; s < t.steps; ++s) {
    last = step(s);
    GOAT_CHECK(std::isfinite(last.loss), "train", "non-finite loss {} at step {}", last.loss, s + 1);
    const int64_t done = s + 1;
    log_step(done, last);
    if ((t.eval_every > 0 && done % t.eval_every == 0) || done == t.steps) {
      if (diag_.enabled()) diag_.begin(*model_);
      const double val = evaluate();
      if (diag_.enabled()) diag_.end(*model_, metrics_, done, "val_diag");
      spdlog::info("step {:>6}/{} | val_loss {:.4f}", done, t.steps, val);
      if (metrics_.is_open()) {
        metrics_ << OrderedJson{{"step", done}, {"val_loss", val}}.dump() << "\n";
        metrics_.flush();
      }
    }
    if (t.ckpt_every > 0 && done % t.ckpt_every == 0 && done != t.steps) save_weights(done);
  }
  save_weights(t.steps);
  if (!run_dir_.empty() && dp_->is_root()) spdlog::info("wrote {}/model.safetensors", run_dir_);
  return last;
}

}  // namespace goat
