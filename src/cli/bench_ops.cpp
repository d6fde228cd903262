// `goatlm bench ops`: time of each CPU op (forward and backward) at transformer shapes, with 1
// thread and with all threads side by side, plus effective memory bandwidth (bytes an ideal
// kernel must move) or GFLOP/s for the GEMM-bound linear layer. Figures, not a test.
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

#include "backend/cpu/gemm.h"
#include "cli/commands.h"
#include "core/cpu_info.h"
#include "core/philox.h"
#include "ops/adamw.h"
#include "ops/cross_entropy.h"
#include "ops/elementwise.h"
#include "ops/embedding.h"
#include "ops/layernorm.h"
#include "ops/linear.h"

namespace goat::cli {

namespace {

double median_seconds(const std::function<void()>& fn, int reps) {
  fn();  // warm-up (page faults, oneDNN kernel generation)
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

std::vector<float> filled(int64_t n, uint64_t seed, float scale = 1.f) {
  std::vector<float> v(static_cast<size_t>(n));
  const Rng r(seed, RngPurpose::test);
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = scale * r.normal(static_cast<uint64_t>(i));
  return v;
}

struct Row {
  const char* name;
  std::function<void()> fn;
  double bytes, flops;  // per call: ideal memory traffic, FLOPs (0 if not FLOP-bound)
};

}  // namespace

void register_bench_ops(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("ops", "CPU op times (1 thread vs all), GB/s and GFLOP/s");
  static int reps = 5;
  static int64_t rows = 2048, c = 768, vocab = 50257, ce_rows = 256;
  cmd->add_option("--reps", reps, "repetitions (median reported)")->check(CLI::PositiveNumber);
  cmd->add_option("--rows", rows, "B·T rows")->check(CLI::PositiveNumber);
  cmd->add_option("--channels", c, "model width C (MLP width 4C)")->check(CLI::PositiveNumber);
  cmd->add_option("--vocab", vocab, "vocabulary for cross-entropy")->check(CLI::PositiveNumber);
  cmd->add_option("--ce-rows", ce_rows, "rows for cross-entropy")->check(CLI::PositiveNumber);
  cmd->callback([] {
    const int64_t n = rows, h = 4 * c;
    auto x = filled(n * c, 1), y = filled(n * c, 2), dx = filled(n * c, 3), dy = filled(n * c, 4);
    auto hid = filled(n * h, 5), dhid = filled(n * h, 6);
    auto w = filled(h * c, 7, 0.02f), dw = filled(h * c, 8), bias = filled(h, 9), dbias = filled(h, 10);
    auto lnw = filled(c, 11), lnb = filled(c, 12), dlnw = filled(c, 13), dlnb = filled(c, 14);
    std::vector<float> mean(static_cast<size_t>(n)), rstd(static_cast<size_t>(n));
    auto wte = filled(vocab * c, 15), dwte = filled(vocab * c, 16), wpe = filled(n * c, 17), dwpe = filled(n * c, 18);
    std::vector<int32_t> tok(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) tok[static_cast<size_t>(i)] = static_cast<int32_t>((i * 7919) % vocab);
    auto logits = filled(ce_rows * vocab, 19, 2.f), dlogits = filled(ce_rows * vocab, 20);
    std::vector<float> losses(static_cast<size_t>(ce_rows));
    auto m = filled(h * c, 21, 0.f), v = filled(h * c, 22, 0.f);
    const Tensor X(x.data(), {n, c}), Y(y.data(), {n, c}), DX(dx.data(), {n, c}), DY(dy.data(), {n, c});
    const Tensor HID(hid.data(), {n, h}), DHID(dhid.data(), {n, h}), W(w.data(), {h, c}), DW(dw.data(), {h, c});
    const Tensor B(bias.data(), {h}), DB(dbias.data(), {h}), LW(lnw.data(), {c}), LB(lnb.data(), {c});
    const Tensor DLW(dlnw.data(), {c}), DLB(dlnb.data(), {c}), MEAN(mean.data(), {n}), RSTD(rstd.data(), {n});
    const Tensor WTE(wte.data(), {vocab, c}), DWTE(dwte.data(), {vocab, c});
    const Tensor WPE(wpe.data(), {n, c}), DWPE(dwpe.data(), {n, c});
    const Tensor LOG(logits.data(), {ce_rows, vocab}), DLOG(dlogits.data(), {ce_rows, vocab});
    const Tensor LOSS(losses.data(), {ce_rows}), M(m.data(), {h, c}), V(v.data(), {h, c});
    ops::layernorm_forward(Y, MEAN, RSTD, X, LW, LB);
    const double f = 4.0, nc = static_cast<double>(n * c), nh = static_cast<double>(n * h);
    const double lin = 2.0 * static_cast<double>(n) * static_cast<double>(h) * static_cast<double>(c);
    const double ce = static_cast<double>(ce_rows * vocab);
    ops::AdamWParams hp;
    const std::vector<Row> table = {
        {"sgemm alone (same shape)",
         [&] { cpu::sgemm(false, true, n, h, c, 1.f, x.data(), c, w.data(), c, 0.f, hid.data(), h); }, 0, lin},
        {"linear fwd (C→4C)", [&] { ops::linear_forward(HID, X, W, B); }, 0, lin},
        {"linear bwd (C→4C)", [&] { ops::linear_backward(DX, DW, DB, DHID, X, W); }, 0, 2 * lin},
        {"layernorm fwd", [&] { ops::layernorm_forward(Y, MEAN, RSTD, X, LW, LB); }, 2 * f * nc, 0},
        {"layernorm bwd", [&] { ops::layernorm_backward(DX, DLW, DLB, DY, X, LW, MEAN, RSTD); }, 5 * f * nc, 0},
        {"residual+layernorm fwd", [&] { ops::residual_layernorm_forward(DX, Y, MEAN, RSTD, X, DY, LW, LB); },
         4 * f * nc, 0},
        {"gelu fwd (4C)", [&] { ops::gelu_forward(DHID, HID); }, 2 * f * nh, 0},
        {"gelu bwd (4C)", [&] { ops::gelu_backward(DHID, DHID, HID); }, 3 * f * nh, 0},
        {"add", [&] { ops::add_forward(Y, X, DY); }, 3 * f * nc, 0},
        {"embedding fwd (+wpe)",
         [&] {
           ops::embedding_forward(Y.reshape({1, n, c}), tok.data(), WTE, WPE);
         },
         3 * f * nc, 0},
        {"embedding bwd (+wpe)",
         [&] {
           ops::embedding_backward(DWTE, DWPE, DY.reshape({1, n, c}), tok.data());
         },
         5 * f * nc, 0},
        {"cross-entropy fwd", [&] { ops::cross_entropy_forward(LOSS, LOG, tok.data()); }, f * ce, 0},
        {"cross-entropy bwd", [&] { ops::cross_entropy_backward(DLOG, LOG, tok.data(), 1.f / 256); }, 2 * f * ce, 0},
        {"cross-entropy fwd+bwd fused", [&] { ops::cross_entropy_forward_backward(LOSS, DLOG, LOG, tok.data()); },
         2 * f * ce, 0},
        {"adamw (4C·C params)", [&] { ops::adamw_update(W, DW, M, V, hp); }, 7 * f * static_cast<double>(h * c), 0},
        {"sum_squares (4C·C)", [&] { ops::sum_squares(DW); }, f * static_cast<double>(h * c), 0},
    };
    const int all = cpu_info().threads;
    fmt::print("rows {} C {} (MLP {}), CE {}x{}; threads 1 vs {}; median of {}\n", n, c, h, ce_rows, vocab, all, reps);
    fmt::print("{:<28} {:>9} {:>9} {:>8} {:>10}\n", "op", "ms (1t)", fmt::format("ms ({}t)", all), "speedup",
               "GB/s|GFLOP/s");
    for (const Row& r : table) {
      omp_set_num_threads(1);
      const double t1 = median_seconds(r.fn, reps);
      omp_set_num_threads(all);
      const double tn = median_seconds(r.fn, reps);
      const double rate = r.flops > 0 ? r.flops / tn * 1e-9 : r.bytes / tn * 1e-9;
      fmt::print("{:<28} {:>9.3f} {:>9.3f} {:>7.2f}x {:>8.1f} {}\n", r.name, t1 * 1e3, tn * 1e3, t1 / tn, rate,
                 r.flops > 0 ? "GFLOP/s" : "GB/s");
    }
  });
}

}  // namespace goat::cli
