// CUDA kernel benchmark (not a test; run by scripts/bench_gpu.sh): times the backend's kernels at
// GPT-2 124M training shapes (B·T = 8192 rows, C = 768, V = 50257, 124M parameters) and prints
// milliseconds, achieved GB/s (bytes each kernel must move, counted by hand below) or GFLOP/s, and
// the fraction of a peak given on the command line. Usage: bench_cuda_ops [peak_GBs=3350]
// [peak_TFLOPs=989] [scale=1]; scale < 1 shrinks every shape (e.g. 0.01 under the emulation,
// where the figures measure the emulator, not a GPU).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "backend/cuda/cuda_ops.h"
#include "bench_util.h"
#include "core/device_info.h"

namespace {

using goat::DType;
namespace cuda = goat::cuda;

using goat::cuda_bench::Dev;
using goat::cuda_bench::time_ms;

}  // namespace

int main(int argc, char** argv) {
  const double peak_gbs = argc > 1 ? std::atof(argv[1]) : 3350.0;
  const double peak_tflops = argc > 2 ? std::atof(argv[2]) : 989.0;
  const double scale = argc > 3 ? std::atof(argv[3]) : 1.0;
  std::printf("device: %s\n", goat::cuda_status().c_str());
  if (!cuda::built() || cuda::device_count() == 0) {
    std::printf("no CUDA device: nothing to measure\n");
    return 77;
  }
  auto sz = [&](int64_t x) { return std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(x) * scale)); };
  const int64_t n = sz(8192), c = 768, v = 50257, params = sz(124'000'000);
  std::printf("%-36s %10s %12s %8s\n", "kernel (bf16 activations)", "ms", "GB/s|TFLOP/s", "of peak");
  auto row_bw = [&](const char* name, double ms, double bytes) {
    const double gbs = bytes / ms / 1e6;
    std::printf("%-36s %10.3f %12.1f %7.1f%%\n", name, ms, gbs, 100.0 * gbs / peak_gbs);
  };
  auto row_fl = [&](const char* name, double ms, double flops) {
    const double tf = flops / ms / 1e9;
    std::printf("%-36s %10.3f %12.1f %7.1f%%\n", name, ms, tf, 100.0 * tf / peak_tflops);
  };
  {
    Dev x(n * c * 2), y(n * c * 2), w(c * 2), b(c * 2), mean(n * 4), rstd(n * 4);
    const double ms = time_ms([&] {
      cuda::layernorm_forward(y.p, mean.as<float>(), rstd.as<float>(), x.p, w.p, b.p, nullptr, nullptr, nullptr, n, c,
                              1e-5f, DType::bf16);
    });
    row_bw("layernorm_forward (N, 768)", ms, 2.0 * n * c * 2 + 8.0 * n);
    Dev dx(n * c * 2), dw(c * 4), db(c * 4);
    const double msb = time_ms([&] {
      cuda::layernorm_backward(dx.p, dw.as<float>(), db.as<float>(), y.p, x.p, w.p, mean.as<float>(), rstd.as<float>(),
                               n, c, DType::bf16);
    });
    row_bw("layernorm_backward (N, 768)", msb, 3.0 * n * c * 2 + 2.0 * n * c * 2);
  }
  {
    Dev x(n * 4 * c * 2), y(n * 4 * c * 2);
    const double ms = time_ms([&] { cuda::gelu_forward(y.p, x.p, n * 4 * c, DType::bf16); });
    row_bw("gelu_forward (N, 3072)", ms, 2.0 * n * 4 * c * 2);
  }
  {
    Dev p(params * 4), g(params * 4), m(params * 4), vv(params * 4), pb(params * 2);
    const cuda::AdamWStep s{3e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.f, 0.1f, 0.05f};
    const double ms = time_ms([&] {
      cuda::adamw_update(p.as<float>(), g.as<float>(), m.as<float>(), vv.as<float>(), pb.as<goat::bf16>(), params, s);
    });
    row_bw("adamw (124M params, bf16 copy)", ms, 30.0 * params);
    const double ms2 = time_ms([&] { (void)cuda::sum_squares(g.as<float>(), params); });
    row_bw("sum_squares (124M)", ms2, 4.0 * params);
  }
  {
    const int64_t rows = sz(1024);
    Dev logits(rows * v * 2), losses(rows * 4), tg(rows * 4);
    const double ms = time_ms([&] {
      (void)cuda::cross_entropy(losses.as<float>(), logits.p, logits.p, tg.as<int32_t>(), rows, v, 1.f, -1, DType::bf16);
    });
    row_bw("cross_entropy fwd+bwd (rows, 50257)", ms, 2.0 * rows * v * 2);
  }
  {
    Dev a(n * c * 2), w(4 * c * c * 2), out(n * 4 * c * 2);
    const double ms = time_ms([&] {
      cuda::gemm(false, true, n, 4 * c, c, 1.f, a.p, c, w.p, c, 0.f, out.p, 4 * c, DType::bf16, DType::bf16);
    });
    row_fl("gemm N x 3072 x 768 (cuBLASLt)", ms, 2.0 * n * 4 * c * c);
  }
  {
    const int64_t b = std::max<int64_t>(1, sz(8)), h = 12, t = 1024, d = 64;
    Dev q(b * h * t * d * 2), k(b * h * t * d * 2), vv(b * h * t * d * 2), o(b * h * t * d * 2), lse(b * h * t * 4);
    cuda::AttentionDesc a;
    a.q = q.p, a.k = k.p, a.v = vv.p, a.o = o.p, a.lse = lse.as<float>();
    for (auto* s : {a.q_s, a.k_s, a.v_s, a.o_s}) s[0] = h * t * d, s[1] = t * d, s[2] = d;
    a.B = b, a.H = h, a.Hkv = h, a.Tq = t, a.Tk = t, a.D = d, a.scale = 0.125f;
    const double ms = time_ms([&] { cuda::attention_forward(a, DType::bf16); }, 3);
    row_fl("attention_forward (simple kernel)", ms, 2.0 * b * h * t * t * d);
  }
  return 0;
}
