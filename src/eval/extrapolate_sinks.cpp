// The sinks mode: attention-sink statistics from the attention kernel's in-kernel per-row
// diagnostics (ops/attention.h), the residual stream's outlier ratio, and a window-eviction test.
//
// Per length L, over `sinks_windows` blocks of L tokens from the stream start:
//   per layer/head (rows i ≥ 4): mean p_i0, its excess over a uniform causal row (mean 1/(i+1)),
//   mean p_max, mean entropy; Sink^0.3 = fraction of layer-heads whose mean p_i0 > 0.3;
//   per layer: max |h| / median |h| of the hidden state after the block (B, L, C).
// Eviction (L > T): the tokens at positions [T, L) of each block are scored (re-computed, stride
// S = T/4) with (a) a window of the previous T tokens and (b) the block's first 4 tokens followed
// by the previous T − 4; ratio = ppl(a)/ppl(b), beside ppl with the full context.
#include <algorithm>
#include <cmath>

#include "eval/extrapolate.h"
#include "eval/progress.h"

namespace goat::eval {

namespace {

constexpr int64_t kFirstRow = 4, kSinkTokens = 4;

double median_abs_ratio(const Tensor& h) {
  std::vector<float> a(static_cast<size_t>(h.numel()));
  const float* p = h.f32();
  float mx = 0;
  for (size_t i = 0; i < a.size(); ++i) mx = std::max(mx, a[i] = std::fabs(p[i]));
  std::nth_element(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(a.size() / 2), a.end());
  const float med = a[a.size() / 2];
  return med > 0 ? static_cast<double>(mx) / static_cast<double>(med) : std::nan("");
}

OrderedJson eviction(ModeContext& c, int64_t L, int64_t chunks) {
  const int64_t T = c.opts.train_len, S = std::max<int64_t>(1, T / 4);
  if (L <= T) return nullptr;
  const int64_t per = (L - T) / S;  // target blocks per chunk
  double sum_plain = 0, sum_sinks = 0, sum_full = 0;
  for (int variant = 0; variant < 2; ++variant)
    run_windows(
        c.model, chunks * per, T, c.opts.batch_tokens,
        [&](int64_t i, int32_t* in, int32_t* tg) {
          const int64_t base = (i / per) * (L + 1), end = T + (i % per + 1) * S;  // targets: inputs [end − S, end)
          c.val.read(base + end - T, T, in);
          c.val.read(base + end - T + 1, T, tg);
          if (variant == 1) {
            c.val.read(base, kSinkTokens, in);
            c.val.read(base + 1, kSinkTokens, tg);
          }
        },
        [&](int64_t, const float* losses, const float*) {
          for (int64_t p = T - S; p < T; ++p) (variant == 0 ? sum_plain : sum_sinks) += losses[p];
        },
        [&](int64_t units) { c.progress.add(units); });
  run_windows(
      c.model, chunks, L, c.opts.batch_tokens,
      [&](int64_t i, int32_t* in, int32_t* tg) {
        c.val.read(i * (L + 1), L, in);
        c.val.read(i * (L + 1) + 1, L, tg);
      },
      [&](int64_t, const float* losses, const float*) {
        for (int64_t p = T; p < T + per * S; ++p) sum_full += losses[p];
      },
      [&](int64_t units) { c.progress.add(units); });
  const double n = static_cast<double>(chunks * per * S);
  const double plain = std::exp(sum_plain / n), sinks = std::exp(sum_sinks / n);
  return OrderedJson{{"window", T},          {"stride", S},          {"tokens", chunks * per * S}, {"ppl_window", plain},
                     {"ppl_window_sinks", sinks}, {"ppl_full", std::exp(sum_full / n)}, {"ratio", plain / sinks}};
}

}  // namespace

OrderedJson mode_sinks(ModeContext& c) {
  OrderedJson rows = OrderedJson::array();
  Gpt* gpt = c.model.gpt();
  if (!gpt) return OrderedJson{{"undefined", "the sinks mode needs a GPT (attention diagnostics)"}};
  const auto& cfg = gpt->config();
  const int64_t H = cfg.n_head, NL = cfg.n_layer, B = c.opts.sinks_windows;
  for (const int64_t L : c.opts.lengths) {
    if (L > c.model.max_len()) {
      rows.push_back(undefined_entry(L, c.model.max_len()));
      continue;
    }
    GOAT_CHECK(c.val.size() >= B * (L + 1), "extrapolate", "sinks: validation stream of {} tokens is shorter than {}",
               c.val.size(), B * (L + 1));
    c.progress.set_label("sinks L=" + std::to_string(L));
    const size_t per_layer = static_cast<size_t>(B * H * L);
    std::vector<float> ent(per_layer * static_cast<size_t>(NL)), sink(ent.size()), pmax(ent.size());
    gpt->set_attention_diagnostics([&](int l) {
      ops::AttentionDiagnostics d;
      const size_t off = per_layer * static_cast<size_t>(l);
      d.entropy = ent.data() + off;
      d.sink_mass = sink.data() + off;
      d.p_max = pmax.data() + off;
      return d;
    });
    std::vector<int32_t> in(static_cast<size_t>(B * L)), tg(in.size());
    for (int64_t b = 0; b < B; ++b) {
      c.val.read(b * (L + 1), L, in.data() + b * L);
      c.val.read(b * (L + 1) + 1, L, tg.data() + b * L);
    }
    try {
      c.model.run(in.data(), tg.data(), B, L);
    } catch (...) {
      gpt->set_attention_diagnostics(nullptr);
      throw;
    }
    gpt->set_attention_diagnostics(nullptr);
    c.progress.add(B * L);
    double uniform = 0;
    for (int64_t i = kFirstRow; i < L; ++i) uniform += 1.0 / static_cast<double>(i + 1);
    const auto rows_used = static_cast<double>(std::max<int64_t>(1, L - kFirstRow));
    uniform /= rows_used;
    OrderedJson layers = OrderedJson::array();
    int64_t sink_heads = 0;
    const Activations& acts = *c.model.activations();
    for (int64_t l = 0; l < NL; ++l) {
      OrderedJson heads = OrderedJson::array();
      for (int64_t h = 0; h < H; ++h) {
        double ms = 0, mp = 0, me = 0;
        for (int64_t b = 0; b < B; ++b)
          for (int64_t i = kFirstRow; i < L; ++i) {
            const size_t k = static_cast<size_t>(l) * per_layer + static_cast<size_t>((b * H + h) * L + i);
            ms += sink[k], mp += pmax[k], me += ent[k];
          }
        const double n = rows_used * static_cast<double>(B);
        ms /= n, mp /= n, me /= n;
        sink_heads += ms > 0.3;
        heads.push_back(OrderedJson{{"head", h}, {"sink_mass", ms}, {"excess", ms - uniform}, {"p_max", mp}, {"entropy", me}});
      }
      const Tensor hidden = l + 1 < NL ? acts.layer(static_cast<int>(l + 1), "x") : acts.get("x_final");
      layers.push_back(OrderedJson{{"layer", l}, {"act_max_over_median", median_abs_ratio(hidden)}, {"heads", heads}});
    }
    rows.push_back(OrderedJson{{"length", L},
                               {"windows", B},
                               {"uniform_mass", uniform},
                               {"sink03", static_cast<double>(sink_heads) / static_cast<double>(NL * H)},
                               {"layers", layers},
                               {"eviction", eviction(c, L, B)}});
  }
  return rows;
}

}  // namespace goat::eval
