// The training loop: data → forward/backward over grad_accum micro-batches → clip → AdamW, with
// periodic validation, metrics.jsonl, a console progress line, checkpoints (train/checkpoint.h)
// and the final weights saved to the run dir. A step with a non-finite loss or gradient skips
// its update; train.max_bad_steps of them in a row stop training. SIGINT/SIGTERM (when
// train/stop_signal.h's handlers are installed) end the run after the current step with a
// checkpoint (on several ranks: once any rank has been signalled, all stop at the same step).
//
// Determinism: the global batch of step s is a pure function of (seed, s) (data/loader.h), the
// init of (seed), and every op reduces in a fixed order, so two runs with one config give
// bit-identical losses. Under mpirun/srun the trainer is data parallel (train/data_parallel.h):
// each rank trains on its slice of the global batch and only rank 0 logs and writes files.
#pragma once

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>

#include "backend/cpu/gemm_bf16.h"
#include "config/config.h"
#include "data/loader.h"
#include "model/gpt.h"
#include "train/checkpoint.h"
#include "train/data_parallel.h"
#include "train/diagnostics_log.h"
#include "train/grad_accumulator.h"
#include "train/optimizer.h"

namespace goat {

struct StepStats {
  double loss = 0, lr = 0, grad_norm = 0, seconds = 0;
  bool skipped = false;    // non-finite loss or gradient: no update
  std::string bad_tensor;  // then the first non-finite tensor ("grad of X", "loss")
};

class Trainer {
 public:
  // run_dir empty: no files (benchmarks, tests). measure_peak: time an sgemm for the MFU figure.
  Trainer(const Config& cfg, std::string run_dir, bool measure_peak = true);

  // Continues from a verified checkpoint (train/resume.h picks it; every rank calls this):
  // weights, AdamW moments (this rank's shard under ZeRO), step and counters; metrics.jsonl is
  // cut back to that step when run() opens it.
  void resume(const ckpt::Checkpoint& c);
  // Trains up to train.steps steps (from the resumed step); returns the last step's stats.
  StepStats run();
  // One optimizer step (0-based index).
  StepStats step(int64_t step);
  // Mean validation loss over train.eval_batches batches (fixed windows, independent of step).
  double evaluate();

  Gpt& model() { return *model_; }
  DataParallel& data_parallel() { return *dp_; }
  const Activations& activations() const { return *acts_; }
  int64_t tokens_per_step() const;
  double peak_gflops() const { return peak_gflops_; }
  void save_weights(int64_t step) const;
  // The training state after `step` completed steps, as ckpt::save() takes it, with the moments
  // as this rank holds them (full unless ZeRO shards them; save_checkpoint gathers those).
  ckpt::TrainState train_state(int64_t step) const;
  int64_t start_step() const { return start_step_; }

 private:
  StepStats train_loop();
  void log_step(int64_t step, const StepStats& s);
  void open_metrics();
  void flush_metrics();
  void save_checkpoint(int64_t step);  // collective under ZeRO; rank 0 writes
  void count_bad_step(int64_t step, const StepStats& s);
  int stop_signal();                   // agreed over ranks
  cpu::GemmPrecision gemm_precision() const;  // from cfg.dtype and the CPU

  Config cfg_;
  std::string run_dir_;
  std::unique_ptr<DataParallel> dp_;
  std::unique_ptr<Gpt> model_;
  std::unique_ptr<Activations> acts_;
  std::unique_ptr<AdamW> opt_;
  GradAccumulator accum_;
  std::unique_ptr<data::Loader> train_loader_, val_loader_;
  std::ofstream metrics_;
  DiagnosticsLog diag_;  // train.diag_every
  double peak_gflops_ = 0;
  bool bf16_gemm_ = false;  // dtype bf16 and the CPU has bf16 GEMM hardware
  int64_t start_step_ = 0, last_ckpt_step_ = -1;
  int64_t bad_in_a_row_ = 0, bad_total_ = 0, first_bad_step_ = 0;
  std::string first_bad_tensor_;
};

// Mean loss of `model` over `batches` batches of `loader` (batch i = loader.batch(i, 0)).
double mean_loss(Gpt& model, Activations& acts, const data::Loader& loader, int64_t batches);

// Writes cfg as indented JSON (the resolved config of a run).
void save_config(const Config& cfg, const std::string& path);

}  // namespace goat
