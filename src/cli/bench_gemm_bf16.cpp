// `goatlm bench gemm-bf16`: the bf16 GEMMs of one transformer layer (+ the tied logits head) with
// N = B·T rows and width C, each timed on oneDNN's matmul and on our AMX GEMM (gemm_amx.h) side
// by side, interleaved (A, B, A, B, …; median of each), with a 64 MiB cache flush before every
// call. C dtypes and biases as the bf16 model uses them: bf16 C for c_fc's output and for the d_in
// GEMMs that feed a LayerNorm backward (d_ln: in_proj, c_fc, lm_head) or GELU's (c_proj); the tied
// lm_head has no bias.
#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "backend/cpu/aligned_scratch.h"
#include "backend/cpu/gemm_amx.h"
#include "backend/cpu/gemm_bf16.h"
#include "cli/commands.h"
#include "core/cpu_info.h"
#include "core/op_profile.h"

namespace goat::cli {

namespace {

struct Bf16Gemm {
  const char* layer;
  const char* what;
  bool ta, tb;
  int64_t m, n, k;
  bool bias, accumulate, c_bf16;
};

bool g_flush = true;

void flush_caches() {
  if (!g_flush) return;
  static std::vector<float> junk(16 << 20);
  for (size_t i = 0; i < junk.size(); i += 16) junk[i] += 1.f;
}

void bench_one(const Bf16Gemm& g, int reps) {
  const int64_t ar = g.ta ? g.k : g.m, ac = g.ta ? g.m : g.k, br = g.tb ? g.n : g.k, bc = g.tb ? g.k : g.n;
  // Operands 64-byte aligned, as the trainer's arena gives them (from std::vector, page + 16 bytes,
  // oneDNN read A and B across cache lines).
  cpu::AlignedScratch a_store, b_store, c_store;
  uint16_t* const a = a_store.get<uint16_t>(ar * ac);
  uint16_t* const b = b_store.get<uint16_t>(br * bc);
  float* const c = c_store.get<float>(g.m * g.n);
  std::fill_n(a, ar * ac, uint16_t{0x3f00});
  std::fill_n(b, br * bc, uint16_t{0x3e80});
  std::fill_n(c, g.m * g.n, 0.f);
  std::vector<float> bias(static_cast<size_t>(g.n), 0.5f);
  const cpu::Bf16Out out{c, g.n, g.c_bf16};
  const float beta = g.accumulate ? 1.f : 0.f;
  const float* bp = g.bias ? bias.data() : nullptr;
  const bool amx = cpu::amx_matmul_applies(g.ta, g.m, g.n, g.k, 1.f, beta, g.c_bf16);
  const auto onednn = [&] {
    cpu::matmul_bf16_onednn(g.ta, g.tb, g.m, g.n, g.k, 1.f, a, ac, b, bc, beta, out, bp);
  };
  const auto ours = [&] { cpu::amx_matmul(g.tb, g.m, g.n, g.k, a, ac, b, bc, g.accumulate, out, bp); };
  onednn();  // warm-up: primitives, scratch
  if (amx) ours();
  std::vector<double> t_onednn, t_ours;
  for (int r = 0; r < reps; ++r) {
    flush_caches();
    double t0 = profile_seconds();
    onednn();
    t_onednn.push_back(profile_seconds() - t0);
    if (!amx) continue;
    flush_caches();
    t0 = profile_seconds();
    ours();
    t_ours.push_back(profile_seconds() - t0);
  }
  const auto median = [](std::vector<double>& t) {
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  };
  const double flop = 2.0 * static_cast<double>(g.m) * static_cast<double>(g.n) * static_cast<double>(g.k);
  const double s1 = median(t_onednn);
  if (!amx) {
    fmt::print("{:<9} {:<8} {:>5} {:>5} {:>5} {:>4} | {:>8.3f} {:>7.0f} | {:>8} {:>7} | {:>6}\n", g.layer, g.what, g.m,
               g.n, g.k, g.c_bf16 ? "bf16" : "f32", s1 * 1e3, flop / s1 * 1e-9, "-", "-", "-");
    return;
  }
  const double s2 = median(t_ours);
  fmt::print("{:<9} {:<8} {:>5} {:>5} {:>5} {:>4} | {:>8.3f} {:>7.0f} | {:>8.3f} {:>7.0f} | {:>5.2f}x\n", g.layer, g.what,
             g.m, g.n, g.k, g.c_bf16 ? "bf16" : "f32", s1 * 1e3, flop / s1 * 1e-9, s2 * 1e3, flop / s2 * 1e-9, s1 / s2);
}

}  // namespace

void register_bench_gemm_bf16(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("gemm-bf16", "bf16 linear-layer GEMMs: oneDNN matmul vs our AMX GEMM");
  static int reps = 11;
  static int64_t rows = 4096, width = 256, vocab = 256;
  static std::string clock = "wall";
  static bool no_flush = false;
  cmd->add_flag("--no-flush", no_flush, "keep the caches warm between calls (operands partly cache-resident)");
  cmd->add_option("--reps", reps, "repetitions per GEMM and engine (median reported)")->check(CLI::PositiveNumber);
  cmd->add_option("--rows", rows, "N = batch · sequence length")->check(CLI::PositiveNumber);
  cmd->add_option("--width", width, "d_model (MLP 4·d_model)")->check(CLI::PositiveNumber);
  cmd->add_option("--vocab", vocab, "vocabulary size (the tied logits head)")->check(CLI::PositiveNumber);
  cmd->add_option("--clock", clock, "wall, or cpu: process CPU time / threads (for a busy machine)")
      ->check(CLI::IsMember({"wall", "cpu"}));
  cmd->callback([] {
    set_profile_clock(clock == "cpu" ? ProfileClock::cpu : ProfileClock::wall);
    g_flush = !no_flush;
    fmt::print("bf16 GEMMs, N {} C {} vocab {}, threads {}, {} clock, median of {} ({})\n", rows, width, vocab,
               cpu_info().threads, clock, reps, g_flush ? "64 MiB cache flush before each" : "no cache flush");
    fmt::print("{:<9} {:<8} {:>5} {:>5} {:>5} {:>4} | {:>8} {:>7} | {:>8} {:>7} | {:>6}\n", "layer", "gemm", "m", "n",
               "k", "C", "oneDNN ms", "GFLOP/s", "AMX ms", "GFLOP/s", "speed-up");
    const int64_t n = rows, c = width;
    struct Layer {
      const char* name;
      int64_t cin, cout;
      bool bias, out_bf16, d_in_bf16;
    };
    const Layer layers[] = {{"in_proj", c, 3 * c, true, false, true},
                            {"out_proj", c, c, true, false, false},
                            {"c_fc", c, 4 * c, true, true, true},
                            {"c_proj", 4 * c, c, true, false, true},
                            {"lm_head", c, vocab, false, false, true}};
    for (const Layer& l : layers) {
      bench_one({l.name, "forward", false, true, n, l.cout, l.cin, l.bias, false, l.out_bf16}, reps);
      bench_one({l.name, "d_in", false, false, n, l.cin, l.cout, false, false, l.d_in_bf16}, reps);
      bench_one({l.name, "d_w", true, false, l.cout, l.cin, n, false, true, false}, reps);
    }
  });
}

}  // namespace goat::cli
