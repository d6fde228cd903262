// GptEvalModel: Activations reuse and the learned-table bound.
#include "eval/eval_model.h"

#include <algorithm>
#include <cstring>

namespace goat::eval {

int64_t GptEvalModel::max_len() const {
  if (model_.config().position.type == "learned") return model_.config().max_seq_len;
  return std::numeric_limits<int64_t>::max();
}

void GptEvalModel::run(const int32_t* inputs, const int32_t* targets, int64_t B, int64_t L) {
  GOAT_CHECK(L <= max_len(), "extrapolate", "window of {} tokens exceeds the learned position table ({})", L, max_len());
  if (!acts_ || acts_->batch() != B || acts_->seq_len() != L) {
    acts_.reset();  // free the old buffers first: one (B, L) at a time
    acts_ = std::make_unique<Activations>(model_.config(), B, L, Placement{}, kForwardOnly);
  }
  const size_t n = static_cast<size_t>(B * L);
  std::memcpy(acts_->inputs.data(), inputs, n * sizeof(int32_t));
  std::memcpy(acts_->targets.data(), targets, n * sizeof(int32_t));
  model_.forward(*acts_, true);
}

void run_windows(EvalModel& m, int64_t n, int64_t L, int64_t batch_tokens, const FillFn& fill, const ConsumeFn& consume,
                 const std::function<void(int64_t)>& done) {
  if (n <= 0) return;
  const int64_t B = std::min(n, std::max<int64_t>(1, batch_tokens / L));
  const int64_t V = m.vocab_size();
  std::vector<int32_t> in(static_cast<size_t>(B * L)), tg(static_cast<size_t>(B * L));
  for (int64_t first = 0; first < n; first += B) {
    const int64_t count = std::min(B, n - first);
    for (int64_t b = 0; b < B; ++b) fill(first + std::min(b, count - 1), in.data() + b * L, tg.data() + b * L);
    m.run(in.data(), tg.data(), B, L);
    for (int64_t b = 0; b < count; ++b) consume(first + b, m.losses() + b * L, m.logits() + b * L * V);
    if (done) done(count * L);
  }
}

int32_t argmax(const float* logits, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;
  return static_cast<int32_t>(best);
}

}  // namespace goat::eval
