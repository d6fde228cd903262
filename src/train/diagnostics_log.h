// Attention diagnostics in metrics.jsonl (train.diag_every, docs/training.md): per layer × head
// means of the in-kernel diagnostics (ops/attention.h, theory.md §5) over the forwards between
// begin() and end() — the micro-batches of one training step, or the batches of one evaluation:
//
//   {"step": N, "diag" | "val_diag": {"rows": n, "entropy": [[h0, h1, ...], ...layers],
//                                     "sink_mass": ..., "p_max": ..., "kl": ..., "omega": ...}}
//
// Means are over every query row (b, i) of every forward (rows: how many per head). The kernel
// writes (B, H, T) per layer; one layer's buffers are kept, and layer l's rows are summed when the
// model asks for layer l + 1's buffers (or at end()), so memory is 5·B·H·T floats.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "model/gpt.h"

namespace goat {

class DiagnosticsLog {
 public:
  // every: train.diag_every (0 = off). Forwards between begin() and end() must be of at most
  // (batch, seq_len) — the trainer's one Activations.
  DiagnosticsLog(const ModelConfig& m, int64_t every, int64_t batch, int64_t seq_len);
  DiagnosticsLog() = default;  // off

  bool enabled() const { return every_ > 0; }
  // Whether 1-based step `step` collects diagnostics.
  bool due(int64_t step) const { return every_ > 0 && step % every_ == 0; }

  // Attaches to the model's attention diagnostics hook and clears the sums.
  void begin(Gpt& model);
  // Detaches and returns the record's value (the object under "diag" / "val_diag").
  OrderedJson end(Gpt& model);
  // end(), then appends {"step": step, key: record} to `out` when it is open.
  void end(Gpt& model, std::ofstream& out, int64_t step, const char* key);

 private:
  static constexpr int kStats = 5;  // entropy, sink_mass, p_max, kl, omega
  ops::AttentionDiagnostics buffers();
  void reduce_pending();

  int64_t every_ = 0, layers_ = 0, heads_ = 0, batch_ = 0, seq_len_ = 0;
  std::vector<float> buf_;         // (kStats, B, H, T): the pending layer's rows
  std::vector<double> sums_;       // (kStats, layers, H)
  std::vector<int64_t> forwards_;  // (layers): forwards summed per layer
  int pending_ = -1;               // layer whose rows are in buf_, or -1
};

}  // namespace goat
