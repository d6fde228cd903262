// embedding: checks shapes, token range and positions, then dispatches to
// backend/cpu/embedding.h, or backend/cuda for CUDA tensors (tokens then live on the device and
// are range-checked by the kernel, which traps). out/d_out (B, T, C); wte (V, C); wpe (Tmax, C)
// or absent. CUDA: out, d_out, wte, wpe f32 or bf16; d_wte, d_wpe f32.
#include "ops/embedding.h"

#include "backend/cpu/embedding.h"
#include "backend/cuda/cuda_ops.h"
#include "core/op_profile.h"
#include "ops/op_args.h"

namespace goat::ops {

namespace {

constexpr const char* kOp = "embedding";

cpu::EmbeddingDims check_emb(const Tensor& out, const char* out_name, const int32_t* tokens, const Tensor& wte,
                             const char* wte_name, const Tensor& wpe, const char* wpe_name, int64_t pos_offset,
                             DType out_dt, DType table_dt, bool host_tokens) {
  require_contiguous(kOp, out_name, out, out_dt);
  GOAT_CHECK(out.ndim() == 3, kOp, "expected {} to be (B, T, C), got {}", out_name, out.shape.str());
  const cpu::EmbeddingDims d{out.size(0), out.size(1), out.size(2), pos_offset};
  GOAT_CHECK(tokens != nullptr || d.b * d.t == 0, kOp, "tokens is null");
  if (present(wte)) {
    require_contiguous(kOp, wte_name, wte, table_dt);
    GOAT_CHECK(wte.ndim() == 2 && wte.size(1) == d.c, kOp, "expected {} to be (V, {}), got {}", wte_name, d.c,
               wte.shape.str());
    const int64_t v = wte.size(0);
    for (int64_t i = 0; host_tokens && i < d.b * d.t; ++i)
      GOAT_CHECK(tokens[i] >= 0 && tokens[i] < v, kOp, "token {} at (b={}, t={}) out of range [0, {})", tokens[i],
                 i / d.t, i % d.t, v);
  }
  if (present(wpe)) {
    require_contiguous(kOp, wpe_name, wpe, table_dt);
    GOAT_CHECK(wpe.ndim() == 2 && wpe.size(1) == d.c, kOp, "expected {} to be (Tmax, {}), got {}", wpe_name, d.c,
               wpe.shape.str());
    GOAT_CHECK(pos_offset >= 0 && pos_offset + d.t <= wpe.size(0), kOp,
               "positions [{}, {}) exceed the learned position table of {} rows", pos_offset, pos_offset + d.t,
               wpe.size(0));
  }
  return d;
}

}  // namespace

void embedding_forward(const Tensor& out, const int32_t* tokens, const Tensor& wte, const Tensor& wpe,
                       int64_t pos_offset) {
  const OpTimer timer("embedding.forward");
  const bool cuda = on_cuda(kOp, {&out, &wte, &wpe});
  const DType act = act_dtype(out, cuda);
  GOAT_CHECK(present(wte), kOp, "wte is required");
  const cpu::EmbeddingDims d = check_emb(out, "out", tokens, wte, "wte", wpe, "wpe", pos_offset, act, act, !cuda);
  if (cuda)
    return cuda::embedding_forward(out.data, tokens, wte.data, present(wpe) ? wpe.data : nullptr, d.b, d.t, d.c,
                                   wte.size(0), pos_offset, act);
  cpu::embedding_forward(d, out.f32(), tokens, wte.f32(), present(wpe) ? wpe.f32() : nullptr);
}

void embedding_backward(const Tensor& d_wte, const Tensor& d_wpe, const Tensor& d_out, const int32_t* tokens,
                        int64_t pos_offset) {
  const OpTimer timer("embedding.backward");
  const bool cuda = on_cuda(kOp, {&d_wte, &d_wpe, &d_out});
  const cpu::EmbeddingDims d = check_emb(d_out, "d_out", tokens, d_wte, "d_wte", d_wpe, "d_wpe", pos_offset,
                                         act_dtype(d_out, cuda), DType::f32, !cuda);
  if (cuda)
    return cuda::embedding_backward(present(d_wte) ? d_wte.f32() : nullptr, present(d_wpe) ? d_wpe.f32() : nullptr,
                                    d_out.data, tokens, d.b, d.t, d.c, present(d_wte) ? d_wte.size(0) : 0, pos_offset,
                                    d_out.dtype);
  cpu::embedding_backward(d, present(d_wte) ? d_wte.f32() : nullptr, present(d_wpe) ? d_wpe.f32() : nullptr,
                          d_out.f32(), tokens);
}

}  // namespace goat::ops
