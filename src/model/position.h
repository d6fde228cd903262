// The attention-side position/prior plug-in. Each attention layer owns one PositionScheme; the
// model calls it around the attention kernel and never branches on the position type:
//
//   qkv projection → forward_qk (RoPE rotates; GOAT writes its prior lanes and content scale)
//                  → attention_forward(q, k, v, scale = score_scale(), prior = prior(...))
//   backward: attention_backward → backward_prior (d_key_bias, d_slope → parameter grads)
//                                → backward_qk (in place on dq, dk: the transpose of forward_qk)
//
// q: (B, H, Tq, D) and k: (B, Hkv, Tk, D) are strided views into the fused qkv buffer, modified in
// place. Positions are absolute: row i of q sits at q_pos0 + i, key j at k_pos0 + j (KV cache).
// Embedding-side variants (learned, sinusoidal) live in the model's embedding; their attention
// scheme is the plain one. Schemes: none/learned/sinusoidal (plain), rope, alibi, goat.
//
// Device: a model on CUDA calls set_device(cuda, dtype) once; q/k and the parameter arenas are then
// device memory, prior() and prior_grad_buffers() return device pointers, and the small prior
// vectors (GOAT's key bias MLP, slopes) are computed on the host and copied (position_goat.cpp).
#pragma once

#include <memory>
#include <string>

#include "core/arena.h"
#include "core/philox.h"
#include "core/tensor.h"
#include "ops/attention.h"

namespace goat {

struct AttentionShape {
  int64_t n_head = 0, n_kv_head = 0, head_dim = 0;
  int64_t max_batch = 0, max_seq = 0;  // sizes scratch buffers (key bias) for the largest call
};

class PositionScheme {
 public:
  virtual ~PositionScheme() = default;

  void set_device(Device d, DType dt = DType::f32) { device_ = d, dtype_ = dt; }
  Device device() const { return device_; }

  // Declares this layer's parameters in `params` under `prefix` (e.g. "h.3.attn."), using the
  // export names of docs/export.md. Parameters declared here get no weight decay.
  virtual void declare(Arena& params, const std::string& prefix) { (void)params, (void)prefix; }
  // Initialises the declared parameters once the arena is allocated.
  virtual void init(const Arena& params, const Rng& rng) { (void)params, (void)rng; }

  // Softmax scale applied to <q, k> by the attention kernel.
  virtual float score_scale() const = 0;
  // Leading q/k dims that are content (the rest are prior lanes): AttentionDiagnostics::content_dim
  // for the kernel's KL(p‖prior) and ω. 0 means every dim.
  virtual int64_t content_dim() const { return 0; }

  // In place on q (B, H, Tq, D) and k (B, Hkv, Tk, D).
  virtual void forward_qk(const Tensor& q, const Tensor& k, int64_t q_pos0, int64_t k_pos0) {
    (void)q, (void)k, (void)q_pos0, (void)k_pos0;
  }
  // The compact prior for the kernel (slope, key bias for B × Tk keys starting at k_pos0).
  virtual ops::AttentionPrior prior(int64_t batch, int64_t tk, int64_t k_pos0) {
    (void)batch, (void)tk;
    ops::AttentionPrior p;
    p.pos_offset = k_pos0;
    return p;
  }
  // Where the kernel should write d_key_bias / d_slope (nullptr when the prior has none).
  virtual ops::AttentionGrads prior_grad_buffers() { return {}; }
  // Turns d_key_bias / d_slope (filled by attention_backward) into parameter gradients (+=).
  virtual void backward_prior(const Arena& params, const Arena& grads, int64_t batch, int64_t tk, int64_t k_pos0) {
    (void)params, (void)grads, (void)batch, (void)tk, (void)k_pos0;
  }
  // In place on dq (B, H, Tq, D), dk (B, Hkv, Tk, D): the transpose of forward_qk; accumulates
  // parameter gradients (GOAT's a, b) into `grads` and zeroes gradients of replaced lanes.
  virtual void backward_qk(const Tensor& dq, const Tensor& dk, int64_t q_pos0, int64_t k_pos0, const Arena& grads) {
    (void)dq, (void)dk, (void)q_pos0, (void)k_pos0, (void)grads;
  }
  // Whether backward_qk reads or writes dq, dk (else they go from the attention straight to the
  // qkv projection's backward: the CPU bf16 model then has the attention store them in bf16).
  virtual bool has_backward_qk() const { return false; }

 protected:
  Device device_ = Device::cpu;
  DType dtype_ = DType::f32;  // of q/k on the device
};

}  // namespace goat
