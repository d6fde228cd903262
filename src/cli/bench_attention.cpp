// `goatlm bench attention [--prior goat|alibi|none] [--diag]`: forward and backward time and
// GFLOP/s of the CPU attention kernel over a sweep of shapes, side by side with the measured
// sgemm GFLOP/s. FLOPs counted as 4·B·H·Tq·Tk·D (× ½ causal) forward and 2.5× that backward.
// Priors: none (plain), alibi (slope), goat (the full GOAT layer side: GoatPosition::forward_qk and
// prior() — lanes, sink MLP — timed with the forward, backward_prior/backward_qk with the backward;
// R = M = 4, train_len = T). --diag turns on every in-kernel diagnostic (entropy, sink mass,
// p_max, KL, ω; content_dim = d_c for goat). --shape B H Hkv T D runs one shape instead of the sweep;
// --dtype bf16 times the bf16-product kernel (AMX) that dtype "bf16" training runs. Every shape
// runs twice, side by side: "tiled" (the tiled kernel forced) and "auto" (what training runs: the
// short-sequence path where it applies, attention_kernel.h).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/attention_kernel.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/gemm_bf16.h"
#include "cli/commands.h"
#include "core/cpu_info.h"
#include "core/op_profile.h"
#include "core/philox.h"
#include "model/position_goat.h"
#include "ops/attention.h"

namespace goat::cli {

namespace {

struct AttnShape {
  int64_t b, h, hkv, t, d;
};

// Wall clock, or with --clock cpu the process CPU time summed over threads (divided by the thread
// count): on a shared, oversubscribed machine that still measures the work the kernel does.
double now_seconds() { return profile_seconds(); }

// Median time of f(); setup() runs untimed before each call.
double median_seconds(const std::function<void()>& setup, const std::function<void()>& f, int reps) {
  setup();
  f();  // warm-up
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    setup();
    const double t0 = now_seconds();
    f();
    t.push_back(now_seconds() - t0);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct Buffers {
  std::vector<float> q, k, v, o, lse, dout, dq, dk, dv, slope, dslope, diag;
};

void bench_shape(const AttnShape& s, const std::string& prior, bool diag, int reps, double sgemm, const char* kernel) {
  Buffers m;
  const int64_t nq = s.b * s.h * s.t * s.d, nk = s.b * s.hkv * s.t * s.d, rows = s.b * s.h * s.t;
  const Rng rng(1, RngPurpose::test);
  auto fill = [&](std::vector<float>& x, int64_t n, uint64_t off) {
    x.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) x[i] = rng.normal(off + static_cast<uint64_t>(i));
  };
  fill(m.q, nq, 0), fill(m.k, nk, 1ull << 32), fill(m.v, nk, 2ull << 32), fill(m.dout, nq, 3ull << 32);
  m.o.resize(nq), m.lse.resize(rows), m.dq.resize(nq), m.dk.resize(nk), m.dv.resize(nk);
  m.slope.assign(s.hkv, 0.0625f), m.dslope.resize(s.hkv);
  m.diag.resize(5 * rows);

  ops::AttentionArgs a;
  a.q = Tensor(m.q.data(), {s.b, s.h, s.t, s.d});
  a.k = Tensor(m.k.data(), {s.b, s.hkv, s.t, s.d});
  a.v = Tensor(m.v.data(), {s.b, s.hkv, s.t, s.d});
  a.o = Tensor(m.o.data(), {s.b, s.h, s.t, s.d});
  a.lse = Tensor(m.lse.data(), {s.b, s.h, s.t});
  a.scale = 1.f / std::sqrt(static_cast<float>(s.d));
  ops::AttentionGrads g;
  const auto set_grads = [&] {
    g.dq = Tensor(m.dq.data(), {s.b, s.h, s.t, s.d});
    g.dk = Tensor(m.dk.data(), {s.b, s.hkv, s.t, s.d});
    g.dv = Tensor(m.dv.data(), {s.b, s.hkv, s.t, s.d});
  };
  set_grads();
  if (prior == "alibi") a.prior.slope = m.slope.data(), g.d_slope = m.dslope.data();
  // GOAT: the layer's position scheme with its parameters (seeded init).
  std::unique_ptr<PositionScheme> goat;
  Arena params, grads;
  if (prior == "goat") {
    GoatConfig c;
    c.train_len = s.t;
    goat = make_goat_position(c, AttentionShape{s.h, s.hkv, s.d, s.b, s.t});
    goat->declare(params, "h.0.attn.");
    params.allocate();
    grads = params.clone_layout();
    goat->init(params, Rng(1, RngPurpose::init));
    a.scale = goat->score_scale();
  }
  if (diag) {
    float* d = m.diag.data();
    a.diag.entropy = d, a.diag.sink_mass = d + rows, a.diag.p_max = d + 2 * rows, a.diag.kl = d + 3 * rows;
    a.diag.omega = d + 4 * rows;
    a.diag.content_dim = goat ? goat->content_dim() : 0;
    a.diag.prior_shared_over_batch = true;  // every prior here is batch-invariant
  }
  const Tensor dout(m.dout.data(), {s.b, s.h, s.t, s.d});
  const std::vector<float> q0 = m.q, k0 = m.k;
  const auto restore_qk = [&] { m.q = q0, m.k = k0; };  // forward_qk works in place
  const double tf = median_seconds(
      restore_qk,
      [&] {
        if (goat) {
          goat->forward_qk(a.q, a.k, 0, 0);
          a.prior = goat->prior(s.b, s.t, 0);
        }
        ops::attention_forward(a);
      },
      reps);
  const auto diag_saved = a.diag;
  a.diag = {};
  const double tb = median_seconds([] {},
                                   [&] {
                                     if (goat) {
                                       a.prior = goat->prior(s.b, s.t, 0);
                                       ops::AttentionGrads pg = goat->prior_grad_buffers();
                                       g.d_key_bias = pg.d_key_bias, g.d_slope = pg.d_slope;
                                     }
                                     ops::attention_backward(a, dout, g);
                                     if (goat) {
                                       goat->backward_prior(params, grads, s.b, s.t, 0);
                                       goat->backward_qk(g.dq, g.dk, 0, 0, grads);
                                     }
                                   },
                                   reps);
  a.diag = diag_saved;
  const double ff = ops::attention_forward_flops(s.b, s.h, s.t, s.t, s.d, true), fb = 2.5 * ff;
  const double gf = ff / tf * 1e-9, gb = fb / tb * 1e-9, gt = (ff + fb) / (tf + tb) * 1e-9;
  fmt::print("{:>6} {:>3} {:>3} {:>3} {:>6} {:>4} {:>9.2f} {:>9.1f} {:>9.2f} {:>9.1f} {:>9.2f} {:>9.1f} {:>7.1f}%\n",
             kernel, s.b, s.h, s.hkv, s.t, s.d, tf * 1e3, gf, tb * 1e3, gb, (tf + tb) * 1e3, gt, 100.0 * gt / sgemm);
}

}  // namespace

void register_bench_attention(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("attention", "causal attention forward/backward GFLOP/s vs sgemm");
  static std::string prior = "none";
  static bool diag = false;
  static int reps = 5;
  static int64_t only_t = 0;
  cmd->add_option("--prior", prior, "position prior in the kernel")->check(CLI::IsMember({"none", "alibi", "goat"}));
  cmd->add_flag("--diag", diag, "accumulate every in-kernel diagnostic");
  cmd->add_option("--reps", reps, "repetitions per shape (median reported)")->check(CLI::PositiveNumber);
  cmd->add_option("--t", only_t, "only shapes with this sequence length");
  static std::string dtype = "fp32";
  cmd->add_option("--dtype", dtype, "fp32, or bf16: bf16 products on AMX (dtype bf16's kernel)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  static std::vector<int64_t> shape;
  cmd->add_option("--shape", shape, "one shape instead of the sweep: B H Hkv T D (e.g. the training shapes)")
      ->expected(5);
  static std::string clock = "wall";
  cmd->add_option("--clock", clock, "wall, or cpu: process CPU time / threads (for a busy machine)")
      ->check(CLI::IsMember({"wall", "cpu"}));
  cmd->callback([] {
    set_profile_clock(clock == "cpu" ? ProfileClock::cpu : ProfileClock::wall);
    const cpu::GemmPrecisionScope precision(dtype == "bf16" ? cpu::GemmPrecision::bf16 : cpu::GemmPrecision::fp32);
    // sgemm n = 1024 with the same clock, median of 5.
    const int64_t n = 1024;
    std::vector<float> ga(n * n, 0.5f), gb(n * n, 0.25f), gc(n * n);
    const double sgemm =
        2.0 * n * n * n * 1e-9 /
        median_seconds(
            [] {}, [&] { cpu::sgemm(false, false, n, n, n, 1.f, ga.data(), n, gb.data(), n, 0.f, gc.data(), n); }, 5);
    fmt::print("attention bench: prior {}, diagnostics {}, threads {}, causal, {} products, {} clock\n", prior,
               diag ? "on" : "off", cpu_info().threads, dtype, clock);
    fmt::print("sgemm (n=1024): {:.1f} GFLOP/s\n", sgemm);
    fmt::print("{:>6} {:>3} {:>3} {:>3} {:>6} {:>4} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}\n", "kernel", "B", "H",
               "Hkv", "T", "D", "fwd ms", "fwd GF/s", "bwd ms", "bwd GF/s", "f+b ms", "f+b GF/s", "/sgemm");
    const std::vector<AttnShape> shapes = {{4, 8, 8, 256, 64},  {4, 8, 8, 512, 64},  {4, 8, 8, 1024, 64},
                                           {4, 8, 2, 1024, 64}, {2, 8, 8, 2048, 64}, {4, 4, 4, 1024, 128},
                                           {8, 4, 4, 1024, 32}};
    const auto both = [&](const AttnShape& s) {
      cpu::attn::set_short_path(false);
      bench_shape(s, prior, diag, reps, sgemm, "tiled");
      cpu::attn::set_short_path(true);
      bench_shape(s, prior, diag, reps, sgemm, "auto");
    };
    if (!shape.empty()) return both({shape[0], shape[1], shape[2], shape[3], shape[4]});
    for (const auto& s : shapes)
      if (only_t == 0 || s.t == only_t) both(s);
  });
}

}  // namespace goat::cli
