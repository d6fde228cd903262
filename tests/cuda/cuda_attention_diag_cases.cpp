// Attention-diagnostics cases of the CUDA op-case table: the forward with every diagnostic
// requested (entropy, sink mass, p_max, KL, ω, ops/attention.h) on the CUDA backend against the CPU
// kernel's, with the table's rule (cuda_case.h: fp32 floor; bf16 ≤ 3² × the plain bf16
// reference's NMSE). Shapes: causal with grouped kv heads and the prior hook; Tq < Tk with prior
// lanes (content_dim < D, so KL's prior ℓ includes lanes and ω only content); non-causal without a
// prior; and D = 64 with T = 70 (bf16: the fused flash forward, tile remainder) — the diagnostics
// pass runs after either forward. o and lse are compared too (unchanged by the pass).
// The op's diagnostics arrays are host memory on both devices: the run stages them in host
// vectors and copies them into the case's (device) output tensors.
#include <cmath>
#include <cstring>

#include "backend/cuda/cuda_ops.h"
#include "cuda_case.h"
#include "ops/attention.h"

namespace goat::cuda_test {

namespace {

struct Dims {
  int64_t b, h, hkv, tq, tk, d, content;
  bool causal, prior;
};

constexpr const char* kDiagNames[] = {"entropy", "sink_mass", "p_max", "kl", "omega"};

// Args: q, k, v, slope, key_bias, o, lse, then the five diagnostics (B, H, Tq).
CudaCase make_diag_case(const std::string& name, Dims m) {
  CudaCase c;
  c.name = "attention_diagnostics/" + name;
  c.args = attention_forward_args(m.b, m.h, m.hkv, m.tq, m.tk, m.d);
  for (const char* n : kDiagNames) c.args.push_back({n, {m.b, m.h, m.tq}, Kind::f32, Role::out});
  c.reduction = std::max(m.tk, m.d);
  const float scale = 1.f / std::sqrt(static_cast<float>(m.d));
  c.run = [m, scale](const CaseEnv& e) {
    ops::AttentionArgs a;
    a.q = e.t[0], a.k = e.t[1], a.v = e.t[2], a.o = e.t[5], a.lse = e.t[6];
    a.scale = scale;
    a.causal = m.causal;
    if (m.prior) a.prior.slope = e.t[3].f32(), a.prior.key_bias = e.t[4].f32();
    const size_t rows = static_cast<size_t>(m.b * m.h * m.tq);
    std::vector<float> host(5 * rows);
    a.diag.entropy = host.data(), a.diag.sink_mass = host.data() + rows, a.diag.p_max = host.data() + 2 * rows;
    a.diag.kl = host.data() + 3 * rows, a.diag.omega = host.data() + 4 * rows;
    a.diag.content_dim = m.content;
    // The random key bias differs per batch row, so ℓ is not shared over the batch (the CUDA
    // pass computes logZπ per row either way).
    a.diag.prior_shared_over_batch = false;
    ops::attention_forward(a);
    for (int s = 0; s < 5; ++s) {
      const Tensor& t = e.t[7 + static_cast<size_t>(s)];
      if (t.device == Device::cuda)
        cuda::copy_to_device(t.data, host.data() + s * rows, rows * sizeof(float));
      else
        std::memcpy(t.data, host.data() + s * rows, rows * sizeof(float));
    }
    return 0.0;
  };
  return c;
}

}  // namespace

std::vector<CudaCase> make_attention_diag_cases() {
  return {make_diag_case("causal_gqa_prior", {2, 2, 1, 9, 9, 8, 0, true, true}),
          make_diag_case("lanes_tq_lt_tk", {1, 2, 2, 5, 12, 16, 10, true, true}),
          make_diag_case("noncausal_noprior", {1, 1, 1, 7, 7, 5, 0, false, false}),
          make_diag_case("d64_t70_lanes", {1, 4, 2, 70, 70, 64, 56, true, true})};
}

}  // namespace goat::cuda_test
