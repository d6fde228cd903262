// Probe (not part of the build): oneDNN's sgemm vs its f32 matmul primitive on the linear-layer
// GEMMs of a transformer with N = B·T rows and width C (default cpu-d256: N 4096, C 256, vocab
// 256), median of 15 runs with a 64 MiB cache flush before each, the variants interleaved per run.
// Per layer (qkv, out_proj, c_fc, c_proj, lm head) it times the forward out = in·wᵀ + bias (sgemm:
// bias fill, then beta = 1, as goatlm did; matmul: the bias argument), d_in = d_out·w, and d_w
// (+= d_outᵀ·in, beta 1: sgemm's beta, the matmul's sum post-op) in both orientations (d_wT:
// the transposed product (Cin, Cout) that linear.cpp computes when Cout > Cin). "packed" is the
// matmul with B in oneDNN's preferred blocked layout (format_tag::any; the reorder not timed).
//   g++ -O2 -std=c++20 -fopenmp scripts/bench/fp32_gemm_shapes.cpp -o /tmp/fp32_gemm_shapes -ldnnl
//   OMP_NUM_THREADS=1 /tmp/fp32_gemm_shapes [N C]       (CPU clock; WALL=1 for wall clock)
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

using namespace dnnl;
using dt = memory::data_type;

namespace {
const bool use_wall = getenv("WALL") != nullptr;
double now() {
  timespec t;
  clock_gettime(use_wall ? CLOCK_MONOTONIC : CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}
engine eng(engine::kind::cpu, 0);
stream strm(eng);
constexpr int kReps = 15;

memory::desc view(int64_t r, int64_t c, bool trans) {
  return memory::desc({r, c}, dt::f32, trans ? memory::dims{1, r} : memory::dims{c, 1});
}

using Buf = std::shared_ptr<std::vector<float>>;
Buf buf(int64_t n, float v) { return std::make_shared<std::vector<float>>(static_cast<size_t>(n), v); }

enum Variant { kSgemm, kMatmul, kPacked };

// One GEMM C (m, n) = op(A) op(B) [+ bias] [+ beta·C] as a callable.
std::function<void()> make(int64_t m, int64_t n, int64_t k, bool ta, bool tb, float beta, bool bias, Variant v) {
  Buf A = buf(m * k, 0.5f), B = buf(k * n, 0.25f), C = buf(m * n, 0.f), Bi = buf(n, 0.1f);
  if (v == kSgemm)
    return [=] {
      if (bias)
        for (int64_t r = 0; r < m; ++r) std::copy(Bi->begin(), Bi->end(), C->begin() + r * n);
      dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1.f, A->data(), ta ? m : k, B->data(), tb ? k : n,
                 bias ? 1.f : beta, C->data(), n);
    };
  const memory::desc a = view(m, k, ta), c({m, n}, dt::f32, memory::dims{n, 1});
  const memory::desc b = v == kPacked ? memory::desc({k, n}, dt::f32, memory::format_tag::any) : view(k, n, tb);
  const memory::desc bd = bias ? memory::desc({1, n}, dt::f32, memory::dims{n, 1}) : memory::desc();
  primitive_attr attr;
  if (beta != 0.f) {
    post_ops po;
    po.append_sum(beta);
    attr.set_post_ops(po);
  }
  const matmul::primitive_desc pd(bias ? matmul::desc(a, b, bd, c) : matmul::desc(a, b, c), attr, eng);
  memory Bm(pd.weights_desc(), eng);
  std::fill_n(static_cast<float*>(Bm.get_data_handle()), pd.weights_desc().get_size() / 4, 0.25f);
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, memory(a, eng, A->data())}, {DNNL_ARG_WEIGHTS, Bm}, {DNNL_ARG_DST, memory(c, eng, C->data())}};
  if (bias) args.emplace(DNNL_ARG_BIAS, memory(bd, eng, Bi->data()));
  const matmul mm(pd);
  return [=] {
    (void)A, (void)C, (void)Bi;  // kept alive with the primitive
    mm.execute(strm, args);
    strm.wait();
  };
}

// Median ms of each variant, the variants run alternately.
std::vector<double> compare(int64_t m, int64_t n, int64_t k, bool ta, bool tb, float beta, bool bias,
                            std::vector<Variant> vs) {
  static std::vector<float> flush(16 << 20);
  std::vector<std::function<void()>> fs;
  for (Variant v : vs) fs.push_back(make(m, n, k, ta, tb, beta, bias, v));
  for (auto& f : fs) f();  // warm-up
  std::vector<std::vector<double>> ts(fs.size());
  for (int r = 0; r < kReps; ++r)
    for (size_t i = 0; i < fs.size(); ++i) {
      for (size_t j = 0; j < flush.size(); j += 16) flush[j] += 1;
      const double t0 = now();
      fs[i]();
      ts[i].push_back(now() - t0);
    }
  std::vector<double> med;
  for (auto& t : ts) {
    std::sort(t.begin(), t.end());
    med.push_back(t[t.size() / 2] * 1e3);
  }
  return med;
}

void row(const char* layer, const char* gemm, int64_t m, int64_t n, int64_t k, const std::vector<double>& t) {
  std::printf("| %s | %s | %ld×%ld×%ld |", layer, gemm, m, n, k);
  for (double x : t) std::printf(" %.2f |", x);
  if (t.size() < 3) std::printf(" – |");
  std::printf("\n");
}
}  // namespace

int main(int argc, char** argv) {
  const int64_t N = argc > 1 ? std::atoll(argv[1]) : 4096, C = argc > 2 ? std::atoll(argv[2]) : 256, V = 256;
  struct Layer {
    const char* name;
    int64_t cout, cin;
  } layers[] = {{"qkv", 3 * C, C}, {"out_proj", C, C}, {"c_fc", 4 * C, C}, {"c_proj", C, 4 * C}, {"lm head", V, C}};
  std::printf("%d threads, N %ld, C %ld, %s ms, median of %d\n\n", omp_get_max_threads(), N, C,
              use_wall ? "wall" : "CPU", kReps);
  std::printf("| layer | GEMM | m×n×k | sgemm | matmul | matmul, packed B |\n|---|---|---|---:|---:|---:|\n");
  for (const Layer& l : layers) {
    row(l.name, "fwd", N, l.cout, l.cin, compare(N, l.cout, l.cin, false, true, 0.f, true, {kSgemm, kMatmul, kPacked}));
    row(l.name, "d_in", N, l.cin, l.cout,
        compare(N, l.cin, l.cout, false, false, 0.f, false, {kSgemm, kMatmul, kPacked}));
    row(l.name, "d_w", l.cout, l.cin, N, compare(l.cout, l.cin, N, true, false, 1.f, false, {kSgemm, kMatmul}));
    row(l.name, "d_wT", l.cin, l.cout, N, compare(l.cin, l.cout, N, true, false, 1.f, false, {kSgemm, kMatmul}));
  }
}
