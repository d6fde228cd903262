// Attention benchmark on a GPU (not a test; run by scripts/bench_gpu.sh): the CUDA attention op
// (the fused flash kernels for bf16, d = 64) at B = 8, H = 12, d = 64, causal, T = 1k..16k, with
// the prior none (plain softmax attention), alibi (recency slope) and goat as the GOAT model runs
// it (gpt2-124m.json: R = 4 relative lanes built inside the kernel from (a, b) per head into the
// last 2R + 1 dims of q/k, content dims 55, plus the recency slope and the key bias u(j); the
// backward also produces ∂a, ∂b). Prints forward and forward+backward TFLOP/s with the FLOPs of
// ops::attention_forward_flops (causal half; backward 2.5× forward; the same count for every
// prior, as for the peer), each prior's throughput as % of none's, and per T whether goat is
// within 10% of none (the target) in both columns.
// Usage: bench_cuda_attention [max_T=16384] [reps=5] [min_T=1024] [B=8]
// (small min_T and B smoke-test it under the emulation, where the figures measure the emulator).
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "backend/cuda/cuda_ops.h"
#include "bench_util.h"
#include "core/device_info.h"
#include "ops/attention.h"

int main(int argc, char** argv) {
  using goat::DType;
  using goat::cuda_bench::Dev;
  using goat::cuda_bench::time_ms;
  namespace cuda = goat::cuda;
  const int64_t max_t = argc > 1 ? std::atoll(argv[1]) : 16384;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 5;
  const int64_t min_t = argc > 3 ? std::atoll(argv[3]) : 1024, b = argc > 4 ? std::atoll(argv[4]) : 8;
  std::printf("device: %s\n", goat::cuda_status().c_str());
  if (!cuda::built() || cuda::device_count() == 0) {
    std::printf("no CUDA device: nothing to measure\n");
    return 77;
  }
  const int64_t h = 12, d = 64, R = 4;
  std::printf("%-10s %6s %12s %12s %14s %14s %9s %9s\n", "prior", "T", "fwd ms", "fwd TFLOP/s", "fwd+bwd ms",
              "f+b TFLOP/s", "fwd/none", "f+b/none");
  for (int64_t t = min_t; t <= max_t; t *= 2) {
    const size_t act = static_cast<size_t>(b * h * t * d) * 2, rows = static_cast<size_t>(b * h * t) * 4;
    const size_t per_head = static_cast<size_t>(h) * 4, lanes = static_cast<size_t>(h * R) * 4;
    Dev q(act), k(act), v(act), o(act), d_o(act), dq(act), dk(act), dv(act), lse(rows);
    Dev slope(per_head), kb(rows), d_slope(per_head), d_kb(rows), lane_ab(2 * lanes), d_lane_ab(2 * lanes);
    double none_fwd = 0, none_both = 0, ratio_fwd = 0, ratio_both = 0;
    for (const char* prior : {"none", "alibi", "goat"}) {
      cuda::AttentionDesc a;
      a.q = q.p, a.k = k.p, a.v = v.p, a.o = o.p, a.lse = lse.as<float>();
      for (auto* s : {a.q_s, a.k_s, a.v_s, a.o_s, a.do_s, a.dq_s, a.dk_s, a.dv_s})
        s[0] = h * t * d, s[1] = t * d, s[2] = d;
      a.B = b, a.H = h, a.Hkv = h, a.Tq = t, a.Tk = t, a.D = d, a.scale = 0.125f, a.causal = true;
      const bool recency = prior[0] != 'n', bias = prior[0] == 'g';
      a.slope = recency ? slope.as<const float>() : nullptr;
      a.key_bias = bias ? kb.as<const float>() : nullptr;
      a.d_o = d_o.p, a.dq = dq.p, a.dk = dk.p, a.dv = dv.p;
      a.d_slope = recency ? d_slope.as<float>() : nullptr;
      a.d_key_bias = bias ? d_kb.as<float>() : nullptr;
      if (bias) {  // GOAT's lanes in the kernel; the scale applies to the content dims
        a.lanes = true, a.lane_R = R, a.lane_dc = d - 2 * R - 1;
        a.lane_a = lane_ab.as<const float>(), a.lane_b = a.lane_a + h * R;
        a.d_lane_a = d_lane_ab.as<float>(), a.d_lane_b = a.d_lane_a + h * R;
        a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(a.lane_dc)));
      }
      const int64_t calls0 = cuda::attention_flash_calls();
      const double fwd = time_ms([&] { cuda::attention_forward(a, DType::bf16); }, reps);
      const double both = time_ms([&] {
        cuda::attention_forward(a, DType::bf16);
        cuda::attention_backward(a, DType::bf16);
      }, reps);
      if (cuda::attention_flash_calls() - calls0 != 3 * (reps + 1)) {  // time_ms: a warm-up call + reps
        std::printf("%s: the attention calls did not all run the fused flash kernels\n", prior);
        return 1;
      }
      const double flops = goat::ops::attention_forward_flops(b, h, t, t, d, true);
      if (prior[0] == 'n') none_fwd = fwd, none_both = both;
      ratio_fwd = none_fwd / fwd, ratio_both = none_both / both;  // throughput relative to none
      std::printf("%-10s %6lld %12.3f %12.1f %14.3f %14.1f %8.1f%% %8.1f%%\n", prior, static_cast<long long>(t), fwd,
                  flops / fwd / 1e9, both, 3.5 * flops / both / 1e9, 100 * ratio_fwd, 100 * ratio_both);
    }
    std::printf("goat within 10%% of none at T=%lld: %s\n", static_cast<long long>(t),
                ratio_fwd >= 0.9 && ratio_both >= 0.9 ? "yes" : "no");
  }
  return 0;
}
