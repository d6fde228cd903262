// `goatlm sample --run DIR --prompt TEXT --tokens N [--temperature T --top-k K --seed S]`:
// byte-tokenised prompt, KV-cached decoding, temperature / top-k sampling (temperature 0 =
// greedy) from a Philox stream keyed by the seed, so a sample is reproducible.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cli/commands.h"
#include "core/philox.h"
#include "data/byte_tokenizer.h"
#include "train/run_dir.h"

namespace goat::cli {

namespace {

int32_t pick(const std::vector<float>& logits, double temperature, int64_t top_k, float u) {
  const int64_t V = static_cast<int64_t>(logits.size());
  std::vector<int32_t> idx(static_cast<size_t>(V));
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  if (temperature <= 0) return idx[0];
  const int64_t k = top_k > 0 ? std::min(top_k, V) : V;
  std::vector<double> p(static_cast<size_t>(k));
  double total = 0;
  for (int64_t i = 0; i < k; ++i)
    total += p[static_cast<size_t>(i)] = std::exp((logits[idx[static_cast<size_t>(i)]] - logits[idx[0]]) / temperature);
  double acc = 0;
  for (int64_t i = 0; i < k; ++i) {
    acc += p[static_cast<size_t>(i)] / total;
    if (u < acc) return idx[static_cast<size_t>(i)];
  }
  return idx[static_cast<size_t>(k - 1)];
}

}  // namespace

void register_sample(CLI::App& app) {
  struct Opts {
    std::string run, prompt;
    int64_t tokens = 128, top_k = 0;
    double temperature = 1.0;
    uint64_t seed = 0;
  };
  static Opts o;
  auto* cmd = app.add_subcommand("sample", "Generate text from a trained run (KV cache, byte tokenizer)");
  cmd->add_option("--run", o.run, "run directory")->required();
  cmd->add_option("--prompt", o.prompt, "prompt text")->required();
  cmd->add_option("--tokens", o.tokens, "tokens to generate")->check(CLI::PositiveNumber);
  cmd->add_option("--temperature", o.temperature, "softmax temperature (0 = greedy)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-k", o.top_k, "sample among the k most likely tokens (0 = all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", o.seed, "sampling seed");
  cmd->callback([] {
    LoadedRun r = load_run(o.run);
    data::ByteTokenizer tok;
    GOAT_CHECK(r.cfg.model.vocab_size >= tok.vocab_size(), "sample",
               "the byte tokenizer needs model.vocab_size >= 256, the run has {}", r.cfg.model.vocab_size);
    std::vector<int32_t> ids = tok.encode(o.prompt);
    GOAT_CHECK(!ids.empty(), "sample", "the prompt is empty");
    Gpt& m = *r.model;
    Gpt::KvCache cache = m.make_cache(static_cast<int64_t>(ids.size()) + o.tokens);
    std::vector<float> logits(static_cast<size_t>(r.cfg.model.vocab_size));
    m.forward_cached(cache, ids.data(), static_cast<int64_t>(ids.size()), logits.data());
    const Rng rng(o.seed, RngPurpose::sample);
    std::vector<int32_t> out;
    for (int64_t i = 0; i < o.tokens; ++i) {
      int32_t next = pick(logits, o.temperature, o.top_k, rng.uniform(static_cast<uint64_t>(i)));
      next = std::min<int32_t>(next, static_cast<int32_t>(tok.vocab_size()) - 1);
      out.push_back(next);
      if (i + 1 < o.tokens) m.forward_cached(cache, &next, 1, logits.data());
    }
    fmt::print("{}{}\n", o.prompt, tok.decode(out));
  });
}

}  // namespace goat::cli
