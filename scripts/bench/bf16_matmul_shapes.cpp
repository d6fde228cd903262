// Probe (not part of the build): oneDNN bf16 matmul variants on the linear-layer GEMMs of a
// transformer with N = B·T rows and width C (default cpu-d256: N 4096, C 256), one thread, CPU
// clock, median of 11 runs with a 64 MiB cache flush before each. Per shape (forward in·wᵀ + bias,
// d_in = d_out·w, d_w = d_outᵀ·in) it times: C written f32 (what the linear layers use for outputs
// consumed in fp32), C written bf16 (outputs consumed only by GEMMs/GELU), and B in oneDNN's
// preferred blocked layout (format_tag::any, the weight pre-packed) instead of plain row-major.
//   g++ -O2 -std=c++20 scripts/bench/bf16_matmul_shapes.cpp -o /tmp/bf16_matmul_shapes -ldnnl
//   OMP_NUM_THREADS=1 /tmp/bf16_matmul_shapes [N C]
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <unordered_map>
#include <vector>

using namespace dnnl;
using dt = memory::data_type;

namespace {
double cpu_now() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}
engine eng(engine::kind::cpu, 0);
stream strm(eng);

// op(X) (r, c) of a row-major bf16 matrix stored (r, c), or (c, r) when trans
memory::desc view(int64_t r, int64_t c, bool trans) {
  return memory::desc({r, c}, dt::bf16, trans ? memory::dims{1, r} : memory::dims{c, 1});
}

double run(int64_t m, int64_t n, int64_t k, bool ta, bool tb, dt dst, bool packed_b, bool bias) {
  const memory::desc a = view(m, k, ta);
  const memory::desc b = packed_b ? memory::desc({k, n}, dt::bf16, memory::format_tag::any) : view(k, n, tb);
  const memory::desc c({m, n}, dst, memory::dims{n, 1});
  const memory::desc bd = bias ? memory::desc({1, n}, dt::f32, memory::dims{n, 1}) : memory::desc();
  const matmul::primitive_desc pd(bias ? matmul::desc(a, b, bd, c) : matmul::desc(a, b, c), primitive_attr(), eng);
  const matmul mm(pd);
  memory A(a, eng), B(pd.weights_desc(), eng), C(c, eng), Bias(bd, eng);
  auto* ap = static_cast<uint16_t*>(A.get_data_handle());
  auto* bp = static_cast<uint16_t*>(B.get_data_handle());
  std::fill(ap, ap + m * k, 0x3f00);
  std::fill(bp, bp + pd.weights_desc().get_size() / 2, 0x3e80);
  static std::vector<float> flush(16 << 20);
  std::vector<double> ts;
  for (int r = 0; r < 11; ++r) {
    for (size_t i = 0; i < flush.size(); i += 16) flush[i] += 1;
    const double t0 = cpu_now();
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, A}, {DNNL_ARG_WEIGHTS, B}, {DNNL_ARG_DST, C}};
    if (bias) args.emplace(DNNL_ARG_BIAS, Bias);
    mm.execute(strm, args);
    strm.wait();
    ts.push_back(cpu_now() - t0);
  }
  std::sort(ts.begin(), ts.end());
  return ts[ts.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  const int64_t N = argc > 1 ? std::atoll(argv[1]) : 4096, C = argc > 2 ? std::atoll(argv[2]) : 256;
  struct Layer {
    const char* name;
    int64_t cin, cout;
  };
  const Layer layers[] = {{"in_proj", C, 3 * C}, {"out_proj", C, C}, {"c_fc", C, 4 * C}, {"c_proj", 4 * C, C}};
  std::printf("%-9s %-8s %5s %5s %5s | %8s %8s %8s | GFLOP/s f32 C\n", "layer", "gemm", "m", "n", "k", "f32 C",
              "bf16 C", "packed B");
  for (const Layer& l : layers) {
    struct G {
      const char* what;
      int64_t m, n, k;
      bool ta, tb, bias;
    };
    const G gs[] = {{"forward", N, l.cout, l.cin, false, true, true},
                    {"d_in", N, l.cin, l.cout, false, false, false},
                    {"d_w", l.cout, l.cin, N, true, false, false}};
    for (const G& g : gs) {
      const double f = run(g.m, g.n, g.k, g.ta, g.tb, dt::f32, false, g.bias);
      const double h = run(g.m, g.n, g.k, g.ta, g.tb, dt::bf16, false, g.bias);
      const double p = g.ta ? 0.0 : run(g.m, g.n, g.k, g.ta, g.tb, dt::f32, true, g.bias);
      std::printf("%-9s %-8s %5ld %5ld %5ld | %6.2fms %6.2fms %6.2fms | %6.0f\n", l.name, g.what, g.m, g.n, g.k, f * 1e3,
                  h * 1e3, p * 1e3, 2.0 * static_cast<double>(g.m * g.n * g.k) / f * 1e-9);
    }
  }
}
