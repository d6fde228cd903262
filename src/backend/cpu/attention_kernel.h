// Internals of the CPU attention kernel (attention_forward.cpp, attention_backward.cpp): the plain
// parameter struct the op layer fills (FlashAttention's seam: pointers, strides, sizes), and the
// 16-lane SIMD pieces both passes share — a register-blocked tile GEMM and a vector exp.
// Vectors are GCC vector extensions, so the code compiles to AVX-512 with -march=native and to
// narrower SIMD elsewhere; FMA is explicit because ISO C++ mode does not contract a·b + c.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__SSE__)
#include <immintrin.h>
#endif

namespace goat::cpu {

// One attention call. Strides are in elements: (batch, head, time); the last dim is unit-stride.
struct AttentionParams {
  const float *q = nullptr, *k = nullptr, *v = nullptr;
  float *o = nullptr, *lse = nullptr;  // lse (B, H, Tq) contiguous
  int64_t B = 0, H = 0, Hkv = 0, Tq = 0, Tk = 0, D = 0;
  int64_t q_s[3]{}, k_s[3]{}, v_s[3]{}, o_s[3]{};
  float scale = 1.f;
  bool causal = true;
  const float* slope = nullptr;     // (Hkv)
  const float* key_bias = nullptr;  // (B, Hkv, Tk)
  // Diagnostics, each (B, H, Tq) or nullptr.
  float *d_entropy = nullptr, *d_sink = nullptr, *d_pmax = nullptr, *d_kl = nullptr, *d_omega = nullptr;
  int64_t content_dim = 0;  // D when all dims are content
  bool prior_shared_over_batch = false;
  // dtype bf16: the products (QKᵀ, PV and the backward's) on bf16-rounded operands with fp32
  // accumulation, on AMX (attention_amx.h); fp32 products where AMX, a head dim that is a multiple
  // of 32 or no diagnostics is missing (bf16_products() says which).
  bool bf16 = false;
  // bf16 inputs (the CPU bf16 model, where in_proj's GEMM rounds qkv in its epilogue): q, k, v as
  // bf16 bits at these pointers with the strides q_s, k_s, v_s (q, k, v null). Only where
  // bf16_inputs(p): the products round their operands to bf16 anyway, so the results equal those
  // of the fp32 inputs these bf16 values represent, bitwise.
  const uint16_t *q16 = nullptr, *k16 = nullptr, *v16 = nullptr;
  // bf16 output (the CPU bf16 model, where out_proj's GEMMs read atty in bf16): the forward writes
  // o as bf16 bits, round to nearest even of the fp32 o it would store, at o16 with the strides
  // o_s (o null), and the backward reads that bf16 O for D_i = dO_i·O_i (fp32 sum, as the CUDA bf16
  // backward's flash_delta_kernel does on its bf16 O). Only where bf16_inputs(p) (the short AMX path).
  uint16_t* o16 = nullptr;
};

struct AttentionBackwardParams {
  const float* d_o = nullptr;
  int64_t do_s[3]{};
  float *dq = nullptr, *dk = nullptr, *dv = nullptr;
  int64_t dq_s[3]{}, dk_s[3]{}, dv_s[3]{};
  float* d_key_bias = nullptr;  // (B, Hkv, Tk)
  float* d_slope = nullptr;     // (Hkv)
  // bf16 outputs (the CPU bf16 model, where the in_proj backward reads dq, dk, dv as its bf16
  // d_out): dq, dk, dv written as bf16 bits, round to nearest even of the fp32 values the fp32
  // outputs would hold, at these pointers with the strides dq_s, dk_s, dv_s (dq, dk, dv null).
  uint16_t *dq16 = nullptr, *dk16 = nullptr, *dv16 = nullptr;
  // Column sums of the fp32 dq (H·D), dk, dv (Hkv·D each) over (b, t), added (+=): the bias
  // gradient of the projection that made q, k, v. Fixed order, independent of the thread count
  // (attention_grad_out.cpp): per batch row and column, t ascending in fp32 from 0; then the batch
  // rows ascending in fp32 from 0; then added. For Tq = Tk = 128 this is to_bf16_column_sum's order.
  float *dq_sum = nullptr, *dk_sum = nullptr, *dv_sum = nullptr;
  // Internal, set by attention_backward: the per-batch-row sums (B, H + 2·Hkv, D) the items write
  // (query heads, then key heads, then value heads).
  float* sum_part = nullptr;
  bool bf16_out() const { return dq16 != nullptr; }
  bool sums() const { return dq_sum != nullptr; }
};

void attention_forward(const AttentionParams& p);
// Whether this call runs its products in bf16 on AMX (p.bf16 and the kernel supports the call);
// the first bf16 call that cannot says why once (log warning).
bool bf16_products(const AttentionParams& p);
void attention_backward(const AttentionParams& p, const AttentionBackwardParams& g);
// Whether this call can read bf16 q, k, v (AttentionParams::q16 …): bf16 products on the short
// path (short_path_applies and bf16_products, forward and backward alike).
bool bf16_inputs(const AttentionParams& p);

namespace attn {

// 64-byte vectors without AVX-512 (a non-native build) make GCC note an ABI change for functions
// returning them; these helpers are inline and never cross a library boundary.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

constexpr int64_t kBq = 64;  // query rows per tile
constexpr int64_t kBk = 64;  // keys per block
constexpr int64_t kLanes = 16;

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Flushes denormals to zero on this thread while alive (restores MXCSR after). Far keys under a
// recency prior have p ≈ e^−80; their products with v would be denormal, and every denormal
// result costs a microcode assist (measured: ALiBi/GOAT ran ~20% slower than no prior without it).
class FlushDenormals {
 public:
#if defined(__SSE__)
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040u); }  // FTZ | DAZ
  ~FlushDenormals() { _mm_setcsr(saved_); }

 private:
  unsigned saved_;
#endif
};

using v16 = float __attribute__((vector_size(64)));
using vi16 = int32_t __attribute__((vector_size(64)));

inline v16 load(const float* p) {
  v16 r;
  std::memcpy(&r, p, sizeof r);
  return r;
}
inline void store(float* p, v16 x) { std::memcpy(p, &x, sizeof x); }
inline v16 splat(float x) { return v16{x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
inline v16 fma(v16 a, v16 b, v16 c) {
#if defined(__AVX512F__)
  return reinterpret_cast<v16>(
      _mm512_fmadd_ps(reinterpret_cast<__m512>(a), reinterpret_cast<__m512>(b), reinterpret_cast<__m512>(c)));
#else
  return a * b + c;
#endif
}
inline v16 vmax(v16 a, v16 b) { return a > b ? a : b; }
inline v16 vmin(v16 a, v16 b) { return a < b ? a : b; }
// Horizontal reductions as halving trees of shuffles (portable; GCC 12's _mm512_reduce_*_ps trip
// -Wmaybe-uninitialized).
using v8 = float __attribute__((vector_size(32)));
using v4 = float __attribute__((vector_size(16)));
template <class Op>
inline float reduce16(v16 x, Op op) {
  const v8 a = op(__builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7),
                  __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15));
  const v4 b = op(__builtin_shufflevector(a, a, 0, 1, 2, 3), __builtin_shufflevector(a, a, 4, 5, 6, 7));
  const v4 c = op(b, __builtin_shufflevector(b, b, 2, 3, 0, 1));
  const v4 d = op(c, __builtin_shufflevector(c, c, 1, 0, 3, 2));
  return d[0];
}
inline float hsum(v16 x) {
  return reduce16(x, [](auto a, auto b) { return a + b; });
}
inline float hmax(v16 x) {
  return reduce16(x, [](auto a, auto b) { return a > b ? a : b; });
}
inline float hmin(v16 x) {
  return reduce16(x, [](auto a, auto b) { return a < b ? a : b; });
}
// 0, 1, ..., 15 as floats.
inline v16 iota() { return v16{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}; }

// e^x, relative error ≈ 2e-7; exactly 0 below −87.3 (so −inf gives 0).
inline v16 vexp(v16 x) {
  const v16 xc = vmin(vmax(x, splat(-87.3f)), splat(88.3f));
  const v16 magic = splat(12582912.f);  // 1.5·2^23: adding it rounds to an integer
  const v16 n = (fma(xc, splat(1.44269504f), magic)) - magic;
  v16 r = fma(n, splat(-0.693145752f), xc);
  r = fma(n, splat(-1.42860677e-6f), r);
  v16 y = splat(1.f / 5040.f);
  y = fma(y, r, splat(1.f / 720.f));
  y = fma(y, r, splat(1.f / 120.f));
  y = fma(y, r, splat(1.f / 24.f));
  y = fma(y, r, splat(1.f / 6.f));
  y = fma(y, r, splat(0.5f));
  y = fma(y, r, splat(1.f));
  y = fma(y, r, splat(1.f));
  const vi16 e = (__builtin_convertvector(n, vi16) + 127) << 23;
  v16 scale;
  std::memcpy(&scale, &e, sizeof scale);
  const v16 out = y * scale;
  return x < splat(-87.3f) ? v16{} : out;
}

// C[M × N] (+)= A[M × K] · B[K × N] with A(r, c) = a[r·a_rs + c·a_cs], B row-major (row stride
// ldb), C row stride ldc, N a multiple of 16. Register block: 4 rows × 64 columns.
template <int R, int NV>
inline void micro_kernel(int64_t K, const float* a, int64_t a_rs, int64_t a_cs, const float* b, int64_t ldb, float* c,
                         int64_t ldc, bool accumulate) {
  v16 acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = accumulate ? load(c + r * ldc + 16 * v) : v16{};
  for (int64_t kk = 0; kk < K; ++kk) {
    v16 bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = load(b + kk * ldb + 16 * v);
    for (int r = 0; r < R; ++r) {
      const v16 av = splat(a[r * a_rs + kk * a_cs]);
      for (int v = 0; v < NV; ++v) acc[r][v] = fma(av, bv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) store(c + r * ldc + 16 * v, acc[r][v]);
}

void tile_gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t a_rs, int64_t a_cs, const float* b, int64_t ldb,
               float* c, int64_t ldc, bool accumulate);

// rows × d of src (row stride `stride`) into dst rows of dp ≥ d floats, zero padded. Vector
// copies when d is a multiple of 16 (the rows are short: a memmove call each cost more).
inline void copy_rows(const float* src, int64_t stride, int64_t rows, int64_t d, int64_t dp, float* dst) {
  if (d % kLanes == 0) {
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < d; c += kLanes) store(dst + r * dp + c, load(src + r * stride + c));
      for (int64_t c = d; c < dp; c += kLanes) store(dst + r * dp + c, v16{});
    }
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    std::copy(src + r * stride, src + r * stride + d, dst + r * dp);
    std::fill(dst + r * dp + d, dst + (r + 1) * dp, 0.f);
  }
}

// dst(c, r) = src(r, c) for r < rows, c < cols: dst[c·ldd + r], src[r·src_rs + c]. 16×16 blocks
// are transposed in registers; the rest element by element. Padding of dst is the caller's.
void transpose_into(const float* src, int64_t src_rs, int64_t rows, int64_t cols, float* dst, int64_t ldd);
void transpose_into(const uint32_t* src, int64_t src_rs, int64_t rows, int64_t cols, uint32_t* dst, int64_t ldd);

// One butterfly stage of the 16×16 register transpose: rows i and i + w swap their off-diagonal
// w × w blocks. transpose16: r[i][c] becomes r[c][i].
template <int W>
inline void swap_blocks(v16 (&r)[16]) {
  for (int i = 0; i < 16; ++i) {
    if (i & W) continue;
    const v16 a = r[i], b = r[i + W];
    if constexpr (W == 8) {
      r[i] = __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
      r[i + W] = __builtin_shufflevector(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    } else if constexpr (W == 4) {
      r[i] = __builtin_shufflevector(a, b, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
      r[i + W] = __builtin_shufflevector(a, b, 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    } else if constexpr (W == 2) {
      r[i] = __builtin_shufflevector(a, b, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
      r[i + W] = __builtin_shufflevector(a, b, 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
    } else {
      r[i] = __builtin_shufflevector(a, b, 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
      r[i + W] = __builtin_shufflevector(a, b, 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
    }
  }
}
inline void transpose16(v16 (&r)[16]) { swap_blocks<8>(r), swap_blocks<4>(r), swap_blocks<2>(r), swap_blocks<1>(r); }

// Causal tiles: which part of a tile GEMM a lower-triangular mask lets through. The mask admits
// (query row i, key column j) when j ≤ i + diag (diag = shift + i0 − j0 for query tile i0 and key
// block j0). Every row block of at most kMaxRows rows is cut to what its rows can see:
//   cols     C = S (rows i, columns j): columns up to the block's last admitted key (rounded up to
//            16); the columns past a row's own mask are left undefined — the caller masks them.
//   k_lower  C += P·V with the sum over keys j (rows i): the sum stops at the block's last key.
//   k_upper  C += Pᵀ·X with the sum over queries i (rows j, keys): it starts at the block's first
//            query that sees key j.
// k_lower and k_upper read masked entries of P near the diagonal: the caller must have stored them
// as zeros for every column below round_up(i + diag + 1 + kMaxRows, 16) (see causal_cover).
enum class Tri { cols, k_lower, k_upper };
constexpr int64_t kMaxRows = 6;
void tile_gemm_causal(Tri mode, int64_t diag, int64_t m, int64_t n, int64_t k, const float* a, int64_t a_rs,
                      int64_t a_cs, const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate);
// Columns of row i (of a causal tile with this diag, n columns padded to 16) that the elementwise
// pass must write (P or dS, zeros where masked) for tile_gemm_causal's k_lower / k_upper.
inline int64_t causal_cover(int64_t i, int64_t diag, int64_t n) {
  const int64_t want = i + diag + 1 + kMaxRows;
  return want <= 0 ? 0 : std::min(n, round_up(want, kLanes));
}

// Short-sequence path (attention_short.cpp): whole score rows per (batch, head), for
// Tq ≤ Tk ≤ kShortMaxT, head dim a multiple of 16 up to kShortMaxD, no diagnostics; both passes
// with fp32 or (bf16_products: head dim a multiple of 32) AMX products.
// attention_forward / attention_backward take it where it applies; set_short_path(false) makes
// them keep the tiled kernel (tests compare the two; benchmarks show both).
constexpr int64_t kShortMaxT = 256;
constexpr int64_t kShortMaxD = 128;
bool short_path_applies(const AttentionParams& p);
void short_forward(const AttentionParams& p);
void short_backward(const AttentionParams& p, const AttentionBackwardParams& g);
void set_short_path(bool enabled);
// The kernel the last attention_forward (backward = false) / attention_backward call ran: the
// tests check the dispatch with it.
enum class KernelPath { tiled, short_fp32, short_amx };
void note_path(bool backward, KernelPath path);
KernelPath last_path(bool backward);
// The short backward's (b, kv head) item with AMX products (attention_short_amx.cpp; called when
// bf16_products(p), inside a parallel region holding AmxTiles and FlushDenormals); returns
// Σ dS (t_j − t_i) over the item, for d_slope.
double short_backward_item_amx(const AttentionParams& p, const AttentionBackwardParams& g, int64_t b, int64_t hk);

// attention_grad_out.cpp: bf16 outputs and column sums (AttentionBackwardParams::dq16, dq_sum).
// `run` is the fp32-output backward dispatch. direct: run writes them itself (the short AMX item);
// else run writes fp32 into scratch (or into dq, dk, dv), then one pass rounds and sums.
using BackwardRun = void (*)(const AttentionParams&, const AttentionBackwardParams&);
void backward_grad_out(const AttentionParams& p, const AttentionBackwardParams& g, bool direct, BackwardRun run);
// Row n of the per-batch-row sums of batch row b (n: query head h, H + key head, H + Hkv + value
// head), or null when no sums are asked for.
inline float* grad_sum_row(const AttentionParams& p, const AttentionBackwardParams& g, int64_t b, int64_t n) {
  return g.sum_part ? g.sum_part + (b * (p.H + 2 * p.Hkv) + n) * p.D : nullptr;
}

// The backward's inputs of query head h of batch b: Q (null for bf16 inputs), O (fp32, or bf16 bits
// in o16 with o null: AttentionParams::o16), dO rows (strides in p, g) and LSE.
struct HeadInputs {
  const float *q, *o, *d_o, *lse;
  const uint16_t* o16;
};
inline HeadInputs head_inputs(const AttentionParams& p, const AttentionBackwardParams& g, int64_t b, int64_t h) {
  const int64_t o_at = b * p.o_s[0] + h * p.o_s[1];
  return {p.q ? p.q + b * p.q_s[0] + h * p.q_s[1] : nullptr, p.o ? p.o + o_at : nullptr,
          g.d_o + b * g.do_s[0] + h * g.do_s[1], p.lse + (b * p.H + h) * p.Tq, p.o16 ? p.o16 + o_at : nullptr};
}

// 16 lanes of a row as fp32: fp32 rows as they are, bf16 rows (bits) widened, exactly.
using vu32 = uint32_t __attribute__((vector_size(64)));
using vu16 = uint16_t __attribute__((vector_size(32)));
inline v16 load_lanes(const float* p) { return load(p); }
inline v16 load_lanes(const uint16_t* p) {
  vu16 h;
  std::memcpy(&h, p, sizeof h);
  const vu32 w = __builtin_convertvector(h, vu32) << 16;
  v16 x;
  std::memcpy(&x, &w, sizeof x);
  return x;
}

// d[i] = dO_i · O_i for i < Tq (fp32 sum over 16 lanes of the fp32 or bf16 O; head dim a multiple
// of 16).
template <class O>
inline void row_dots(const AttentionParams& p, const AttentionBackwardParams& g, const O* o, const float* d_o,
                     float* d) {
  for (int64_t i = 0; i < p.Tq; ++i) {
    v16 acc{};
    for (int64_t c = 0; c < p.D; c += kLanes)
      acc = fma(load_lanes(o + i * p.o_s[2] + c), load(d_o + i * g.do_s[2] + c), acc);
    d[i] = hsum(acc);
  }
}
inline void row_dots(const AttentionParams& p, const AttentionBackwardParams& g, const HeadInputs& in, float* d) {
  if (in.o16)
    row_dots(p, g, in.o16, in.d_o, d);
  else
    row_dots(p, g, in.o, in.d_o, d);
}

// Row `row` (d floats) of the rows at `base` (row stride rs) towards the cache, for the next item:
// the rows of one head sit 3–12 KiB apart in the model's fused buffers, too far apart for the
// hardware prefetcher, so each item's first reads would miss one by one.
template <class T>
inline void prefetch_row(const T* base, int64_t rs, int64_t row, int64_t d) {
  if (!base) return;
  for (int64_t c = 0; c < d; c += 64 / static_cast<int64_t>(sizeof(T))) __builtin_prefetch(base + row * rs + c, 0, 2);
}

// The q, k or v rows the kernel reads: fp32 (AttentionParams::q …) or, In = uint16_t, bf16 bits
// (AttentionParams::q16 …).
template <class In>
inline const In* input_rows(const float* f, const uint16_t* h) {
  if constexpr (sizeof(In) == 2)
    return h;
  else
    return f;
}

// The short backward's next head after head gi of item (b, hk): the group's next head, else the
// next item's first (null past the last item; the static schedule gives a thread consecutive
// items). Its Q, O, dO rows and, when the item changes, its K, V rows are prefetched row by row
// during the current head's elementwise pass. In: the element type of q, k, v (input_rows).
template <class In = float>
struct NextHead {
  const float *o = nullptr, *d_o = nullptr;
  const uint16_t* o16 = nullptr;  // O as bf16 bits (AttentionParams::o16) instead of o
  const In *q = nullptr, *k = nullptr, *v = nullptr;
  NextHead(const AttentionParams& p, const AttentionBackwardParams& g, int64_t b, int64_t hk, int64_t gi) {
    const int64_t G = p.H / p.Hkv;
    const bool same_item = gi + 1 < G;
    const int64_t nb = same_item ? b : (hk + 1 < p.Hkv ? b : b + 1);
    const int64_t nhk = same_item ? hk : (hk + 1) % p.Hkv, nh = same_item ? hk * G + gi + 1 : nhk * G;
    if (nb >= p.B) return;
    q = input_rows<In>(p.q, p.q16) + nb * p.q_s[0] + nh * p.q_s[1];
    if (p.o16)
      o16 = p.o16 + nb * p.o_s[0] + nh * p.o_s[1];
    else
      o = p.o + nb * p.o_s[0] + nh * p.o_s[1];
    d_o = g.d_o + nb * g.do_s[0] + nh * g.do_s[1];
    if (!same_item)
      k = input_rows<In>(p.k, p.k16) + nb * p.k_s[0] + nhk * p.k_s[1],
      v = input_rows<In>(p.v, p.v16) + nb * p.v_s[0] + nhk * p.v_s[1];
  }
  // Query row i, and key rows i, i + Tq, … (a pass over the Tq rows covers every key).
  void prefetch(const AttentionParams& p, const AttentionBackwardParams& g, int64_t i) const {
    prefetch_row(q, p.q_s[2], i, p.D), prefetch_row(o, p.o_s[2], i, p.D), prefetch_row(o16, p.o_s[2], i, p.D);
    prefetch_row(d_o, g.do_s[2], i, p.D);
    for (int64_t j = i; j < p.Tk; j += p.Tq) prefetch_row(k, p.k_s[2], j, p.D), prefetch_row(v, p.v_s[2], j, p.D);
  }
};

// The key bias row of (b, hk), zero past Tk (n entries). No bias: a plain fill (the one loop
// `src && j < Tk ? src[j] : 0` became masked loads from the null row, each masked-out lane a
// microcode assist: ≈ 14% of the short AMX forward item's samples).
inline void key_bias_row(const AttentionParams& p, int64_t b, int64_t hk, int64_t n, float* kb) {
  if (!p.key_bias) {
    std::fill(kb, kb + n, 0.f);
    return;
  }
  const float* src = p.key_bias + (b * p.Hkv + hk) * p.Tk;
  const int64_t m = std::min(n, p.Tk);
  std::copy(src, src + m, kb);
  std::fill(kb + m, kb + n, 0.f);
}

#pragma GCC diagnostic pop

}  // namespace attn
}  // namespace goat::cpu
