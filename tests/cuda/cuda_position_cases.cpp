// Position-scheme cases of the CUDA op-case table (ops/position.h): RoPE rotation (both pairings,
// forward and inverse angle, queries and keys at different offsets) and GOAT's prior lanes forward
// and backward with grouped kv heads and a spare zero lane, all on strided head views of one fused
// (B, T, W) qkv buffer as the model uses them.
#include "cuda_case.h"
#include "model/gpt.h"
#include "ops/position.h"

namespace goat::cuda_test {

namespace {

using K = Kind;
using R = Role;

constexpr int64_t kB = 2, kT = 5;

std::vector<CudaCase> rope_cases() {
  std::vector<CudaCase> v;
  const int64_t H = 2, D = 8, C = H * D, W = 3 * C, npos = 9;
  for (bool interleaved : {false, true}) {
    CudaCase c{std::string("rope_rotate/") + (interleaved ? "interleaved" : "half"),
               {{"qkv", {kB, kT, W}, K::act, R::inout}, {"cos", {npos, D / 2}, K::f32}, {"sin", {npos, D / 2}, K::f32}},
               {},
               [=](const CaseEnv& e) {
                 ops::rope_rotate(head_view(e.t[0], H, D, 0), e.t[1], e.t[2], 4, 1.f, interleaved);
                 ops::rope_rotate(head_view(e.t[0], H, D, C), e.t[1], e.t[2], 2, -1.f, interleaved);
                 return 0.0;
               }};
    c.reduction = 2;
    v.push_back(c);
  }
  return v;
}

std::vector<CudaCase> goat_cases() {
  std::vector<CudaCase> v;
  const int64_t H = 4, Hkv = 2, D = 12, dc = 5, R = 3, C = H * D, W = C + 2 * Hkv * D;
  const float qscale = 0.45f;
  CudaCase f{"goat_lanes_forward",
             {{"qkv", {kB, kT, W}, K::act, R::inout},
              {"a", {Hkv, R}, K::f32},
              {"b", {Hkv, R}, K::f32},
              {"cq", {kT, R}, K::f32},
              {"sq", {kT, R}, K::f32},
              {"ck", {kT, R}, K::f32},
              {"sk", {kT, R}, K::f32}},
             {},
             [=](const CaseEnv& e) {
               ops::goat_lanes_forward(head_view(e.t[0], H, D, 0), head_view(e.t[0], Hkv, D, C), e.t[1], e.t[2],
                                       e.t[3], e.t[4], e.t[5], e.t[6], dc, qscale);
               return 0.0;
             }};
  f.reduction = 2;
  v.push_back(f);
  CudaCase b{"goat_lanes_backward",
             {{"dqkv", {kB, kT, W}, K::act, R::inout},
              {"da", {Hkv, R}, K::f32, R::acc},
              {"db", {Hkv, R}, K::f32, R::acc},
              {"cq", {kT, R}, K::f32},
              {"sq", {kT, R}, K::f32}},
             {},
             [=](const CaseEnv& e) {
               ops::goat_lanes_backward(head_view(e.t[0], H, D, 0), head_view(e.t[0], Hkv, D, C), e.t[1], e.t[2],
                                        e.t[3], e.t[4], dc, qscale);
               return 0.0;
             }};
  b.reduction = 2 * kB * kT * (H / Hkv);
  v.push_back(b);
  return v;
}

}  // namespace

std::vector<CudaCase> make_position_cases() {
  std::vector<CudaCase> all = rope_cases();
  for (CudaCase& c : goat_cases()) all.push_back(std::move(c));
  return all;
}

}  // namespace goat::cuda_test
