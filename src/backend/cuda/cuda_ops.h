// The CUDA backend's entry points, called only by the op dispatch layer (ops/*.cpp) and by code
// that owns device memory (model arenas, tests). Plain C++: raw device pointers, sizes and the
// storage dtype of the activations (f32 or bf16; math is fp32). Implemented by the real backend
// (nvcc), the emulated one (the same .cu sources on the host SIMT emulation, GOATLM_CUDA=EMU) or
// no_cuda.cpp, whose every entry throws "[op] built without CUDA".
//
// dtype rule: activations, weights and activation gradients share `dt`; parameter gradients
// (d_weight, d_bias, d_wte, d_wpe), LayerNorm statistics, losses and AdamW state are fp32.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace goat::cuda {

// ---- runtime ----
bool built();                 // true in the real and emulated builds
bool emulated();              // true in the GOATLM_CUDA=EMU build
int device_count();           // usable devices (1 emulated); 0 without a device or driver, or in a stub build
void* alloc(size_t bytes);    // caching allocator (exact-size buckets), 256-byte aligned
void free(void* p);           // returns p to the cache; nullptr is a no-op
void release_cached();        // gives cached blocks back to the driver
size_t cached_bytes();        // bytes held in the cache (not in use)
void copy_to_device(void* dst, const void* src, size_t bytes);
void copy_to_host(void* dst, const void* src, size_t bytes);
void copy_device(void* dst, const void* src, size_t bytes);
void memset_zero(void* p, size_t bytes);
void synchronize();
// Streams and events as opaque handles (cudaStream_t / cudaEvent_t), for code that must not
// include CUDA headers (the data-parallel gradient all-reduce on a second stream).
// compute_stream(): the stream every op and copy above runs on.
void* compute_stream();
void* stream_create();                          // a new stream (cudaStreamNonBlocking)
void stream_destroy(void* stream);
void* event_create();                           // cudaEventDisableTiming
void event_destroy(void* event);
void event_record(void* event, void* stream);   // event marks the work enqueued on stream so far
void stream_wait_event(void* stream, void* event);  // later work on stream waits for event
void stream_synchronize(void* stream);

// ---- GEMM: C[M,N] = alpha·op(A)·op(B) + beta·C, row-major, exactly cpu::sgemm's semantics.
// A, B of dtype ab (f32 or bf16), C of dtype c (f32, or bf16 when ab is bf16), fp32 accumulate.
// cuBLASLt on a GPU; the CPU sgemm in emulation.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const void* a, int64_t lda,
          const void* b, int64_t ldb, float beta, void* c, int64_t ldc, DType ab, DType c_type);

// ---- ops (shapes as in ops/*.h) ----
void gelu_forward(void* out, const void* in, int64_t n, DType dt);
void gelu_backward(void* d_in, const void* d_out, const void* in, int64_t n, DType dt);
void add_forward(void* out, const void* a, const void* b, int64_t n, DType dt);

// residual may be nullptr (plain layernorm of in) or the fused residual = a + b.
void layernorm_forward(void* out, float* mean, float* rstd, const void* in, const void* w, const void* b,
                       void* residual, const void* ra, const void* rb, int64_t n, int64_t c, float eps, DType dt);
void layernorm_backward(void* d_in, float* d_w, float* d_b, const void* d_out, const void* in, const void* w,
                        const float* mean, const float* rstd, int64_t n, int64_t c, DType dt);

// out (rows, cout; row stride ldo) = in (rows, cin; ldi) · wᵀ (cout, cin) + bias (cout, may be null)
void linear_forward(void* out, int64_t ldo, const void* in, int64_t ldi, const void* w, const void* bias, int64_t rows,
                    int64_t cin, int64_t cout, DType dt);
// d_in (=, or += when accumulate; may be null) = d_out·w; d_w (fp32) += d_outᵀ·in; d_b (fp32) += Σ d_out.
void linear_backward(void* d_in, int64_t ld_din, float* d_w, float* d_b, const void* d_out, int64_t ld_dout,
                     const void* in, int64_t ldi, const void* w, int64_t rows, int64_t cin, int64_t cout,
                     bool accumulate, DType dt);

// tokens: device int32 (b, t). wpe may be null.
void embedding_forward(void* out, const int32_t* tokens, const void* wte, const void* wpe, int64_t b, int64_t t,
                       int64_t c, int64_t v, int64_t pos_offset, DType dt);
void embedding_backward(float* d_wte, float* d_wpe, const void* d_out, const int32_t* tokens, int64_t b, int64_t t,
                        int64_t c, int64_t v, int64_t pos_offset, DType dt);

// losses (n) fp32 or null; d_logits (n, v) or null (may alias logits), scale·(softmax − onehot).
// targets: device int32. Returns the mean loss over non-ignored rows when losses is set.
double cross_entropy(float* losses, void* d_logits, const void* logits, const int32_t* targets, int64_t n, int64_t v,
                     float scale, int32_t ignore_index, DType dt);
// #rows whose target is not ignore_index (targets on the device).
int64_t count_targets(const int32_t* targets, int64_t n, int32_t ignore_index);

// Attention with the prior hook (ops/attention.h): q, k, v, o, d_o, dq, dk, dv of dtype dt with
// (b, h, t) strides and a unit-stride last dim; lse, slope, key_bias and their gradients fp32.
struct AttentionDesc {
  const void *q = nullptr, *k = nullptr, *v = nullptr;
  void* o = nullptr;
  float* lse = nullptr;
  const float* slope = nullptr;     // (Hkv) or null
  const float* key_bias = nullptr;  // (B, Hkv, Tk) or null
  int64_t q_s[3]{}, k_s[3]{}, v_s[3]{}, o_s[3]{};
  int64_t B = 0, H = 0, Hkv = 0, Tq = 0, Tk = 0, D = 0;
  float scale = 1.f;
  bool causal = true;
  const void* d_o = nullptr;  // backward
  void *dq = nullptr, *dk = nullptr, *dv = nullptr;
  int64_t do_s[3]{}, dq_s[3]{}, dk_s[3]{}, dv_s[3]{};
  float* d_key_bias = nullptr;  // (B, Hkv, Tk) overwritten, or null
  float* d_slope = nullptr;     // (Hkv) overwritten, or null
  // GOAT's relative lanes built inside the fused kernels (docs/kernels.md, flash_lanes.cuh) when
  // `lanes` (else none; lane_a/b may be null when R = 0). q/k columns [lane_dc, lane_dc + 2R) are replaced by the lanes of
  // positions q_pos0 + i / k_pos0 + j, columns past them by 0; scale applies to the content only.
  // The backward stores 0 in the lane columns of dq, dk and overwrites d_lane_a/b with ∂a, ∂b.
  // Needs the fused path (attention_fused and aligned operands): an error otherwise.
  bool lanes = false;
  const float* lane_a = nullptr;  // (Hkv, R)
  const float* lane_b = nullptr;  // (Hkv, R)
  int64_t lane_R = 0, lane_dc = 0, q_pos0 = 0, k_pos0 = 0;
  float* d_lane_a = nullptr;  // (Hkv, R) (backward)
  float* d_lane_b = nullptr;  // (Hkv, R) (backward)
};
void attention_forward(const AttentionDesc& a, DType dt);
void attention_backward(const AttentionDesc& a, DType dt);
// Whether attention of this dtype and head dim runs the fused flash kernels (given 16-byte aligned
// pointers and (b, h, t) strides that are multiples of 8; docs/kernels.md has the whole rule).
bool attention_fused(DType dt, int64_t head_dim);
// Attention calls (forward plus backward) this process ran on the fused flash kernels: lets a
// test assert that a model really took the fused path.
int64_t attention_flash_calls();

// ---- position schemes (ops/position.h): in place on (b, h, t, d) head rows of dtype dt ----
struct HeadRows {
  void* x = nullptr;
  int64_t b = 0, h = 0, t = 0, d = 0;
  int64_t s[3]{};  // element strides of b, h, t; the last dim is contiguous
};
// cos/sin: (n_pos, d/2) fp32 on the device.
void rope_rotate(const HeadRows& x, const float* cos, const float* sin, int64_t pos0, float sign, bool interleaved,
                 DType dt);
// Forward: q, k, a, b, cq, sq, ck, sk. Backward: q, k hold dq, dk; da, db (+=), cq, sq.
struct GoatLanesDesc {
  HeadRows q, k;
  const float *a = nullptr, *b = nullptr;
  float *da = nullptr, *db = nullptr;
  const float *cq = nullptr, *sq = nullptr, *ck = nullptr, *sk = nullptr;
  int64_t r = 0, dc = 0;
  float qscale = 1.f;
};
void goat_lanes_forward(const GoatLanesDesc& d, DType dt);
void goat_lanes_backward(const GoatLanesDesc& d, DType dt);

struct AdamWStep {
  float lr, beta1, beta2, eps, weight_decay, grad_scale, bias_c1, bias_c2;
};
// fp32 p, grad, m, v (n); p_bf16 (n) receives the bf16 working copy when non-null.
void adamw_update(float* p, const float* grad, float* m, float* v, bf16* p_bf16, int64_t n, const AdamWStep& s);
double sum_squares(const float* x, int64_t n);

}  // namespace goat::cuda
