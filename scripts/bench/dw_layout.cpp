// Probe (not part of the build): the bf16 d_W GEMM d_W (cout, cin) += d_outᵀ · in (K = N tokens) on
// oneDNN in four operand layouts, interleaved per repetition (a 64 MiB cache flush before each
// call, operands 64-byte aligned, median of PROBE_REPS = 11, CPU and wall clock):
//   today   A = d_out (N, cout) row-major read as a strided (1, cout) view, B = in (N, cin)
//   preT    A = d_outᵀ stored (cout, N) row-major (what a producer pass could write)
//   swap    d_Wᵀ (cin, cout) = inᵀ · d_out into a scratch, beta 0, then added transposed into d_W
//           in 32 × 32 tiles (the add included in its time)
//   any     A and B in oneDNN's chosen formats (format_tag::any); the matmul alone
// plus, separately, the copies the layouts would cost: transposeA (d_out → d_outᵀ, a 32 × 32
// blocked scalar transpose, an upper bound for a fused producer), copyA (a memcpy of d_out: reads
// and writes the bytes a fused producer would only write, a rough bound the other way) and reorderAB (d_out, in → the
// 'any' formats). C is f32 with beta = 1 (oneDNN's sum post-op), as in linear.cpp.
//   g++ -O3 -std=c++20 -march=native -fopenmp scripts/bench/dw_layout.cpp -o /tmp/dw_layout -ldnnl
//   OMP_WAIT_POLICY=passive OMP_NUM_THREADS=2 /tmp/dw_layout [N C]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>
#include <vector>

using namespace dnnl;
using dt = memory::data_type;
using tag = memory::format_tag;

namespace {
double now(clockid_t c) {
  timespec t;
  clock_gettime(c, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}
engine eng(engine::kind::cpu, 0);
stream strm(eng);

template <class T>
T* aligned(size_t count) {
  const size_t bytes = (count * sizeof(T) + 63) / 64 * 64;
  return static_cast<T*>(std::aligned_alloc(64, bytes));
}

uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return static_cast<uint16_t>((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

matmul make(const memory::desc& a, const memory::desc& b, const memory::desc& c, float beta,
            matmul::primitive_desc* out_pd = nullptr) {
  primitive_attr attr;
  if (beta != 0.f) {
    post_ops po;
    po.append_sum(beta);
    attr.set_post_ops(po);
  }
  matmul::primitive_desc pd(matmul::desc(a, b, c), attr, eng);
  if (out_pd) *out_pd = pd;
  return matmul(pd);
}

void run_mm(matmul& mm, const memory::desc& ad, const memory::desc& bd, const memory::desc& cd, void* a, void* b,
            void* c) {
  memory A(ad, eng, a), B(bd, eng, b), C(cd, eng, c);
  mm.execute(strm, {{DNNL_ARG_SRC, A}, {DNNL_ARG_WEIGHTS, B}, {DNNL_ARG_DST, C}});
  strm.wait();
}

// dst (cols, rows) = src (rows, cols)ᵀ, bf16, 32 × 32 blocks, rows split over the OpenMP threads
void transpose_bf16(const uint16_t* src, int64_t rows, int64_t cols, uint16_t* dst) {
#pragma omp parallel for schedule(static)
  for (int64_t c0 = 0; c0 < cols; c0 += 32)
    for (int64_t r0 = 0; r0 < rows; r0 += 32)
      for (int64_t c = c0; c < std::min(c0 + 32, cols); ++c)
        for (int64_t r = r0; r < std::min(r0 + 32, rows); ++r) dst[c * rows + r] = src[r * cols + c];
}

// c (m, n) += s (n, m)ᵀ, fp32, 32 × 32 tiles
void add_transposed(const float* s, int64_t m, int64_t n, float* c) {
#pragma omp parallel for schedule(static)
  for (int64_t i0 = 0; i0 < m; i0 += 32)
    for (int64_t j0 = 0; j0 < n; j0 += 32)
      for (int64_t i = i0; i < std::min(i0 + 32, m); ++i)
        for (int64_t j = j0; j < std::min(j0 + 32, n); ++j) c[i * n + j] += s[j * m + i];
}
}  // namespace

int main(int argc, char** argv) {
  const int64_t N = argc > 1 ? std::atoll(argv[1]) : 4096, W = argc > 2 ? std::atoll(argv[2]) : 256;
  const int reps = std::getenv("PROBE_REPS") ? std::atoi(std::getenv("PROBE_REPS")) : 11;
  struct Shape {
    const char* name;
    int64_t cout, cin;
  };
  const Shape shapes[] = {
      {"in_proj", 3 * W, W}, {"out_proj", W, W}, {"c_fc", 4 * W, W}, {"c_proj", W, 4 * W}, {"lm_head", W, W}};
  std::vector<float> flush(16 << 20);
  const char* names[] = {"today", "preT", "swap", "any", "transposeA", "copyA", "reorderAB"};
  constexpr int nv = 7;
  std::printf("%-9s %5s %5s %5s |", "layer", "cout", "cin", "K");
  for (const char* n : names) std::printf(" %10s", n);
  std::printf("   (ms median, CPU clock; wall in brackets below)  max|preT-today| max|swap-today| max|any-today|\n");
  for (const Shape& s : shapes) {
    const int64_t m = s.cout, n = s.cin, k = N;
    uint16_t* dy = aligned<uint16_t>(k * m);   // (N, cout)
    uint16_t* dyt = aligned<uint16_t>(k * m);  // (cout, N)
    uint16_t* dy_copy = aligned<uint16_t>(k * m);
    uint16_t* x = aligned<uint16_t>(k * n);  // (N, cin)
    float* dw0 = aligned<float>(m * n);
    float* dws[4];
    for (auto& p : dws) p = aligned<float>(m * n);
    float* scratch = aligned<float>(m * n);
    srand(1);
    for (int64_t i = 0; i < k * m; ++i) dy[i] = to_bf16(static_cast<float>(rand() % 2001 - 1000) * 1e-4f);
    for (int64_t i = 0; i < k * n; ++i) x[i] = to_bf16(static_cast<float>(rand() % 2001 - 1000) * 1e-3f);
    for (int64_t i = 0; i < m * n; ++i) dw0[i] = static_cast<float>(rand() % 201 - 100) * 1e-2f;
    transpose_bf16(dy, k, m, dyt);

    const memory::desc a_today({m, k}, dt::bf16, memory::dims{1, m}), a_pret({m, k}, dt::bf16, memory::dims{k, 1});
    const memory::desc b_x({k, n}, dt::bf16, memory::dims{n, 1}), c_d({m, n}, dt::f32, memory::dims{n, 1});
    const memory::desc a_swap({n, k}, dt::bf16, memory::dims{1, n}), b_swap({k, m}, dt::bf16, memory::dims{m, 1});
    const memory::desc c_swap({n, m}, dt::f32, memory::dims{m, 1});
    matmul mm_today = make(a_today, b_x, c_d, 1.f), mm_pret = make(a_pret, b_x, c_d, 1.f),
           mm_swap = make(a_swap, b_swap, c_swap, 0.f);
    matmul::primitive_desc pd_any;
    matmul mm_any =
        make(memory::desc({m, k}, dt::bf16, tag::any), memory::desc({k, n}, dt::bf16, tag::any), c_d, 1.f, &pd_any);
    const memory::desc a_any = pd_any.src_desc(), b_any = pd_any.weights_desc();
    uint16_t* a_any_buf = aligned<uint16_t>(a_any.get_size() / 2 + 32);
    uint16_t* b_any_buf = aligned<uint16_t>(b_any.get_size() / 2 + 32);
    reorder ra(memory(a_today, eng, dy), memory(a_any, eng, a_any_buf));
    reorder rb(memory(b_x, eng, x), memory(b_any, eng, b_any_buf));
    auto reorder_ab = [&] {
      memory sa(a_today, eng, dy), da(a_any, eng, a_any_buf), sb(b_x, eng, x), db(b_any, eng, b_any_buf);
      ra.execute(strm, sa, da);
      rb.execute(strm, sb, db);
      strm.wait();
    };
    reorder_ab();

    const std::function<void()> runs[nv] = {
        [&] { run_mm(mm_today, a_today, b_x, c_d, dy, x, dws[0]); },
        [&] { run_mm(mm_pret, a_pret, b_x, c_d, dyt, x, dws[1]); },
        [&] {
          run_mm(mm_swap, a_swap, b_swap, c_swap, x, dy, scratch);
          add_transposed(scratch, m, n, dws[2]);
        },
        [&] { run_mm(mm_any, a_any, b_any, c_d, a_any_buf, b_any_buf, dws[3]); },
        [&] { transpose_bf16(dy, k, m, dyt); },
        [&] { std::memcpy(dy_copy, dy, sizeof(uint16_t) * k * m); },
        reorder_ab,
    };
    // correctness: one call each from the same start
    for (int v = 0; v < 4; ++v) std::memcpy(dws[v], dw0, sizeof(float) * m * n);
    for (int v = 0; v < 4; ++v) runs[v]();
    double diff[3] = {0, 0, 0};
    for (int v = 1; v < 4; ++v)
      for (int64_t i = 0; i < m * n; ++i) diff[v - 1] = std::max(diff[v - 1], double(std::fabs(dws[v][i] - dws[0][i])));

    std::vector<double> cpu[nv], wall[nv];
    for (int r = 0; r < reps; ++r)
      for (int v = 0; v < nv; ++v) {
        for (size_t i = 0; i < flush.size(); i += 16) flush[i] += 1;
        const double c0 = now(CLOCK_PROCESS_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
        runs[v]();
        cpu[v].push_back(now(CLOCK_PROCESS_CPUTIME_ID) - c0);
        wall[v].push_back(now(CLOCK_MONOTONIC) - w0);
      }
    auto med = [](std::vector<double> t) {
      std::sort(t.begin(), t.end());
      return t[t.size() / 2] * 1e3;
    };
    std::printf("%-9s %5ld %5ld %5ld |", s.name, m, n, k);
    for (int v = 0; v < nv; ++v) std::printf(" %10.3f", med(cpu[v]));
    std::printf("   %.2g %.2g %.2g\n%-27s |", diff[0], diff[1], diff[2], "  wall");
    for (int v = 0; v < nv; ++v) std::printf(" %10.3f", med(wall[v]));
    std::printf("   any: A %s, B %s\n",
                a_any == a_pret    ? "= preT"
                : a_any == a_today ? "= today"
                                   : "blocked",
                b_any == b_x ? "= plain" : "blocked");
    std::free(dy), std::free(dyt), std::free(dy_copy), std::free(x), std::free(dw0), std::free(scratch),
        std::free(a_any_buf), std::free(b_any_buf);
    for (auto& p : dws) std::free(p);
  }
}
