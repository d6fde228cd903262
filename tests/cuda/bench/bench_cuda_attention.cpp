// Attention benchmark on a GPU (not a test; run by scripts/bench_gpu.sh): the CUDA attention op
// (the fused flash kernels for bf16, d = 64) at B = 8, H = 12, d = 64, causal, T = 1k..16k, with
// the prior none (plain softmax attention), alibi (recency slope) and goat (slope + key bias u(j);
// GOAT's relative lanes live inside the 64 dims of q/k, so they cost nothing extra here). Prints
// forward and forward+backward TFLOP/s with the FLOPs of ops::attention_forward_flops (causal
// half; backward 2.5× forward). Usage: bench_cuda_attention [max_T=16384] [reps=5] [min_T=1024] [B=8]
// (small min_T and B smoke-test it under the emulation, where the figures measure the emulator).
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
  const int64_t h = 12, d = 64;
  std::printf("%-6s %6s %12s %12s %14s %14s\n", "prior", "T", "fwd ms", "fwd TFLOP/s", "fwd+bwd ms", "f+b TFLOP/s");
  for (int64_t t = min_t; t <= max_t; t *= 2) {
    const size_t act = static_cast<size_t>(b * h * t * d) * 2, rows = static_cast<size_t>(b * h * t) * 4;
    Dev q(act), k(act), v(act), o(act), d_o(act), dq(act), dk(act), dv(act), lse(rows);
    Dev slope(static_cast<size_t>(h) * 4), kb(rows), d_slope(static_cast<size_t>(h) * 4), d_kb(rows);
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
      const double fwd = time_ms([&] { cuda::attention_forward(a, DType::bf16); }, reps);
      const double both = time_ms([&] {
        cuda::attention_forward(a, DType::bf16);
        cuda::attention_backward(a, DType::bf16);
      }, reps);
      const double flops = goat::ops::attention_forward_flops(b, h, t, t, d, true);
      std::printf("%-6s %6lld %12.3f %12.1f %14.3f %14.1f\n", prior, static_cast<long long>(t), fwd, flops / fwd / 1e9,
                  both, 3.5 * flops / both / 1e9);
    }
  }
  return 0;
}
