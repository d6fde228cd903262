// Pieces shared by the fused flash-attention kernels (flash_forward.cuh, flash_backward.cuh):
// bf16 tiles staged in shared memory by cp.async, the tensor-core fragment loads of those tiles
// (ldmatrix addressings of ptx-fragments.md §2) and the per-pair score with the fp32 prior.
// Every kernel runs 4 warps (128 threads); a warp owns 16 rows of its block's tile, so every
// row statistic lives in the 4 lanes of one mma group (xor-shuffles 1 and 2 reduce it).
// Tiles are (rows × D) bf16 with a row stride of D + 8 elements: rows stay 16-byte aligned for
// cp.async/ldmatrix and consecutive rows start 4 banks apart (no ldmatrix bank conflicts).
#pragma once

#include "attention.cuh"

// Loops over register fragments must be unrolled, or their arrays go to local memory.
#if defined(__CUDACC__)
#define GOAT_UNROLL _Pragma("unroll")
#else
#define GOAT_UNROLL
#endif

namespace goat::kernels::flash {

using bf16 = __nv_bfloat16;
constexpr int kThreads = 128;  // 4 warps

template <int D>
constexpr int kStride = D + 8;  // smem row stride (bf16 elements)

// Copies rows [r0, r0 + Rows) of a row-major (T, D) bf16 matrix (row stride ld) into `tile`
// (Rows × kStride<D>), zero-filling the rows at or past T. Issued by all 128 threads; the caller
// commits the group.
template <int D, int Rows>
__device__ __forceinline__ void load_tile(bf16* tile, const bf16* base, int64_t ld, int64_t r0, int64_t T) {
  constexpr int kChunks = D / 8;  // 16-byte chunks per row
  for (int c = static_cast<int>(threadIdx.x); c < Rows * kChunks; c += kThreads) {
    const int r = c / kChunks, col = (c % kChunks) * 8;
    const bool in = r0 + r < T;
    simt::cp_async<16>(tile + r * kStride<D> + col, in ? base + (r0 + r) * ld + col : base, in ? 16 : 0);
  }
}

// Two tiles of the same rows of two matrices (K and V, or Q and dO) into dst and dst + Rows rows.
template <int D, int Rows>
__device__ __forceinline__ void load_tile_pair(bf16* dst, const bf16* a, int64_t lda, const bf16* b, int64_t ldb,
                                               int64_t r0, int64_t T) {
  load_tile<D, Rows>(dst, a, lda, r0, T);
  load_tile<D, Rows>(dst + Rows * kStride<D>, b, ldb, r0, T);
}

// One step of the two-stage pipeline: issues the next pair (when `more`) into the other stage,
// then waits until the current stage's copies have landed for every thread.
template <int D, int Rows>
__device__ __forceinline__ void pipeline_step(bool more, bf16* next, const bf16* a, int64_t lda, const bf16* b,
                                              int64_t ldb, int64_t r0, int64_t T) {
  if (more) load_tile_pair<D, Rows>(next, a, lda, b, ldb, r0, T);
  simt::cp_async_commit();
  simt::cp_async_wait<1>();
  __syncthreads();
}

// This thread's place in its warp and mma group (g = row within the 8-row half, t = column pair).
struct WarpLane {
  int warp, lane, g, t;
};
__device__ __forceinline__ WarpLane warp_lane() {
  const int tid = static_cast<int>(threadIdx.x);
  return {tid / 32, tid & 31, (tid & 31) >> 2, tid & 3};
}

// A fragment (16×16, row-major) of rows row0.. and columns col0.. of a tile.
template <int D>
__device__ __forceinline__ void load_a(uint32_t (&a)[4], const bf16* tile, int row0, int col0) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  simt::ldmatrix_x4(a, tile + (row0 + lane % 16) * kStride<D> + col0 + 8 * (lane / 16));
}

// B fragments of two n-tiles (n = row0..row0+15 of the tile, k = col0..col0+15) where the tile
// holds B^T (N × K, K contiguous): b[0..1] for n-tile 0, b[2..3] for n-tile 1.
template <int D>
__device__ __forceinline__ void load_b_nk(uint32_t (&b)[4], const bf16* tile, int row0, int col0) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  simt::ldmatrix_x4(b, tile + (row0 + lane % 8 + 8 * (lane / 16)) * kStride<D> + col0 + 8 * ((lane / 8) % 2));
}

// B fragments of two n-tiles (n = col0..col0+15) where the tile holds B itself (K × N, N
// contiguous; k = row0..row0+15): b[0..1] for n-tile 0, b[2..3] for n-tile 1.
template <int D>
__device__ __forceinline__ void load_b_kn(uint32_t (&b)[4], const bf16* tile, int row0, int col0) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  simt::ldmatrix_x4_trans(b, tile + (row0 + lane % 16) * kStride<D> + col0 + 8 * (lane / 16));
}

// acc[n] += A · B over two n-tiles whose B fragments come as b[0..1], b[2..3].
__device__ __forceinline__ void mma2(float (&acc0)[4], float (&acc1)[4], const uint32_t (&a)[4],
                                     const uint32_t (&b)[4]) {
  const uint32_t b0[2] = {b[0], b[1]}, b1[2] = {b[2], b[3]};
  simt::mma_m16n8k16_bf16(acc0, a, b0, acc0);
  simt::mma_m16n8k16_bf16(acc1, a, b1, acc1);
}

// The A fragment of the 16×16 block formed by accumulator tiles c0 (columns 0-7) and c1 (8-15),
// rounded to bf16 (the accumulator-to-A identity of ptx-fragments.md §1).
__device__ __forceinline__ void acc_to_a(uint32_t (&a)[4], const float (&c0)[4], const float (&c1)[4]) {
  a[0] = simt::pack_bf16x2(c0[0], c0[1]);
  a[1] = simt::pack_bf16x2(c0[2], c0[3]);
  a[2] = simt::pack_bf16x2(c1[0], c1[1]);
  a[3] = simt::pack_bf16x2(c1[2], c1[3]);
}

// c += A·B over this warp's 16 rows: A (16 × 8·NT) is the accumulator tiles a[0..NT) rounded to
// bf16 (acc_to_a, pairs of tiles per 16-column k-step), B the rows 0..8·NT of a tile holding B
// itself (K × N, N contiguous; load_b_kn), c the OT n-tiles of 8 columns. The forward's O += P·V
// and the dQ kernel's dQ += dS·K.
template <int D, int NT, int OT>
__device__ __forceinline__ void mma_acc_kn(float (&c)[OT][4], const float (&a)[NT][4], const bf16* b_tile) {
  GOAT_UNROLL for (int kc = 0; kc < NT / 2; ++kc) {
    uint32_t fa[4];
    acc_to_a(fa, a[2 * kc], a[2 * kc + 1]);
    GOAT_UNROLL for (int ot = 0; ot < OT; ot += 2) {
      uint32_t fb[4];
      load_b_kn<D>(fb, b_tile, kc * 16, ot * 8);
      mma2(c[ot], c[ot + 1], fa, fb);
    }
  }
}

// Sum / max over the 4 lanes of an mma group (one row of an accumulator tile).
__device__ __forceinline__ float group_sum(float x) {
  x += __shfl_xor_sync(kFullMask, x, 1);
  return x + __shfl_xor_sync(kFullMask, x, 2);
}
__device__ __forceinline__ float group_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(kFullMask, x, 1));
  return fmaxf(x, __shfl_xor_sync(kFullMask, x, 2));
}

// Per-(batch, kv head) view of the prior and the causal geometry: query i sits at key position
// shift + i; key j is admissible for i when j < Tk and (not causal or j ≤ shift + i).
struct PairScore {
  float scale, slope;    // slope 0 when there is no recency term
  const float* key_bias; // (Tk) of this (b, hk), or nullptr
  int64_t shift, Tk;
  bool causal;

  __device__ __forceinline__ bool admissible(int64_t i, int64_t j) const {
    return j < Tk && (!causal || j <= shift + i);
  }
  // z_ij = scale·s + slope·(j − (shift + i)) + u(j): the distance is an exact integer and the
  // recency is added in fp32 per pair, so it is never quantised to bf16 (goat.md §6 fact 11).
  __device__ __forceinline__ float z(float s, int64_t i, int64_t j) const {
    float v = scale * s + slope * static_cast<float>(j - (shift + i));
    if (key_bias) v += key_bias[j];
    return v;
  }
};

// Keys a block of query rows [m0, m0 + rows) needs: all Tk, or up to its last row's position.
__device__ __forceinline__ int64_t keys_needed(const PairScore& ps, int64_t Tq, int64_t m0, int64_t rows) {
  const int64_t last_q = (m0 + rows < Tq ? m0 + rows : Tq) - 1;
  return ps.causal && ps.shift + last_q + 1 < ps.Tk ? ps.shift + last_q + 1 : ps.Tk;
}

template <typename T>
__device__ __forceinline__ PairScore pair_score(const AttentionArgs<T>& p, int64_t b, int64_t hk) {
  PairScore ps;
  ps.scale = p.scale;
  ps.slope = p.slope ? p.slope[hk] : 0.f;
  ps.key_bias = p.key_bias ? p.key_bias + (b * p.Hkv + hk) * p.Tk : nullptr;
  ps.shift = p.Tk - p.Tq;
  ps.Tk = p.Tk;
  ps.causal = p.causal;
  return ps;
}

// Shared memory of every flash kernel: four (64 × kStride<D>) bf16 tiles.
template <int D>
constexpr size_t smem_bytes() {
  return 4 * 64 * kStride<D> * sizeof(bf16);
}

// Two floats stored as adjacent bf16 (4-byte aligned: strides are checked to be multiples of 8).
__device__ __forceinline__ void store_bf16x2(bf16* dst, float lo, float hi) {
  *reinterpret_cast<uint32_t*>(dst) = simt::pack_bf16x2(lo, hi);
}

}  // namespace goat::kernels::flash
