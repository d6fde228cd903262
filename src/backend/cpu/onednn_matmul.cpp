// See onednn_matmul.h.
#include "backend/cpu/onednn_matmul.h"

#include <unordered_map>

namespace goat::cpu {

using dnnl::memory;

OnednnMatmul make_onednn_matmul(const dnnl::engine& eng, const memory::desc& a, const memory::desc& b,
                                const memory::desc& c, const memory::desc& bias, float alpha, float beta) {
  const bool with_bias = !bias.is_zero();
  dnnl::primitive_attr attr;
  if (alpha != 1.f) attr.set_output_scales(0, {alpha});
  if (beta != 0.f) {
    dnnl::post_ops po;
    po.append_sum(beta);
    attr.set_post_ops(po);
  }
  const dnnl::matmul::primitive_desc pd(with_bias ? dnnl::matmul::desc(a, b, bias, c) : dnnl::matmul::desc(a, b, c),
                                        attr, eng);
  return OnednnMatmul{dnnl::matmul(pd),        memory(a, eng, nullptr),
                      memory(b, eng, nullptr), memory(c, eng, nullptr),
                      with_bias ? memory(bias, eng, nullptr) : memory(), pd.impl_info_str()};
}

void run_onednn_matmul(OnednnMatmul& p, dnnl::stream& stream, const void* a, const void* b, void* c,
                       const float* bias) {
  p.a.set_data_handle(const_cast<void*>(a));
  p.b.set_data_handle(const_cast<void*>(b));
  p.c.set_data_handle(c);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, p.a}, {DNNL_ARG_WEIGHTS, p.b}, {DNNL_ARG_DST, p.c}};
  if (bias) {
    p.bias.set_data_handle(const_cast<float*>(bias));
    args.emplace(DNNL_ARG_BIAS, p.bias);
  }
  p.mm.execute(stream, args);
  stream.wait();
}

}  // namespace goat::cpu
