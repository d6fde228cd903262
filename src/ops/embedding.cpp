// embedding: checks shapes, token range and positions, then dispatches to
// backend/cpu/embedding.h. out/d_out (B, T, C); wte (V, C); wpe (Tmax, C) or absent.
#include "ops/embedding.h"

#include "backend/cpu/embedding.h"
#include "ops/op_args.h"

namespace goat::ops {

namespace {

constexpr const char* kOp = "embedding";

cpu::EmbeddingDims check_emb(const Tensor& out, const char* out_name, const int32_t* tokens, const Tensor& wte,
                             const char* wte_name, const Tensor& wpe, const char* wpe_name, int64_t pos_offset) {
  require_contiguous_f32(kOp, out_name, out);
  GOAT_CHECK(out.ndim() == 3, kOp, "expected {} to be (B, T, C), got {}", out_name, out.shape.str());
  const cpu::EmbeddingDims d{out.size(0), out.size(1), out.size(2), pos_offset};
  GOAT_CHECK(tokens != nullptr || d.b * d.t == 0, kOp, "tokens is null");
  if (present(wte)) {
    require_contiguous_f32(kOp, wte_name, wte);
    GOAT_CHECK(wte.ndim() == 2 && wte.size(1) == d.c, kOp, "expected {} to be (V, {}), got {}", wte_name, d.c,
               wte.shape.str());
    const int64_t v = wte.size(0);
    for (int64_t i = 0; i < d.b * d.t; ++i)
      GOAT_CHECK(tokens[i] >= 0 && tokens[i] < v, kOp, "token {} at (b={}, t={}) out of range [0, {})", tokens[i],
                 i / d.t, i % d.t, v);
  }
  if (present(wpe)) {
    require_contiguous_f32(kOp, wpe_name, wpe);
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
  require_cpu(kOp, {&out, &wte, &wpe});
  GOAT_CHECK(present(wte), kOp, "wte is required");
  const cpu::EmbeddingDims d = check_emb(out, "out", tokens, wte, "wte", wpe, "wpe", pos_offset);
  cpu::embedding_forward(d, out.f32(), tokens, wte.f32(), present(wpe) ? wpe.f32() : nullptr);
}

void embedding_backward(const Tensor& d_wte, const Tensor& d_wpe, const Tensor& d_out, const int32_t* tokens,
                        int64_t pos_offset) {
  require_cpu(kOp, {&d_wte, &d_wpe, &d_out});
  const cpu::EmbeddingDims d = check_emb(d_out, "d_out", tokens, d_wte, "d_wte", d_wpe, "d_wpe", pos_offset);
  cpu::embedding_backward(d, present(d_wte) ? d_wte.f32() : nullptr, present(d_wpe) ? d_wpe.f32() : nullptr,
                          d_out.f32(), tokens);
}

}  // namespace goat::ops
