// KV-cached decoding for a batch of one: each call runs n new tokens through every layer,
// appends their (position-transformed) keys and values to the cache, and attends over the whole
// cache. The attention kernel places query i at key position Tk − Tq + i, so the causal mask and
// the position terms line up with a full recomputation (tests/model checks equality).
#include <cstring>
#include <vector>

#include "model/gpt.h"
#include "ops/attention.h"
#include "ops/elementwise.h"
#include "ops/embedding.h"
#include "ops/layernorm.h"
#include "ops/linear.h"

namespace goat {

Gpt::KvCache Gpt::make_cache(int64_t max_len) const {
  KvCache c;
  c.max_len = max_len;
  c.buf = Arena();
  for (int l = 0; l < cfg_.n_layer; ++l) {
    c.buf.add("h." + std::to_string(l) + ".k", Shape{1, cfg_.kv_heads(), max_len, cfg_.head_dim()});
    c.buf.add("h." + std::to_string(l) + ".v", Shape{1, cfg_.kv_heads(), max_len, cfg_.head_dim()});
  }
  c.buf.allocate();
  return c;
}

void Gpt::forward_cached(KvCache& cache, const int32_t* tokens, int64_t n, float* logits_out) {
  const int64_t C = cfg_.d_model, H = cfg_.n_head, Hkv = cfg_.kv_heads(), D = cfg_.head_dim(), W = width_qkv(),
                V = cfg_.vocab_size;
  const int64_t p0 = cache.len, Tk = p0 + n;
  GOAT_CHECK(place_.device == Device::cpu, "decode", "KV-cached decoding runs on a CPU model (this one is on cuda)");
  GOAT_CHECK(n >= 1 && Tk <= cache.max_len, "decode", "{} new tokens at position {} overflow the KV cache of {}", n, p0,
             cache.max_len);
  const auto buf = [](int64_t size) { return std::vector<float>(static_cast<size_t>(size)); };
  auto x = buf(n * C), res2 = buf(n * C), ln = buf(n * C), qkv = buf(n * W), atty = buf(n * C), proj = buf(n * C),
       fch = buf(n * 4 * C), mean = buf(n), rstd = buf(n), lse = buf(H * n);
  const auto T3 = [&](std::vector<float>& v, int64_t c) { return Tensor(v.data(), Shape{1, n, c}); };
  const auto T1 = [&](std::vector<float>& v) { return Tensor(v.data(), Shape{1, n}); };
  ops::embedding_forward(T3(x, C), tokens, params_.view("wte.weight"), position_table(p0, n), 0);
  for (int l = 0; l < cfg_.n_layer; ++l) {
    const std::string pre = "h." + std::to_string(l) + ".";
    const auto P = [&](const char* s) { return params_.view(pre + s); };
    if (l > 0) ops::add_forward(T3(x, C), T3(res2, C), T3(proj, C));  // x_l = res2 + mlp out of l − 1
    ops::layernorm_forward(T3(ln, C), T1(mean), T1(rstd), T3(x, C), P("ln_1.weight"), P("ln_1.bias"));
    ops::linear_forward(T3(qkv, W), T3(ln, C), P("attn.in_proj.weight"), P("attn.in_proj.bias"));
    PositionScheme& pos = *pos_[static_cast<size_t>(l)];
    const Tensor q = head_view(qkv.data(), 1, H, n, D, W, 0);
    const Tensor k_new = head_view(qkv.data(), 1, Hkv, n, D, W, C);
    const Tensor v_new = head_view(qkv.data(), 1, Hkv, n, D, W, C + Hkv * D);
    pos.forward_qk(q, k_new, p0, p0);
    const Tensor kc = cache.buf.view(pre + "k"), vc = cache.buf.view(pre + "v");
    for (int64_t h = 0; h < Hkv; ++h)
      for (int64_t t = 0; t < n; ++t) {
        const int64_t dst = (h * cache.max_len + p0 + t) * D;
        std::memcpy(kc.f32() + dst, k_new.f32() + h * D + t * W, static_cast<size_t>(D) * sizeof(float));
        std::memcpy(vc.f32() + dst, v_new.f32() + h * D + t * W, static_cast<size_t>(D) * sizeof(float));
      }
    ops::AttentionArgs args;
    args.q = q;
    args.k = Tensor(kc.f32(), Shape{1, Hkv, Tk, D});
    args.k.strides = {Hkv * cache.max_len * D, cache.max_len * D, D, 1, 0, 0};
    args.v = Tensor(vc.f32(), Shape{1, Hkv, Tk, D});
    args.v.strides = args.k.strides;
    args.o = head_view(atty.data(), 1, H, n, D, C, 0);
    args.lse = Tensor(lse.data(), Shape{1, H, n});
    args.scale = pos.score_scale();
    args.causal = true;
    args.prior = pos.prior(1, Tk, 0);
    ops::attention_forward(args);
    ops::linear_forward(T3(proj, C), T3(atty, C), P("attn.out_proj.weight"), P("attn.out_proj.bias"));
    ops::add_forward(T3(res2, C), T3(x, C), T3(proj, C));
    ops::layernorm_forward(T3(ln, C), T1(mean), T1(rstd), T3(res2, C), P("ln_2.weight"), P("ln_2.bias"));
    ops::linear_forward(T3(fch, 4 * C), T3(ln, C), P("mlp.c_fc.weight"), P("mlp.c_fc.bias"));
    ops::gelu_forward(T3(fch, 4 * C), T3(fch, 4 * C));
    ops::linear_forward(T3(proj, C), T3(fch, 4 * C), P("mlp.c_proj.weight"), P("mlp.c_proj.bias"));
  }
  ops::add_forward(T3(x, C), T3(res2, C), T3(proj, C));
  // Only the last position's logits are needed.
  const Tensor last(x.data() + (n - 1) * C, Shape{1, C});
  const Tensor last_ln(ln.data(), Shape{1, C});
  ops::layernorm_forward(last_ln, Tensor(mean.data(), Shape{1}), Tensor(rstd.data(), Shape{1}), last,
                         params_.view("ln_f.weight"), params_.view("ln_f.bias"));
  ops::linear_forward(Tensor(logits_out, Shape{1, V}), last_ln, params_.view("wte.weight"), Tensor());
  cache.len = Tk;
}

}  // namespace goat
