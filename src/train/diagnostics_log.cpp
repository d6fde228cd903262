// DiagnosticsLog: the hook hands the kernel one layer's buffers and folds the previous layer's
// rows into per-head sums first.
#include "train/diagnostics_log.h"

#include <fmt/format.h>

#include <string>

namespace goat {

namespace {
constexpr const char* kNames[] = {"entropy", "sink_mass", "p_max", "kl", "omega"};
// 6 significant digits keep a record short (the JSON writer prints the shortest exact double).
double six_digits(double v) { return std::stod(fmt::format("{:.6g}", v)); }
}  // namespace

DiagnosticsLog::DiagnosticsLog(const ModelConfig& m, int64_t every, int64_t batch, int64_t seq_len)
    : every_(every), layers_(m.n_layer), heads_(m.n_head), batch_(batch), seq_len_(seq_len) {
  if (every_ <= 0) return;
  buf_.assign(static_cast<size_t>(kStats * batch_ * heads_ * seq_len_), 0.f);
  sums_.assign(static_cast<size_t>(kStats * layers_ * heads_), 0.0);
  forwards_.assign(static_cast<size_t>(layers_), 0);
}

ops::AttentionDiagnostics DiagnosticsLog::buffers() {
  const size_t n = static_cast<size_t>(batch_ * heads_ * seq_len_);
  ops::AttentionDiagnostics d;
  d.entropy = buf_.data();
  d.sink_mass = buf_.data() + n;
  d.p_max = buf_.data() + 2 * n;
  d.kl = buf_.data() + 3 * n;
  d.omega = buf_.data() + 4 * n;
  // Every goatlm position scheme's log-prior (GOAT lanes + key bias, ALiBi slope, or none) is
  // the same for every batch row.
  d.prior_shared_over_batch = true;
  return d;
}

void DiagnosticsLog::reduce_pending() {
  if (pending_ < 0) return;
  const int64_t BHT = batch_ * heads_ * seq_len_;
  for (int s = 0; s < kStats; ++s)
    for (int64_t b = 0; b < batch_; ++b)
      for (int64_t h = 0; h < heads_; ++h) {
        const float* row = buf_.data() + s * BHT + (b * heads_ + h) * seq_len_;
        double acc = 0;
        for (int64_t i = 0; i < seq_len_; ++i) acc += row[i];
        sums_[static_cast<size_t>((s * layers_ + pending_) * heads_ + h)] += acc;
      }
  ++forwards_[static_cast<size_t>(pending_)];
  pending_ = -1;
}

void DiagnosticsLog::begin(Gpt& model) {
  GOAT_CHECK(enabled(), "diagnostics", "begin() with train.diag_every = 0");
  std::fill(sums_.begin(), sums_.end(), 0.0);
  std::fill(forwards_.begin(), forwards_.end(), 0);
  pending_ = -1;
  model.set_attention_diagnostics([this](int layer) {
    reduce_pending();
    pending_ = layer;
    return buffers();
  });
}

OrderedJson DiagnosticsLog::end(Gpt& model) {
  model.set_attention_diagnostics(nullptr);
  reduce_pending();
  const int64_t forwards = forwards_.empty() ? 0 : forwards_[0];
  OrderedJson rec{{"rows", forwards * batch_ * seq_len_}};
  for (int s = 0; s < kStats; ++s) {
    OrderedJson layers = OrderedJson::array();
    for (int64_t l = 0; l < layers_; ++l) {
      const double n = static_cast<double>(forwards_[static_cast<size_t>(l)] * batch_ * seq_len_);
      OrderedJson heads = OrderedJson::array();
      for (int64_t h = 0; h < heads_; ++h)
        heads.push_back(six_digits(n > 0 ? sums_[static_cast<size_t>((s * layers_ + l) * heads_ + h)] / n : 0.0));
      layers.push_back(std::move(heads));
    }
    rec[kNames[s]] = std::move(layers);
  }
  return rec;
}

void DiagnosticsLog::end(Gpt& model, std::ofstream& out, int64_t step, const char* key) {
  OrderedJson rec = end(model);
  if (!out.is_open()) return;
  out << OrderedJson{{"step", step}, {key, std::move(rec)}}.dump() << "\n";
  out.flush();
}

}  // namespace goat
