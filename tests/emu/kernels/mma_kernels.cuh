// Test kernels for the tensor-core and async-copy wrappers, written the way the attention kernel
// uses them: tiles staged in shared memory by cp.async, fragments loaded by ldmatrix, products by
// mma.m16n8k16, fp32 accumulators repacked into bf16 A fragments (tests/emu/test_mma.cpp).
#pragma once

#include "simt/simt.cuh"

namespace goat::emu_test {

using goat::simt::cp_async;
using goat::simt::cp_async_commit;
using goat::simt::cp_async_wait;
using goat::simt::cp_async_wait_all;

// One warp. Loads A (16x16, row-major) with ldmatrix.x4, B (16x8 stored K x N) with .x2.trans and
// the same B from B^T (8x16 stored N x K) with .x2, then D = A B. Per lane: a_out[4 lane + i],
// b_out[2 lane + i] (from .trans), bt_out[2 lane + i] (from B^T), d_out[4 lane + i].
__global__ void fragment_probe_kernel(const __nv_bfloat16* a, const __nv_bfloat16* b, uint32_t* a_out, uint32_t* b_out,
                                      uint32_t* bt_out, float* d_out) {
  __shared__ __align__(16) __nv_bfloat16 sa[16][16];
  __shared__ __align__(16) __nv_bfloat16 sb[16][8];
  __shared__ __align__(16) __nv_bfloat16 sbt[8][16];
  const unsigned l = threadIdx.x;
  for (unsigned i = l; i < 256; i += 32) sa[i / 16][i % 16] = a[i];
  for (unsigned i = l; i < 128; i += 32) {
    sb[i / 8][i % 8] = b[i];
    sbt[i % 8][i / 8] = b[i];
  }
  __syncthreads();
  uint32_t ra[4], rb[2], rbt[2];
  goat::simt::ldmatrix_x4(ra, &sa[l % 16][8 * (l / 16)]);
  goat::simt::ldmatrix_x2_trans(rb, &sb[l % 16][0]);
  goat::simt::ldmatrix_x2(rbt, &sbt[l % 8][8 * ((l / 8) % 2)]);
  const float c[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  float d[4];
  goat::simt::mma_m16n8k16_bf16(d, ra, rb, c);
  for (int i = 0; i < 4; ++i) {
    a_out[4 * l + i] = ra[i];
    d_out[4 * l + i] = d[i];
  }
  for (int i = 0; i < 2; ++i) {
    b_out[2 * l + i] = rb[i];
    bt_out[2 * l + i] = rbt[i];
  }
}

// One warp. S[r][c] = 16r + c (b16) in shared; lane l supplies row (l % 16, 8 (l / 16)).
// out[16 l + 0..3] = .x4, [4..7] = .x4.trans, [8] = .x1, [9..10] = .x2 (lanes >= 16 pass a
// non-shared address, which .x2 must ignore), [11] = .x1.trans.
__global__ void ldmatrix_probe_kernel(uint32_t* out) {
  __shared__ __align__(16) unsigned short s[16][16];
  const unsigned l = threadIdx.x;
  for (unsigned i = l; i < 256; i += 32) s[i / 16][i % 16] = static_cast<unsigned short>(i);
  __syncthreads();
  const void* row = &s[l % 16][8 * (l / 16)];
  uint32_t x4[4], x4t[4], x1[1], x2[2], x1t[1];
  goat::simt::ldmatrix_x4(x4, row);
  goat::simt::ldmatrix_x4_trans(x4t, row);
  goat::simt::ldmatrix_x1(x1, row);
  goat::simt::ldmatrix_x2(x2, l < 16 ? row : static_cast<const void*>(out));
  goat::simt::ldmatrix_x1_trans(x1t, row);
  for (int i = 0; i < 4; ++i) {
    out[16 * l + i] = x4[i];
    out[16 * l + 4 + i] = x4t[i];
  }
  out[16 * l + 8] = x1[0];
  out[16 * l + 9] = x2[0];
  out[16 * l + 10] = x2[1];
  out[16 * l + 11] = x1t[0];
}

// C (M x N, f32) = A (M x K, bf16 row-major) * B, with B given as B^T (N x K row-major) when
// !BKN or as B (K x N row-major) when BKN. Block: 4 warps, a 32 x 32 tile of C, warp w owning
// rows 16 (w / 2) and columns 16 (w % 2) (two n8 tiles). K-tiles of 32 are double-buffered with
// cp.async; rows past M/N are zero-filled (src-size 0). Requires K % 8 == 0 (and N % 8 == 0 if BKN).
template <bool BKN>
__global__ void gemm_bf16_kernel(const __nv_bfloat16* A, const __nv_bfloat16* B, float* C, int M, int N, int K) {
  constexpr int BM = 32, BN = 32, BK = 32, LD = BK + 8;  // +8 bf16 row padding (16 bytes)
  __shared__ __align__(16) __nv_bfloat16 sa[2][BM][LD];
  __shared__ __align__(16) __nv_bfloat16 sb[2][32][40];  // BKN: [k][n], else [n][k]
  const int t = static_cast<int>(threadIdx.x), lane = t & 31, w = t >> 5;
  const int m0 = static_cast<int>(blockIdx.y) * BM, n0 = static_cast<int>(blockIdx.x) * BN;
  const int wm = w / 2, wn = w % 2;

  auto load_tile = [&](int kt, int buf) {
    const int k0 = kt * BK, row = t / 4, chunk = t % 4;  // 128 threads: one 16-byte chunk each
    const bool a_ok = m0 + row < M && k0 + chunk * 8 < K;
    cp_async<16>(&sa[buf][row][chunk * 8], a_ok ? A + static_cast<size_t>(m0 + row) * K + k0 + chunk * 8 : A,
                 a_ok ? 16 : 0);
    if constexpr (BKN) {
      const bool ok = k0 + row < K && n0 + chunk * 8 < N;
      cp_async<16>(&sb[buf][row][chunk * 8], ok ? B + static_cast<size_t>(k0 + row) * N + n0 + chunk * 8 : B,
                   ok ? 16 : 0);
    } else {
      const bool ok = n0 + row < N && k0 + chunk * 8 < K;
      cp_async<16>(&sb[buf][row][chunk * 8], ok ? B + static_cast<size_t>(n0 + row) * K + k0 + chunk * 8 : B,
                   ok ? 16 : 0);
    }
  };

  float acc[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
  const int ktiles = (K + BK - 1) / BK;
  load_tile(0, 0);
  cp_async_commit();
  for (int kt = 0; kt < ktiles; ++kt) {
    const int buf = kt & 1;
    if (kt + 1 < ktiles) load_tile(kt + 1, buf ^ 1);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    for (int kk = 0; kk < BK; kk += 16) {
      uint32_t a[4], b[4];
      goat::simt::ldmatrix_x4(a, &sa[buf][wm * 16 + lane % 16][kk + 8 * (lane / 16)]);
      if constexpr (BKN)
        goat::simt::ldmatrix_x4_trans(b, &sb[buf][kk + lane % 16][wn * 16 + 8 * (lane / 16)]);
      else
        goat::simt::ldmatrix_x4(b, &sb[buf][wn * 16 + lane % 8 + 8 * (lane / 16)][kk + 8 * ((lane / 8) % 2)]);
      const uint32_t b0[2] = {b[0], b[1]}, b1[2] = {b[2], b[3]};
      goat::simt::mma_m16n8k16_bf16(acc[0], a, b0, acc[0]);
      goat::simt::mma_m16n8k16_bf16(acc[1], a, b1, acc[1]);
    }
    __syncthreads();
  }
  const int g = lane >> 2, tg = lane & 3;
  for (int j = 0; j < 2; ++j)
    for (int i = 0; i < 4; ++i) {
      const int m = m0 + wm * 16 + g + 8 * (i >> 1), n = n0 + wn * 16 + 8 * j + 2 * tg + (i & 1);
      if (m < M && n < N) C[static_cast<size_t>(m) * N + n] = acc[j][i];
    }
}

// One warp, one FlashAttention-2 step for 16 queries x 16 keys: S = Q K^T (Q 16x32, K 16x32, both
// row-major), row max via xor-shuffles 1 and 2, P = exp(S - max) kept in fp32 for the row sum and
// repacked in registers into the bf16 A fragment of P V (V 16x16 row-major, loaded with .x2.trans),
// O = (P V) / rowsum.  O: (16, 16) f32
__global__ void attention_step_kernel(const __nv_bfloat16* Q, const __nv_bfloat16* Km, const __nv_bfloat16* V,
                                      float* O) {
  __shared__ __align__(16) __nv_bfloat16 sq[16][40];
  __shared__ __align__(16) __nv_bfloat16 sk[16][40];
  __shared__ __align__(16) __nv_bfloat16 sv[16][24];
  const int l = static_cast<int>(threadIdx.x);
  for (int c = l; c < 64; c += 32) {  // 16 rows x 4 chunks of 8 bf16
    cp_async<16>(&sq[c / 4][(c % 4) * 8], Q + (c / 4) * 32 + (c % 4) * 8);
    cp_async<16>(&sk[c / 4][(c % 4) * 8], Km + (c / 4) * 32 + (c % 4) * 8);
  }
  cp_async<16>(&sv[l / 2][(l % 2) * 8], V + (l / 2) * 16 + (l % 2) * 8);
  cp_async_wait_all();
  __syncthreads();

  float s[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
  for (int kk = 0; kk < 32; kk += 16) {
    uint32_t a[4], b[4];
    goat::simt::ldmatrix_x4(a, &sq[l % 16][kk + 8 * (l / 16)]);
    goat::simt::ldmatrix_x4(b, &sk[l % 8 + 8 * (l / 16)][kk + 8 * ((l / 8) % 2)]);
    const uint32_t b0[2] = {b[0], b[1]}, b1[2] = {b[2], b[3]};
    goat::simt::mma_m16n8k16_bf16(s[0], a, b0, s[0]);
    goat::simt::mma_m16n8k16_bf16(s[1], a, b1, s[1]);
  }
  // Rows g (regs 0,1) and g + 8 (regs 2,3) live in the four lanes of group g.
  float mx[2], sum[2];
  for (int h = 0; h < 2; ++h) {
    mx[h] = fmaxf(fmaxf(s[0][2 * h], s[0][2 * h + 1]), fmaxf(s[1][2 * h], s[1][2 * h + 1]));
    mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));
    mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));
  }
  for (int j = 0; j < 2; ++j)
    for (int i = 0; i < 4; ++i) s[j][i] = __expf(s[j][i] - mx[i >> 1]);
  for (int h = 0; h < 2; ++h) {
    sum[h] = s[0][2 * h] + s[0][2 * h + 1] + s[1][2 * h] + s[1][2 * h + 1];
    sum[h] += __shfl_xor_sync(0xffffffffu, sum[h], 1);
    sum[h] += __shfl_xor_sync(0xffffffffu, sum[h], 2);
  }
  const uint32_t p[4] = {goat::simt::pack_bf16x2(s[0][0], s[0][1]), goat::simt::pack_bf16x2(s[0][2], s[0][3]),
                         goat::simt::pack_bf16x2(s[1][0], s[1][1]), goat::simt::pack_bf16x2(s[1][2], s[1][3])};
  uint32_t v0[2], v1[2];
  goat::simt::ldmatrix_x2_trans(v0, &sv[l % 16][0]);
  goat::simt::ldmatrix_x2_trans(v1, &sv[l % 16][8]);
  const float zero[4] = {0, 0, 0, 0};
  float o[2][4];
  goat::simt::mma_m16n8k16_bf16(o[0], p, v0, zero);
  goat::simt::mma_m16n8k16_bf16(o[1], p, v1, zero);
  const int g = l >> 2, tg = l & 3;
  for (int j = 0; j < 2; ++j)
    for (int i = 0; i < 4; ++i) O[(g + 8 * (i >> 1)) * 16 + 8 * j + 2 * tg + (i & 1)] = o[j][i] / sum[i >> 1];
}

// cp.async semantics, thread 0 of one warp: three commit groups then wait_group 1 (out[0..11]),
// then wait_all (out[12..23]); a 16-byte copy with src-size 6 (out[24..27]) and an 8-byte copy
// with src-size 0 (out[28..29]).  src: (16) floats, out: (30) floats
__global__ void cp_async_probe_kernel(const float* src, float* out) {
  __shared__ __align__(16) float s[5][4];
  if (threadIdx.x != 0) return;
  for (int gi = 0; gi < 3; ++gi) {
    cp_async<16>(s[gi], src + 4 * gi);
    cp_async_commit();
  }
  cp_async_wait<1>();
  for (int i = 0; i < 12; ++i) out[i] = s[i / 4][i % 4];
  cp_async_wait_all();
  for (int i = 0; i < 12; ++i) out[12 + i] = s[i / 4][i % 4];
  cp_async<16>(s[3], src + 12, 6);
  cp_async<8>(s[4], src, 0);
  cp_async_wait_all();
  for (int i = 0; i < 4; ++i) out[24 + i] = s[3][i];
  out[28] = s[4][0];
  out[29] = s[4][1];
}

}  // namespace goat::emu_test
