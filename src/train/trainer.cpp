// Trainer implementation.
#include "train/trainer.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "backend/cpu/gemm.h"
#include "backend/cpu/gemm_bf16.h"
#include "core/cpu_info.h"
#include "core/op_profile.h"
#include "data/safetensors.h"
#include "train/device_placement.h"
#include "train/metrics_rewind.h"
#include "train/nonfinite.h"
#include "train/stop_signal.h"

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
  const Placement place = placement_of(cfg_);  // device "cuda" without a device is an error here
  model_ = std::make_unique<Gpt>(cfg_.model, t.seq_len, place);
  model_->init(static_cast<uint64_t>(t.seed));
  dp_->broadcast_params(model_->params());
  acts_ = std::make_unique<Activations>(cfg_.model, local_batch, t.seq_len, place,
                                        ActivationPlan{parse_recompute(t.recompute), true});
  diag_ = DiagnosticsLog(cfg_.model, t.diag_every, local_batch, t.seq_len);  // this rank's rows
  const int64_t numel = model_->params().numel();
  opt_ = std::make_unique<AdamW>(model_->params(), model_->decay_mask(), t, dp_->owned_begin(numel),
                                 dp_->owned_end(numel));
  train_loader_ = std::make_unique<data::Loader>(data::make_source(cfg_, false), local_batch, t.seq_len,
                                                 static_cast<uint64_t>(t.seed), RngPurpose::data, dp_->rows(t.batch_size));
  val_loader_ = std::make_unique<data::Loader>(data::make_source(cfg_, true), local_batch, t.seq_len,
                                               static_cast<uint64_t>(t.seed), RngPurpose::eval, dp_->rows(t.batch_size));
  if (cfg_.dtype == "bf16" && cfg_.device == "cpu") bf16_gemm_ = cpu_bf16_gemm_note();
  if (measure_peak) peak_gflops_ = measure_peak_gflops(place);
  if (!run_dir_.empty() && dp_->is_root()) {
    std::filesystem::create_directories(run_dir_);
    save_config(cfg_, run_dir_ + "/config.json");
  }
}

void Trainer::resume(const ckpt::Checkpoint& c) {
  const Arena& p = model_->params();
  if (p.device() == Device::cpu && opt_->owns_all()) {
    ckpt::load(c, &p, &opt_->m(), &opt_->v());
  } else {  // read on the host, then copy up (CUDA) and/or keep this rank's shard of the moments (ZeRO)
    const Arena hp = p.clone_layout(DType::f32, Device::cpu), hm = p.clone_layout(DType::f32, Device::cpu),
                hv = p.clone_layout(DType::f32, Device::cpu);
    ckpt::load(c, &hp, &hm, &hv);
    p.copy_from(hp);
    opt_->load_moments(hm, hv);
    model_->refresh_working_copy();
  }
  start_step_ = last_ckpt_step_ = c.state.step;
  bad_in_a_row_ = c.state.bad_steps_in_a_row;
  bad_total_ = c.state.bad_steps_total;
  spdlog::info("resuming from {} (step {}, {} tokens seen, written by {} rank(s))", c.dir, c.state.step,
               c.state.tokens_seen, c.state.world_size);
}

void Trainer::open_metrics() {
  if (run_dir_.empty() || !dp_->is_root()) return;
  const std::string path = run_dir_ + "/metrics.jsonl";
  if (start_step_ > 0) rewind_metrics(path, start_step_);
  metrics_.open(path, start_step_ > 0 ? std::ios::app : std::ios::trunc);
  GOAT_CHECK(metrics_.good(), "train", "cannot write '{}'", path);
}

void Trainer::flush_metrics() {
  metrics_.flush();
  GOAT_CHECK(metrics_.good(), "train", "write to '{}/metrics.jsonl' failed (disk full?)", run_dir_);
}

ckpt::TrainState Trainer::train_state(int64_t step) const {
  ckpt::TrainState s;
  s.cfg = &cfg_;
  s.params = &model_->params();
  s.adam_m = &opt_->m();
  s.adam_v = &opt_->v();
  s.step = step;
  s.tokens_seen = step * tokens_per_step();
  s.world_size = dp_->world();
  s.bad_steps_in_a_row = bad_in_a_row_;
  s.bad_steps_total = bad_total_;
  return s;
}

void Trainer::save_checkpoint(int64_t step) {
  if (run_dir_.empty() || last_ckpt_step_ == step) return;
  ckpt::TrainState s = train_state(step);
  Arena m_full, v_full;
  if (!opt_->owns_all()) {  // ZeRO: every rank's moment shard into the full layout
    m_full = model_->params().clone_layout();
    v_full = model_->params().clone_layout();
    dp_->gather_shards(opt_->m(), m_full);
    dp_->gather_shards(opt_->v(), v_full);
    s.adam_m = &m_full;
    s.adam_v = &v_full;
  }
  Arena hp, hm, hv;  // host copies of device arenas
  s.params = &on_host(*s.params, hp), s.adam_m = &on_host(*s.adam_m, hm), s.adam_v = &on_host(*s.adam_v, hv);
  if (dp_->is_root()) spdlog::debug("checkpoint {}", ckpt::save(run_dir_, s, cfg_.train.keep_last));
  last_ckpt_step_ = step;
}

int Trainer::stop_signal() {
  const int local = stop_requested();
  if (dp_->world() == 1) return local;
  return dp_->mean(local != 0 ? 1.0 : 0.0) > 0 ? (local != 0 ? local : SIGTERM) : 0;
}

void Trainer::count_bad_step(int64_t step, const StepStats& s) {
  if (!s.skipped) {
    bad_in_a_row_ = 0;
    return;
  }
  if (bad_in_a_row_ == 0) {
    first_bad_step_ = step;
    first_bad_tensor_ = s.bad_tensor;
  }
  ++bad_in_a_row_;
  ++bad_total_;
  spdlog::warn("step {}: non-finite {} (loss {}, grad norm {}); update skipped ({} in a row, limit train.max_bad_steps = {})",
               step, s.bad_tensor, s.loss, s.grad_norm, bad_in_a_row_, cfg_.train.max_bad_steps);
  GOAT_CHECK(bad_in_a_row_ < cfg_.train.max_bad_steps, "train",
             "stopping at step {}: {} steps in a row had a non-finite loss or gradient (train.max_bad_steps = {}); the "
             "first, step {}, had non-finite {}. Last good checkpoint: {}",
             step, bad_in_a_row_, cfg_.train.max_bad_steps, first_bad_step_, first_bad_tensor_,
             last_ckpt_step_ >= 0 ? ckpt::step_dir(run_dir_, last_ckpt_step_) : "none");
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
      const OpTimer timer("step.data");
      train_loader_->batch(step, micro, acts_->inputs.data(), acts_->targets.data());
    }
    {
      const OpTimer timer("step.forward");
      loss += model_->forward(*acts_, true);
    }
    if (micro + 1 == t.grad_accum) dp_->maybe_inject_fault(step + 1);
    // With several ranks the last micro-batch's backward includes the gradient averaging (rank
    // mean of the per-rank mean gradients = the global mean), overlapped bucket by bucket.
    const OpTimer timer("step.backward");
    dp_->backward(*model_, *acts_, scale, accum_, micro, t.grad_accum);
  }
  if (diag) diag_.end(*model_, metrics_, step + 1, "diag");
  const OpTimer timer("step.optimizer");
  StepStats s;
  s.loss = dp_->mean(loss / static_cast<double>(t.grad_accum));
  s.grad_norm = dp_->grad_norm(grads);
  s.lr = lr_at(t, step);
  if (std::isfinite(s.loss) && std::isfinite(s.grad_norm)) {  // global values: every rank agrees
    opt_->step(model_->params(), grads, step, s.lr, s.grad_norm, model_->bf16_weights());
    dp_->gather_params(model_->params(), model_->bf16_weights());
  } else {
    s.skipped = true;
    const std::string g = first_non_finite(grads);
    s.bad_tensor = !g.empty() ? "grad of " + g : "loss";
  }
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
  Arena host;
  data::save_safetensors(run_dir_ + "/model.safetensors", on_host(model_->params(), host),
                         {{"format", "goatlm"}, {"step", std::to_string(step)}, {"config", to_json(cfg_).dump()}});
}

void Trainer::log_step(int64_t step, const StepStats& s) {
  const double tps = static_cast<double>(tokens_per_step()) / s.seconds;
  const double mfu = peak_gflops_ > 0 ? model_->flops_per_token(cfg_.train.seq_len) * tps / (peak_gflops_ * 1e9) : 0.0;
  if (metrics_.is_open()) {
    OrderedJson j{{"step", step},           {"loss", s.loss},   {"lr", s.lr},  {"grad_norm", s.grad_norm},
                  {"tokens_per_s", tps}, {"step_ms", s.seconds * 1e3}, {"mfu", mfu}};
    if (s.skipped) j["skipped"] = s.bad_tensor;
    metrics_ << j.dump() << "\n";
    flush_metrics();
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
  spdlog::info("device: {}", describe_placement(cfg_));
  if (peak_gflops_ > 0) spdlog::info("measured {} peak {:.0f} GFLOP/s (MFU reference)", peak_name(cfg_), peak_gflops_);
  open_metrics();
  StepStats last;
  for (int64_t s = start_step_; s < t.steps; ++s) {
    last = step(s);
    const int64_t done = s + 1;
    log_step(done, last);
    count_bad_step(done, last);
    if ((t.eval_every > 0 && done % t.eval_every == 0) || done == t.steps) {
      if (diag_.enabled()) diag_.begin(*model_);
      const double val = evaluate();
      if (diag_.enabled()) diag_.end(*model_, metrics_, done, "val_diag");
      spdlog::info("step {:>6}/{} | val_loss {:.4f}", done, t.steps, val);
      if (metrics_.is_open()) {
        metrics_ << OrderedJson{{"step", done}, {"val_loss", val}}.dump() << "\n";
        flush_metrics();
      }
    }
    if (t.ckpt_every > 0 && done % t.ckpt_every == 0) save_checkpoint(done);
    if (const int sig = stop_signal(); sig != 0 && done < t.steps) {
      save_checkpoint(done);
      spdlog::info("received signal {} ({}): stopped after step {}/{} with checkpoint {}; run the same command to resume",
                   sig, strsignal(sig), done, t.steps, run_dir_.empty() ? "(no run dir)" : ckpt::step_dir(run_dir_, done));
      return last;
    }
  }
  save_checkpoint(t.steps);
  save_weights(t.steps);
  if (!run_dir_.empty() && dp_->is_root()) spdlog::info("wrote {}/model.safetensors", run_dir_);
  return last;
}

}  // namespace goat
