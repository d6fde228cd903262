// The CUDA op-case table: every op the CUDA backend implements, on small shapes (the emulation
// costs ~30-500 ns per emulated thread) that still cover ragged sizes (not multiples of 32 or of
// the block size), C = 1, several rows per block loop, bias/no-bias and ignored targets.
#include "cuda_case.h"
#include "ops/adamw.h"
#include "ops/cross_entropy.h"
#include "ops/elementwise.h"
#include "ops/embedding.h"
#include "ops/layernorm.h"
#include "ops/linear.h"

namespace goat::cuda_test {

namespace {

using K = Kind;
using R = Role;

std::vector<CudaCase> elementwise_cases() {
  std::vector<CudaCase> v;
  for (int64_t n : {1, 301}) {
    v.push_back({"gelu_forward/n" + std::to_string(n),
                 {{"in", {n}, K::act, R::in, 2.f}, {"out", {n}, K::act, R::out}},
                 {},
                 [](const CaseEnv& e) { return ops::gelu_forward(e.t[1], e.t[0]), 0.0; }});
    v.push_back({"gelu_backward/n" + std::to_string(n),
                 {{"d_in", {n}, K::act, R::out}, {"d_out", {n}}, {"in", {n}, K::act, R::in, 2.f}},
                 {},
                 [](const CaseEnv& e) { return ops::gelu_backward(e.t[0], e.t[1], e.t[2]), 0.0; }});
  }
  v.push_back({"add/n1001",
               {{"a", {1001}}, {"b", {1001}}, {"out", {1001}, K::act, R::out}},
               {},
               [](const CaseEnv& e) { return ops::add_forward(e.t[2], e.t[0], e.t[1]), 0.0; }});
  return v;
}

std::vector<CudaCase> layernorm_cases() {
  std::vector<CudaCase> v;
  for (auto [n, c] : {std::pair<int64_t, int64_t>{5, 67}, {3, 1}, {2, 300}}) {
    const std::string s = "/n" + std::to_string(n) + "c" + std::to_string(c);
    CudaCase f{"layernorm_forward" + s,
               {{"in", {n, c}, K::act, R::in, 3.f},
                {"w", {c}},
                {"b", {c}},
                {"out", {n, c}, K::act, R::out},
                {"mean", {n}, K::f32, R::out},
                {"rstd", {n}, K::f32, R::out}},
               {},
               [](const CaseEnv& e) { return ops::layernorm_forward(e.t[3], e.t[4], e.t[5], e.t[0], e.t[1], e.t[2]), 0.0; }};
    f.reduction = c;
    if (c > 1) v.push_back(f);  // C = 1: x − mean = 0 exactly; only the backward is meaningful
    CudaCase r{"residual_layernorm_forward" + s,
               {{"a", {n, c}},
                {"b", {n, c}},
                {"w", {c}},
                {"bias", {c}},
                {"residual", {n, c}, K::act, R::out},
                {"out", {n, c}, K::act, R::out},
                {"mean", {n}, K::f32, R::out},
                {"rstd", {n}, K::f32, R::out}},
               {},
               [](const CaseEnv& e) {
                 return ops::residual_layernorm_forward(e.t[4], e.t[5], e.t[6], e.t[7], e.t[0], e.t[1], e.t[2], e.t[3]),
                        0.0;
               }};
    r.reduction = c;
    if (c > 1) v.push_back(r);
    CudaCase b{"layernorm_backward" + s,
               {{"d_in", {n, c}, K::act, R::acc},
                {"d_w", {c}, K::f32, R::acc},
                {"d_b", {c}, K::f32, R::acc},
                {"d_out", {n, c}},
                {"in", {n, c}, K::act, R::in, 2.f},
                {"w", {c}},
                {"mean", {n}, K::f32, R::in, 0.3f},
                {"rstd", {n}, K::f32, R::in, 1.f, true}},
               {},
               [](const CaseEnv& e) {
                 return ops::layernorm_backward(e.t[0], e.t[1], e.t[2], e.t[3], e.t[4], e.t[5], e.t[6], e.t[7]), 0.0;
               }};
    b.reduction = std::max(n, c);
    v.push_back(b);
  }
  return v;
}

std::vector<CudaCase> linear_cases() {
  std::vector<CudaCase> v;
  const int64_t n = 7, cin = 33, cout = 17;
  for (bool bias : {true, false}) {
    CudaCase f{std::string("linear_forward/") + (bias ? "bias" : "nobias"),
               {{"in", {n, cin}}, {"w", {cout, cin}, K::act, R::in, 0.2f}, {"bias", {cout}}, {"out", {n, cout}, K::act, R::out}},
               {},
               [bias](const CaseEnv& e) { return ops::linear_forward(e.t[3], e.t[0], e.t[1], bias ? e.t[2] : Tensor()), 0.0; }};
    f.reduction = cin;
    v.push_back(f);
  }
  for (bool acc : {false, true}) {
    CudaCase b{std::string("linear_backward/") + (acc ? "accumulate" : "overwrite"),
               {{"d_in", {n, cin}, K::act, acc ? R::acc : R::out},
                {"d_w", {cout, cin}, K::f32, R::acc},
                {"d_b", {cout}, K::f32, R::acc},
                {"d_out", {n, cout}},
                {"in", {n, cin}},
                {"w", {cout, cin}, K::act, R::in, 0.2f}},
               {},
               [acc](const CaseEnv& e) {
                 return ops::linear_backward(e.t[0], e.t[1], e.t[2], e.t[3], e.t[4], e.t[5], acc), 0.0;
               }};
    b.reduction = std::max(n, cout);
    v.push_back(b);
  }
  return v;
}

std::vector<CudaCase> embedding_cases() {
  std::vector<CudaCase> v;
  const int64_t b = 2, t = 5, c = 9, vocab = 13, tmax = 8, off = 2;
  const std::vector<int32_t> tokens = {0, 12, 3, 3, 7, 1, 12, 0, 5, 3};
  v.push_back({"embedding_forward/wpe",
               {{"wte", {vocab, c}}, {"wpe", {tmax, c}}, {"out", {b, t, c}, K::act, R::out}},
               tokens,
               [](const CaseEnv& e) { return ops::embedding_forward(e.t[2], e.ids, e.t[0], e.t[1], off), 0.0; }});
  v.push_back({"embedding_forward/nowpe",
               {{"wte", {vocab, c}}, {"out", {b, t, c}, K::act, R::out}},
               tokens,
               [](const CaseEnv& e) { return ops::embedding_forward(e.t[1], e.ids, e.t[0], Tensor(), 0), 0.0; }});
  CudaCase bw{"embedding_backward",
              {{"d_wte", {vocab, c}, K::f32, R::acc}, {"d_wpe", {tmax, c}, K::f32, R::acc}, {"d_out", {b, t, c}}},
              tokens,
              [](const CaseEnv& e) { return ops::embedding_backward(e.t[0], e.t[1], e.t[2], e.ids, off), 0.0; }};
  bw.reduction = b * t;
  v.push_back(bw);
  return v;
}

std::vector<CudaCase> loss_cases() {
  std::vector<CudaCase> v;
  const int64_t n = 6, vocab = 1001;
  const std::vector<int32_t> targets = {3, 1000, ops::kIgnoreIndex, 0, 517, 3};
  CudaCase f{"cross_entropy_forward",
             {{"logits", {n, vocab}, K::act, R::in, 3.f}, {"losses", {n}, K::f32, R::out}},
             targets,
             [](const CaseEnv& e) { return ops::cross_entropy_forward(e.t[1], e.t[0], e.ids); }};
  f.scalar = true;
  f.reduction = vocab;
  v.push_back(f);
  CudaCase b{"cross_entropy_backward",
             {{"logits", {n, vocab}, K::act, R::in, 3.f}, {"d_logits", {n, vocab}, K::act, R::out}},
             targets,
             [](const CaseEnv& e) { return ops::cross_entropy_backward(e.t[1], e.t[0], e.ids, 0.2f), 0.0; }};
  b.reduction = vocab;
  v.push_back(b);
  CudaCase fb{"cross_entropy_forward_backward",
              {{"logits", {n, vocab}, K::act, R::in, 3.f},
               {"losses", {n}, K::f32, R::out},
               {"d_logits", {n, vocab}, K::act, R::out}},
              targets,
              [](const CaseEnv& e) { return ops::cross_entropy_forward_backward(e.t[1], e.t[2], e.t[0], e.ids, 1.f); }};
  fb.scalar = true;
  fb.reduction = vocab;
  v.push_back(fb);
  return v;
}

std::vector<CudaCase> optim_cases() {
  std::vector<CudaCase> v;
  const int64_t n = 1000;
  CudaCase a{"adamw_update",
             {{"p", {n}, K::f32, R::inout},
              {"grad", {n}, K::f32},
              {"m", {n}, K::f32, R::inout, 0.1f},
              {"v", {n}, K::f32, R::inout, 0.01f, true}},
             {},
             [](const CaseEnv& e) {
               ops::AdamWParams hp;
               hp.lr = 1e-2f;
               hp.weight_decay = 0.1f;
               hp.step = 3;
               hp.grad_scale = 0.5f;
               return ops::adamw_update(e.t[0], e.t[1], e.t[2], e.t[3], hp), 0.0;
             }};
  v.push_back(a);
  CudaCase s{"sum_squares",
             {{"x", {5000}, K::f32}},
             {},
             [](const CaseEnv& e) { return ops::sum_squares(e.t[0]); }};
  s.scalar = true;
  s.reduction = 5000;
  v.push_back(s);
  return v;
}

}  // namespace

std::vector<CudaCase> make_cuda_cases() {
  std::vector<CudaCase> all;
  for (auto* f : {&elementwise_cases, &layernorm_cases, &linear_cases, &embedding_cases, &loss_cases, &optim_cases})
    for (CudaCase& c : f()) all.push_back(std::move(c));
  for (CudaCase& c : make_attention_cases()) all.push_back(std::move(c));
  for (CudaCase& c : make_position_cases()) all.push_back(std::move(c));
  for (CudaCase& c : make_attention_diag_cases()) all.push_back(std::move(c));
  return all;
}

}  // namespace goat::cuda_test
